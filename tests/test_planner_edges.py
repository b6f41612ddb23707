"""The planner's failure paths and boundaries, pinned: giving up on a load that never
finishes, a fatal answer just after a window's close, the poll interval, the poll gap
that separates an exact cold start from a bounded one, the fleet prior's threshold, what
each event says, and leases and overrides merged into one hold.

Each case is a promise a user would notice breaking (a model stuck "warming" forever, a
whole day's window skipped, a lead learned from the wrong samples, an event without its
reason); mutation testing (``make mutate``) found them unpinned."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.leads import FleetLoads
from chalicelib.planner import (
    FATAL,
    FLEET_MIN_SAMPLES,
    MODEL_ERROR,
    NOT_READY,
    READY,
    THROTTLED,
    Action,
    CallResult,
    apply_outcome,
    fleet_prior,
    next_call,
    prewarm_lead,
)
from chalicelib.records import Lease, ModelConfig, ModelState, Override, Pending, iso
from chalicelib.settings import Settings
from chalicelib.timeline import MAX_MERGES, PLAN_HORIZON, next_hold

UTC = timezone.utc
SETTINGS = Settings(table_name="t", queue_url="q")
# 09:00-18:00 UTC on weekdays, without the billing-aware hold-back: every call may succeed.
OFFICE = ModelConfig(
    name="m", model_arn="arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl",
    timezone="UTC", windows=[{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}],
    billing_aware_prewarm=False,
)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    # March 2026: Monday the 9th .. Friday the 13th.
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def poll(at: datetime, attempt: int = 0) -> Pending:
    return Pending("p", "poll", at, attempt)


def answer(state: ModelState, result: CallResult, called_at: datetime, seconds: float = 0.5,
           kind: str = "poll", config: ModelConfig = OFFICE):
    return apply_outcome(config, state, Pending("a", kind, called_at), result, called_at,
                         called_at + timedelta(seconds=seconds), SETTINGS)


WARMING = ModelState(status="warming", warming_since=utc(9, 9, 0), last_call_at=utc(9, 9, 0))
NOT_READY_429 = CallResult(NOT_READY, "ModelNotReadyException", "not ready", 20)


# -- giving up on a load that never finishes ---------------------------------------------

def test_a_load_still_running_at_the_limit_is_polled_again():
    limit = SETTINGS.max_cold_start_seconds
    called = utc(9, 9, 0) + timedelta(seconds=limit - 1)
    decision = answer(replace(WARMING, last_call_at=called - timedelta(seconds=10)), NOT_READY_429, called,
                      seconds=1)
    assert decision.state.status == "warming"
    assert decision.follow_up is not None and decision.follow_up.kind == "poll"


def test_a_load_past_the_limit_is_an_error_that_says_so():
    limit = SETTINGS.max_cold_start_seconds
    called = utc(9, 9, 0) + timedelta(seconds=limit)
    decision = answer(replace(WARMING, last_call_at=called - timedelta(seconds=10)), NOT_READY_429, called,
                      seconds=1)
    state = decision.state
    assert (state.status, state.error_kind, state.warming_since) == ("error", "transient", None)
    assert f"within {limit} s" in state.error
    assert decision.follow_up is None  # no poll chain running on after giving up
    errors = [e for e in decision.events if e.kind == "error"]
    assert [e.detail["reason"] for e in errors] == [state.error]
    # Tried again at the next keep-alive slot, not in a hot loop, and not a day later.
    action = next_call(OFFICE, state, state.error_at, SETTINGS)
    assert action.at == state.error_at + timedelta(minutes=OFFICE.keepalive_minutes)


# -- the poll interval and the gap that makes a cold start exact ----------------------------

def test_not_ready_is_polled_after_exactly_the_poll_interval():
    decision = answer(ModelState(), NOT_READY_429, utc(9, 9, 0), seconds=0.2)
    assert decision.follow_up.at == utc(9, 9, 0) + timedelta(seconds=0.2 + SETTINGS.poll_seconds)
    assert decision.state.warming_since == utc(9, 9, 0)
    assert [e.kind for e in decision.events] == ["call", "cold"]


GAP = timedelta(seconds=SETTINGS.poll_seconds * 1.5 + 2)


@pytest.mark.parametrize("gap, exact", [(GAP, True), (GAP + timedelta(seconds=1), False)])
def test_a_cold_start_is_exact_only_when_the_last_not_ready_was_a_poll_ago(gap, exact):
    last = utc(9, 9, 1)
    state = replace(WARMING, last_call_at=last)
    decision = answer(state, CallResult(READY, latency_ms=300), last + gap, seconds=0.3)
    started = [e.detail for e in decision.events if e.kind == "cold_start"]
    assert len(started) == 1
    assert started[0]["exact"] is exact
    if exact:
        assert decision.state.cold_starts[-1] == pytest.approx((last + gap - utc(9, 9, 0)).total_seconds() + 0.3)
        assert "after_seconds" not in started[0]
    else:
        # Ready somewhere after the last "not ready": a bound, not a sample.
        assert started[0]["after_seconds"] == pytest.approx((last - utc(9, 9, 0)).total_seconds())
        assert decision.state.cold_start_bounds


# -- a fatal answer at a window's edge ------------------------------------------------------

@pytest.mark.parametrize("failed_at", [utc(9, 17, 59, 59), utc(9, 18, 0, 0), utc(9, 18, 0, 1), utc(9, 18, 30)])
def test_a_fatal_answer_around_the_close_skips_no_later_window(failed_at):
    decision = answer(replace(ModelState(), status="warm", last_success_at=utc(9, 17, 40)),
                      CallResult(FATAL, "AccessDeniedException", "denied"), failed_at, seconds=0, kind="keepalive")
    state = decision.state
    assert (state.status, state.error_kind) == ("error", "fatal")
    assert state.error == "AccessDeniedException: denied"
    action = next_call(OFFICE, state, failed_at + timedelta(seconds=1), SETTINGS)
    lead = prewarm_lead(OFFICE, state, SETTINGS)
    assert (action.kind, action.at) == ("prewarm", utc(10, 9) - lead)


# -- what each event says ---------------------------------------------------------------------

def test_the_call_event_says_what_was_called_and_what_came_back():
    decision = answer(ModelState(), CallResult(THROTTLED, "ThrottlingException", "slow down", 42),
                      utc(9, 9, 0), kind="warmup")
    call = decision.events[0]
    assert call.kind == "call"
    assert {k: call.detail[k] for k in ("action", "attempt", "outcome", "code", "latency_ms")} == {
        "action": "warmup", "attempt": 0, "outcome": THROTTLED, "code": "ThrottlingException", "latency_ms": 42}
    assert decision.follow_up.kind == "warmup" and decision.follow_up.attempt == 1


def test_a_model_error_event_carries_its_reason_once():
    warm = ModelState(status="warm", last_success_at=utc(9, 9, 0), warm_since=utc(9, 9, 0))
    failing = CallResult(MODEL_ERROR, "ModelErrorException", "container crashed", 80)
    first = answer(warm, failing, utc(9, 9, 14), kind="keepalive")
    told = [e.detail for e in first.events if e.kind == "model_error"]
    assert told == [{"reason": "ModelErrorException: container crashed"}]
    assert first.state.error == "ModelErrorException: container crashed"
    assert first.state.error_kind == MODEL_ERROR
    again = answer(first.state, failing, utc(9, 9, 28), kind="keepalive")
    assert not [e for e in again.events if e.kind == "model_error"]  # told once, not every keep-alive


# -- the fleet prior's threshold ------------------------------------------------------------

@pytest.mark.parametrize("count, used", [(FLEET_MIN_SAMPLES - 1, False), (FLEET_MIN_SAMPLES, True)])
def test_the_fleet_gives_a_prior_from_its_tenth_cold_start(count, used):
    import math
    loads = {"all": FleetLoads(count, count * math.log(120), count * math.log(120) ** 2 + 0.01 * count)}
    prior = fleet_prior(OFFICE, ModelState(), loads, SETTINGS)
    if used:
        assert prior is not None and prior.median_seconds == pytest.approx(120, rel=0.01)
        assert f"{count} cold starts" in prior.source
    else:
        assert prior is None


def test_a_models_size_group_wins_once_it_has_enough():
    import math
    loads = {"all": FleetLoads(50, 50 * math.log(60), 50 * math.log(60) ** 2 + 1),
             "cmu2": FleetLoads(FLEET_MIN_SAMPLES, FLEET_MIN_SAMPLES * math.log(300),
                                FLEET_MIN_SAMPLES * math.log(300) ** 2 + 0.1)}
    prior = fleet_prior(replace(OFFICE, custom_model_units=2), ModelState(), loads, SETTINGS)
    assert prior.median_seconds == pytest.approx(300, rel=0.01)
    assert "cmu2" in prior.source


# -- leases and overrides merged into one hold ----------------------------------------------

def test_overlapping_leases_and_a_warm_override_are_one_hold():
    # Saturday: no window. Lease 10:00-11:00, override 10:30-12:00, lease 11:50-12:30.
    sat = datetime(2026, 3, 14, tzinfo=UTC)
    state = ModelState(leases=(
        Lease("a", sat.replace(hour=10), sat.replace(hour=11), "job-a"),
        Lease("b", sat.replace(hour=11, minute=50), sat.replace(hour=12, minute=30), "job-b"),
    ), override=Override("warm", sat.replace(hour=12), sat.replace(hour=10, minute=30)))
    hold = next_hold(OFFICE, state, sat.replace(hour=9), timedelta(minutes=3))
    assert (hold.start, hold.open, hold.close) == (sat.replace(hour=10), sat.replace(hour=10), sat.replace(hour=12, minute=30))
    # Kept warm across the joins: no gap longer than the keep-alive from 10:00 to 12:30.
    at, last = sat.replace(hour=10), None
    calls = []
    model = ModelState(leases=state.leases, override=state.override)
    while True:
        action = next_call(OFFICE, model, at, SETTINGS)
        if action is None or action.at >= sat.replace(hour=12, minute=30):
            break
        calls.append(action.at)
        model = replace(model, status="warm", last_success_at=action.at)
        at = action.at + timedelta(seconds=1)
    assert calls[0] == sat.replace(hour=10)
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert max(gaps) <= timedelta(minutes=OFFICE.keepalive_minutes)
    # The last call still covers the close.
    assert calls[-1] + timedelta(minutes=OFFICE.keepalive_minutes) >= sat.replace(hour=12, minute=30)


def test_a_lease_apart_from_the_next_is_its_own_hold():
    sat = datetime(2026, 3, 14, tzinfo=UTC)
    state = ModelState(leases=(
        Lease("a", sat.replace(hour=10), sat.replace(hour=11), None),
        Lease("b", sat.replace(hour=11, minute=1), sat.replace(hour=12), None),
    ))
    hold = next_hold(OFFICE, state, sat.replace(hour=9), timedelta(minutes=3))
    assert (hold.start, hold.close) == (sat.replace(hour=10), sat.replace(hour=11))
    after = next_hold(OFFICE, state, sat.replace(hour=11), timedelta(minutes=3))
    assert (after.start, after.close) == (sat.replace(hour=11, minute=1), sat.replace(hour=12))


def test_a_cold_override_holds_nothing_until_it_ends_then_the_window_resumes():
    state = ModelState(override=Override("cold", utc(9, 12), utc(9, 8)))
    hold = next_hold(OFFICE, state, utc(9, 8, 30), timedelta(minutes=3))
    assert (hold.start, hold.open, hold.close) == (utc(9, 12), utc(9, 12), utc(9, 18))


SAT = datetime(2026, 3, 14, tzinfo=UTC)  # no window all weekend
LEAD = timedelta(minutes=3)


def sat(hour: int, minute: int = 0) -> datetime:
    return SAT.replace(hour=hour, minute=minute)


def leases(*spans: tuple[datetime, datetime]) -> ModelState:
    return ModelState(leases=tuple(Lease(f"l{i}", start, end, None) for i, (start, end) in enumerate(spans)))


@pytest.mark.parametrize("state, kind", [
    (leases((sat(10), sat(11))), "lease"),
    (ModelState(override=Override("warm", sat(11), sat(10))), "override"),
    (ModelState(), "window"),
])
def test_a_hold_says_what_asks_for_it(state, kind):
    # The fleet page and the probe tell the operator why a model is held from this.
    hold = next_hold(OFFICE, state, sat(9), LEAD)
    assert hold.source == kind


def test_a_short_lease_inside_a_longer_one_does_not_end_the_hold_early():
    hold = next_hold(OFFICE, leases((sat(10), sat(12)), (sat(10, 30), sat(11))), sat(9), LEAD)
    assert (hold.start, hold.close, hold.source, hold.cut) == (sat(10), sat(12), "lease", False)


@pytest.mark.parametrize("spans, close", [
    # The second starts the instant the first ends.
    (((sat(10), sat(11)), (sat(11), sat(12))), sat(12)),
    # The third touches only the end that merging the second made.
    (((sat(10), sat(11)), (sat(10, 30), sat(12)), (sat(12), sat(13))), sat(13)),
])
def test_holds_that_only_touch_are_one_hold(spans, close):
    hold = next_hold(OFFICE, leases(*spans), sat(9), LEAD)
    assert (hold.start, hold.close, hold.cut) == (sat(10), close, False)


def test_a_lease_ending_as_the_next_windows_pre_warm_starts_runs_into_that_window():
    # Monday's window, a lease from 17:00 to the instant Tuesday's pre-warm starts: one hold.
    state = leases((utc(9, 17), utc(10, 9) - LEAD))
    hold = next_hold(OFFICE, state, utc(9, 12), LEAD)
    assert (hold.start, hold.close, hold.cut) == (utc(9, 9) - LEAD, utc(10, 18), False)


def test_a_lease_taken_as_a_pre_warm_starts_holds_the_model_open_from_then():
    hold = next_hold(OFFICE, leases((utc(9, 9) - LEAD, utc(9, 10))), utc(9, 8), LEAD)
    assert (hold.start, hold.open, hold.close, hold.source) == (utc(9, 9) - LEAD, utc(9, 9) - LEAD, utc(9, 18), "lease")


@pytest.mark.parametrize("kind", ["cold", "warm"])
def test_an_override_is_over_at_its_end(kind):
    # Set at 07:00 until 08:58, inside Monday's pre-warm (08:57): at 08:58 it shapes nothing.
    end = utc(9, 8, 58)
    state = ModelState(override=Override(kind, end, utc(9, 7)))
    assert next_hold(OFFICE, state, end, LEAD) == next_hold(OFFICE, ModelState(), end, LEAD)


@pytest.mark.parametrize("lease_end, close, cut", [
    (utc(10, 12), utc(10, 18), False),  # exactly a day ahead: followed into Tuesday's window
    (utc(10, 12, 0, 1), utc(10, 12, 0, 1), True),  # past it: reported cut where merging stopped
])
def test_a_hold_is_followed_a_day_ahead_and_cut_past_that(lease_end, close, cut):
    # Asked at Monday noon: Monday's window and a lease running into Tuesday's window.
    state = leases((utc(9, 12), lease_end))
    hold = next_hold(OFFICE, state, utc(9, 12), LEAD)
    assert (hold.start, hold.close, hold.cut) == (utc(9, 9) - LEAD, close, cut)
    # Asked again later, it goes on to Tuesday's close: no gap where it was cut.
    later = next_hold(OFFICE, state, utc(10, 11), LEAD)
    assert (later.start, later.close, later.cut) == (utc(9, 12), utc(10, 18), False)


def test_a_chain_longer_than_the_merge_limit_is_cut_and_goes_on_when_asked_again():
    # Back-to-back 5-minute leases, more than MAX_MERGES of them, all within the day planned.
    count, step = MAX_MERGES + 50, timedelta(minutes=5)
    assert count * step < PLAN_HORIZON
    state = leases(*((sat(0) + i * step, sat(0) + (i + 1) * step) for i in range(count)))
    hold = next_hold(OFFICE, state, sat(0), LEAD)
    assert hold.cut and sat(0) < hold.close < sat(0) + count * step
    rest = next_hold(OFFICE, state, hold.close, LEAD)
    assert (rest.start, rest.close, rest.cut) == (hold.close, sat(0) + count * step, False)


def test_holds_refuse_a_naive_instant_and_name_it():
    with pytest.raises(ValueError, match="^at must be timezone-aware"):
        next_hold(OFFICE, ModelState(), datetime(2026, 3, 9, 9), LEAD)


# -- what a cold or a warm answer teaches (learn_from_unexpected_cold, learn_from_warm) ------

LAST = utc(9, 10)  # the last success of a model believed warm (keep-alive 14, release 15)
ODD_GAP = timedelta(seconds=750, microseconds=123400)  # 12.502057 min: rounding shows


def after_gap(gap: timedelta, outcome: CallResult, **learned):
    state = ModelState(status="warm", last_success_at=LAST, warm_since=LAST, **learned)
    return answer(state, outcome, LAST + gap, seconds=0.3, kind="keepalive")


@pytest.mark.parametrize("gap, learned, keepalive, release, found, proven", [
    # A third of the gap, floored; the release assumed is the gap, in whole minutes.
    (ODD_GAP, {}, 4, 12, 12.502, None),
    # A gap of 90 s: a keep-alive of a minute at the least, a release a minute beyond it.
    (timedelta(seconds=90), {}, 1, 2, 1.5, None),
    # Already down to 3 minutes: always below what was in force, whatever the gap says.
    (timedelta(minutes=14), {"learned_keepalive_minutes": 3}, 2, 14, 14.0, None),
    # A shorter gap found cold earlier stands; a gap proven safe before does not: a warm
    # answer after it may have been another caller's doing, and the cold start is newer.
    (timedelta(minutes=12.5), {"release_proven_minutes": 5.0, "release_found_cold_minutes": 10.0}, 4, 12, 10.0, None),
    # The very gap once proven safe is now found cold: that proof no longer stands.
    (timedelta(minutes=12.5), {"release_proven_minutes": 12.5}, 4, 12, 12.5, None),
])
def test_an_unexpected_cold_start_teaches_the_keepalive_and_the_release(gap, learned, keepalive, release, found,
                                                                       proven):
    decision = after_gap(gap, NOT_READY_429, **learned)
    state = decision.state
    assert (state.learned_keepalive_minutes, state.learned_release_minutes) == (keepalive, release)
    assert (state.release_found_cold_minutes, state.release_proven_minutes) == (found, proven)
    (told,) = [e.detail for e in decision.events if e.kind == "unexpected_cold"]
    assert told == {"gap_seconds": round(gap.total_seconds(), 3),
                    "keepalive_minutes_before": learned.get("learned_keepalive_minutes", OFFICE.keepalive_minutes),
                    "keepalive_minutes_after": keepalive, "release_minutes_assumed": release}
    assert state.keepalive_reason.endswith(f"found the model cold at {iso(LAST + gap)}")


WARM_ANSWER = CallResult(READY, latency_ms=300)


@pytest.mark.parametrize("gap, learned, proven, found", [
    (ODD_GAP, {}, 12.502, None),  # the idle gap, to the thousandth of a minute
    (timedelta(seconds=30), {}, 0.5, None),  # a short gap proves only itself
    (timedelta(minutes=30), {}, 30.0, None),  # twice the release: still proof
    (timedelta(minutes=30, seconds=1), {}, None, None),  # past that: more likely other callers' copy
    (timedelta(minutes=12.5), {"release_found_cold_minutes": 20.0}, 12.5, 20.0),  # a longer gap found cold stands
    (timedelta(minutes=12.5), {"release_found_cold_minutes": 12.5}, 12.5, None),  # contradicted: forgotten
])
def test_a_warm_answer_after_an_idle_gap_proves_that_gap(gap, learned, proven, found):
    state = after_gap(gap, WARM_ANSWER, **learned).state
    assert (state.release_proven_minutes, state.release_found_cold_minutes) == (proven, found)


def test_a_shortened_keepalive_grows_to_a_minute_inside_the_gap_proven():
    state = after_gap(timedelta(minutes=12.5), WARM_ANSWER, learned_keepalive_minutes=4,
                      learned_release_minutes=5).state
    assert (state.learned_keepalive_minutes, state.learned_release_minutes) == (11, 12)
    assert state.keepalive_reason.startswith("grown from 4 to 11 min")


# -- a held-back check's unpolled wait -----------------------------------------------------
# A billing-aware model's load trigger at 08:50 before a 09:00 open; its check goes out
# after an unpolled wait. Resolution: a wait of at most 1.5 poll intervals + 2 s (17 s) is
# polled, not a wait.
AWARE = replace(OFFICE, billing_aware_prewarm=True)
TRIGGER = utc(9, 8, 50)
RESOLUTION = SETTINGS.poll_seconds * 1.5 + 2


def _after_trigger(state: ModelState = ModelState()) -> ModelState:
    return answer(state, NOT_READY_429, TRIGGER, seconds=0, kind="prewarm", config=AWARE).state


@pytest.mark.parametrize("wait, counted", [(RESOLUTION, False), (RESOLUTION + 0.5, True)])
def test_a_check_is_an_unpolled_wait_only_past_a_polls_resolution(wait, counted):
    check = TRIGGER + timedelta(seconds=wait)
    loading = answer(_after_trigger(), NOT_READY_429, check, seconds=0, kind="ready_check", config=AWARE).state
    assert loading.warming_unpolled_seconds == (wait if counted else None)
    done = answer(loading, CallResult(READY), check + timedelta(seconds=10), seconds=0, config=AWARE).state
    assert done.warming_unpolled_seconds is None  # nothing of the wait outlives its cold start
    seconds = wait + 10
    assert (done.cold_starts, done.cold_starts_unpolled) == (((), ((seconds, wait),)) if counted else
                                                             ((seconds,), ()))


def test_a_late_poll_is_no_checks_wait():
    # A poll whose message was lost comes two minutes late: the measurement goes on (a
    # bound at its end), but only a held-back check's silence is an unpolled wait.
    loading = answer(_after_trigger(), NOT_READY_429, TRIGGER + timedelta(seconds=10), seconds=0, config=AWARE).state
    late = TRIGGER + timedelta(minutes=2, seconds=10)
    still = answer(loading, NOT_READY_429, late, seconds=0, config=AWARE).state
    assert still.status == "warming" and still.warming_unpolled_seconds is None
    done = answer(still, CallResult(READY), late + timedelta(seconds=10), seconds=0, config=AWARE).state
    assert done.cold_starts == (140.0,) and done.cold_starts_unpolled == ()


def _classified(state: ModelState, wait: float):
    from chalicelib.planner import load_samples

    return load_samples(AWARE, replace(state, cold_starts_unpolled=((900.0, wait),)), SETTINGS)


def test_a_timed_wait_turns_a_bound_exactly_past_a_fast_load_and_the_idle_trusted():
    from chalicelib.planner import fast_load

    fast = fast_load(ModelState(), SETTINGS).total_seconds()
    exact, bound = ((900.0,), ()), ((), ((0.0, 900.0),))
    # Nothing known of the release: the configured one is trusted, however long the wait.
    assert _classified(ModelState(), 3600.0) == exact
    # A keep-alive learned at 3 minutes (a gap of 20 found cold): trusted 3 min + resolution.
    learned = ModelState(learned_keepalive_minutes=3, learned_release_minutes=20, release_found_cold_minutes=20.0)
    edge = fast + 3 * 60 + RESOLUTION
    assert _classified(learned, edge) == exact and _classified(learned, edge + 0.01) == bound
    # A copy found gone after 5 minutes, the keep-alive still 14: the gap less resolution.
    found = ModelState(release_found_cold_minutes=5.0)
    edge = fast + 5 * 60 - RESOLUTION
    assert _classified(found, edge) == exact and _classified(found, edge + 0.01) == bound


def test_a_check_held_until_a_load_that_followed_a_wait_past_a_known_release_ends_is_a_bound():
    # Held calls: the check itself is held until a load ends. After a wait a copy of this
    # model may not have lived through (found gone after 3 idle minutes), the load it sat
    # through may be its own: a bound, never an exact sample.
    known = ModelState(release_found_cold_minutes=3.0)
    check = utc(9, 8, 59)
    held = answer(_after_trigger(known), CallResult(READY), check, seconds=40, kind="ready_check", config=AWARE)
    (told,) = [e.detail for e in held.events if e.kind == "cold_start"]
    assert told["exact"] is False and held.state.cold_starts == () and held.state.cold_starts_unpolled == ()
    assert held.state.cold_start_bounds == ((0.0, (check - TRIGGER).total_seconds() + 40),)


def test_a_late_trigger_holds_its_check_back_from_its_own_time():
    # A learned keep-alive of 3 minutes: the trigger's copy must not idle past it before the
    # check. A trigger that went out 4 minutes late (throttled, retried) is the load's
    # start, not the plan's.
    from chalicelib.planner import fast_load

    state = ModelState(learned_keepalive_minutes=3, learned_release_minutes=4, release_found_cold_minutes=4.0)
    planned = next_call(AWARE, state, utc(9, 7), SETTINGS).at
    late = planned + timedelta(minutes=4)
    decision = answer(state, NOT_READY_429, late, seconds=0, kind="prewarm", config=AWARE)
    assert decision.follow_up.kind == "ready_check"
    assert decision.follow_up.at == late + fast_load(state, SETTINGS) + timedelta(minutes=3)


def test_a_probes_load_is_polled_not_held_back():
    from chalicelib.probe import RUNNING, Probe

    probing = ModelState(probe=Probe(status=RUNNING, started_at=utc(9, 19), gaps_minutes=(4, 8)))
    decision = answer(probing, NOT_READY_429, utc(9, 20), seconds=0, kind="probe", config=AWARE)
    assert decision.follow_up.kind == "poll" and decision.state.ready_check_at is None


# -- what a warm answer teaches, at its edges ---------------------------------------------
def test_a_gap_proven_that_grows_the_keepalive_by_nothing_changes_nothing():
    state = replace(after_gap(timedelta(minutes=5.5), WARM_ANSWER, learned_keepalive_minutes=4,
                              learned_release_minutes=6, keepalive_reason="as it was").state)
    assert (state.learned_keepalive_minutes, state.learned_release_minutes) == (4, 6)
    assert state.keepalive_reason == "as it was"


def test_growing_back_to_the_configured_keepalive_forgets_a_longer_gap_found_cold_too():
    gap = timedelta(minutes=16)
    state = after_gap(gap, WARM_ANSWER, learned_keepalive_minutes=4, learned_release_minutes=5,
                      release_found_cold_minutes=25.0).state
    assert (state.learned_keepalive_minutes, state.learned_release_minutes, state.release_found_cold_minutes) == \
        (None, None, None)
    assert state.keepalive_reason == f"back to 14 min: a copy answered warm after 16.0 idle min at {iso(LAST + gap)}"


def test_growth_says_when_and_forgets_a_release_no_shorter_than_configured():
    gap = timedelta(minutes=9)
    grown = after_gap(gap, WARM_ANSWER, learned_keepalive_minutes=4, learned_release_minutes=5).state
    assert grown.keepalive_reason == f"grown from 4 to 8 min: a copy answered warm after 9.0 idle min at {iso(LAST + gap)}"
    # A release learned at the configured 15 (a gap of 15.5 found cold) says nothing more.
    same = after_gap(gap, WARM_ANSWER, learned_keepalive_minutes=4, learned_release_minutes=15).state
    assert same.learned_keepalive_minutes == 8 and same.learned_release_minutes is None


# -- a model's size and warm latency --------------------------------------------------------
def test_a_models_size_comes_from_bedrock_unless_set_and_groups_it():
    from chalicelib.planner import load_groups, model_cmus
    from chalicelib.records import ImportedModel

    told = ModelState(imported=ImportedModel(custom_model_units=3))
    assert model_cmus(OFFICE, told) == 3 and load_groups(OFFICE, told) == ["all", "cmu3"]
    assert model_cmus(replace(OFFICE, custom_model_units=2), told) == 2
    assert model_cmus(OFFICE, ModelState()) is None and load_groups(OFFICE, ModelState()) == ["all"]


def test_the_warm_latency_is_the_median_and_95th_percentile_of_the_warm_answers():
    from chalicelib.planner import cold_answer_seconds, warm_latency_ms

    state = ModelState(warm_latencies_ms=tuple(range(100, 2100, 100)))  # 100 .. 2000 ms
    assert warm_latency_ms(state) == (1000, 1900)  # nearest rank: the 10th and the 19th of 20
    assert cold_answer_seconds(state) == pytest.approx(7.6)  # 4 x p95, past the 5-s floor
    assert warm_latency_ms(ModelState()) == (None, None)


def test_a_call_with_no_hold_ahead_is_polled_through_its_load():
    # A leap-day window after 29 February 2028: no hold opens within the planning horizon. A
    # call that finds the model loading all the same (a lease just ended, a probe) has no
    # check to hold back: it is polled.
    leap = replace(AWARE, windows=[{"warm": "0 9 29 2 *", "stop": "0 17 29 2 *"}])
    called = datetime(2028, 3, 9, 12, 0, tzinfo=UTC)
    assert next_hold(leap, ModelState(), called, prewarm_lead(leap, ModelState(), SETTINGS)) is None
    decision = answer(ModelState(), NOT_READY_429, called, seconds=0, kind="warmup", config=leap)
    assert decision.follow_up.kind == "poll" and decision.state.ready_check_at is None


def test_a_bounded_cold_start_after_a_timed_wait_names_no_wait():
    # The check found the load running after its wait; then a poll was lost. The cold
    # start ends as a bound (after the last "not ready"), which no wait qualifies.
    check = TRIGGER + timedelta(minutes=5)
    loading = answer(_after_trigger(), NOT_READY_429, check, seconds=0, kind="ready_check", config=AWARE).state
    late = check + timedelta(minutes=2)
    done = answer(loading, CallResult(READY), late, seconds=0, config=AWARE)
    (told,) = [e.detail for e in done.events if e.kind == "cold_start"]
    assert told == {"seconds": 420.0, "exact": False, "after_seconds": 300.0}


def test_a_bounds_low_end_is_told_to_the_millisecond():
    since = utc(9, 9, 0)
    state = replace(WARMING, warming_since=since, last_call_at=since + timedelta(seconds=12.34567))
    done = answer(state, CallResult(READY), since + timedelta(seconds=90), seconds=0)
    (told,) = [e.detail for e in done.events if e.kind == "cold_start"]
    assert told["after_seconds"] == 12.346 and told["exact"] is False


def test_the_held_checks_event_says_why_it_is_held():
    decision = answer(ModelState(), NOT_READY_429, TRIGGER, seconds=0, kind="prewarm", config=AWARE)
    (cold,) = [e.detail for e in decision.events if e.kind == "cold"]
    assert cold["why"] == ("billing starts at the first successful call: the load started now, the first call "
                           "that can succeed is held until just before the window opens")


def test_a_lease_is_told_ready_at_the_answer_that_proved_it():
    lease = Lease("L1", utc(9, 19), utc(9, 21), holder="batch")
    state = replace(WARMING, leases=(lease,))
    called = utc(9, 9, 0, 10)
    done = answer(state, CallResult(READY), called, seconds=0.4)
    (ready,) = [e for e in done.events if e.kind == "lease_ready"]
    assert ready.at == called + timedelta(seconds=0.4) and ready.detail == {"lease": "L1", "holder": "batch"}


def test_a_load_given_up_on_says_so_in_an_error_event():
    state = replace(WARMING, last_call_at=utc(9, 9, 0) + timedelta(seconds=SETTINGS.max_cold_start_seconds))
    called = utc(9, 9, 0) + timedelta(seconds=SETTINGS.max_cold_start_seconds + 10)
    decision = answer(state, NOT_READY_429, called, seconds=1)
    (error,) = [e.detail for e in decision.events if e.kind == "error"]
    assert error == {"reason": f"model did not become ready within {SETTINGS.max_cold_start_seconds} s"}


def test_bounds_that_began_late_lengthen_the_lead():
    # Five loads known only to have run past 300 s (and ended by 320 s): the lead covers
    # more than the prior's, and more than the longest low end.
    slow = ModelState(cold_start_bounds=((300.0, 320.0),) * 5)
    lead = prewarm_lead(OFFICE, slow, SETTINGS)
    assert lead > prewarm_lead(OFFICE, ModelState(), SETTINGS)
    assert lead > timedelta(seconds=300 + SETTINGS.poll_seconds + SETTINGS.lead_margin_seconds)


def test_a_model_that_learned_its_own_keepalive_takes_no_release_from_its_region():
    from chalicelib.planner import keepalive_in_force, release_in_force

    # A probe measured its keep-alive (3) and found the release no shorter than configured.
    own = ModelState(learned_keepalive_minutes=3, region_release_minutes=2.0)
    assert (keepalive_in_force(OFFICE, own), release_in_force(OFFICE, own)) == (3, 15)


def test_a_naive_instant_is_refused_naming_it():
    with pytest.raises(ValueError, match="^now must be timezone-aware"):
        next_call(OFFICE, ModelState(), datetime(2026, 3, 9, 9, 0), SETTINGS)


def test_a_cold_start_with_no_start_is_no_chain():
    from chalicelib.planner import chain_end

    assert chain_end(ModelState(status="warming", warming_since=None, last_call_at=utc(9, 9)), SETTINGS) is None
    assert chain_end(ModelState(status="warming", warming_since=utc(9, 9), last_call_at=None), SETTINGS) is None


def test_a_window_already_open_at_registration_is_not_judged():
    from chalicelib.planner import window_to_judge

    registered = replace(OFFICE, created_at=utc(9, 10))
    assert window_to_judge(registered, ModelState(), utc(9, 10, 5)).open == utc(10, 9)


def test_retries_given_up_on_say_so_in_an_error_event():
    attempt = SETTINGS.max_attempts - 1
    decision = apply_outcome(OFFICE, ModelState(status="warm", last_success_at=utc(9, 9)),
                             Pending("k", "keepalive", utc(9, 9, 14), attempt),
                             CallResult(THROTTLED, "ThrottlingException", "slow down"), utc(9, 9, 14), utc(9, 9, 14),
                             SETTINGS)
    reason = f"ThrottlingException: gave up after {SETTINGS.max_attempts} attempts (slow down)"
    assert decision.state.status == "error" and decision.state.error == reason
    assert [e.detail for e in decision.events if e.kind == "error"] == [{"reason": reason}]


# -- what an answer leaves behind ---------------------------------------------------------------
def test_a_ready_answer_records_its_call_and_ends_the_load_and_its_held_check():
    # A held-back check was due; a poll found the copy ready first. The state keeps the call
    # (the next cold start is measured from it) and nothing of the load or of its check.
    called = utc(9, 9, 0, 20)
    loading = replace(WARMING, ready_check_at=utc(9, 9, 5), warming_proven_until=utc(9, 9, 0),
                      warming_unpolled_seconds=30.0)
    state = answer(loading, CallResult(READY), called, seconds=0.4).state
    assert state.last_call_at == called and state.pending is None
    assert (state.status, state.warming_since, state.ready_check_at, state.warming_proven_until,
            state.warming_unpolled_seconds) == ("warm", None, None, None, None)


def test_an_error_cleared_by_a_ready_answer_leaves_no_trace_and_is_told_at_the_answer():
    failing = ModelState(status="warm", last_success_at=utc(9, 9, 0), error="ModelErrorException: boom",
                         error_kind=MODEL_ERROR, error_at=utc(9, 9, 0))
    called = utc(9, 9, 14)
    decision = answer(failing, CallResult(READY), called, seconds=0.4, kind="keepalive")
    assert (decision.state.error, decision.state.error_kind, decision.state.error_at) == (None, None, None)
    (cleared,) = [e for e in decision.events if e.kind == "error_cleared"]
    assert cleared.at == called + timedelta(seconds=0.4) and cleared.detail == {"error": "ModelErrorException: boom"}


def test_a_model_error_is_told_at_its_answer():
    warm = ModelState(status="warm", last_success_at=utc(9, 9, 0))
    decision = answer(warm, CallResult(MODEL_ERROR, "ModelErrorException", "crashed"), utc(9, 9, 14), seconds=0.3)
    (told,) = [e for e in decision.events if e.kind == "model_error"]
    assert told.at == utc(9, 9, 14) + timedelta(seconds=0.3)


def test_a_warm_answer_after_a_load_nobody_polled_for_hours_is_no_cold_start():
    # The model was left "warming" at 06:00 (its polls stopped: a pause, a cold override);
    # at 09:00 a copy answers in 0.4 s. It was loaded: no three-hour cold start is recorded.
    stale = ModelState(status="warming", warming_since=utc(9, 6), last_call_at=utc(9, 6))
    decision = answer(stale, CallResult(READY), utc(9, 9), seconds=0.4, kind="keepalive")
    assert not [e for e in decision.events if e.kind == "cold_start"]
    assert decision.state.cold_starts == () and decision.state.cold_start_bounds == ()


def test_a_new_load_keeps_nothing_of_a_stale_ones_unpolled_wait():
    stale = ModelState(status="warming", warming_since=utc(9, 6), last_call_at=utc(9, 6),
                       warming_unpolled_seconds=600.0)
    called = utc(9, 9)
    state = answer(stale, NOT_READY_429, called, seconds=0.2, kind="prewarm").state
    assert (state.warming_since, state.warming_unpolled_seconds) == (called, None)


def test_a_held_cold_answer_is_told_as_a_cold_start_of_the_call_that_waited():
    warm = ModelState(status="warm", last_success_at=utc(9, 9, 0), warm_since=utc(9, 9, 0))
    called = utc(9, 9, 14)
    decision = answer(warm, CallResult(READY), called, seconds=60.1234567, kind="keepalive")
    (cold,) = [e for e in decision.events if e.kind == "cold"]
    assert cold.at == called and cold.detail == {"action": "keepalive", "held": True}
    (told,) = [e.detail for e in decision.events if e.kind == "cold_start"]
    assert told == {"seconds": 60.123, "exact": True, "held": True}


def test_a_429_is_told_as_cold_naming_the_call():
    decision = answer(ModelState(), NOT_READY_429, utc(9, 8, 50), seconds=0.2, kind="prewarm")
    assert [e.detail for e in decision.events if e.kind == "cold"] == [{"action": "prewarm"}]


def test_a_timed_waits_cold_start_is_told_to_the_millisecond():
    check = TRIGGER + timedelta(seconds=60.1234567)
    loading = answer(_after_trigger(), NOT_READY_429, check, seconds=0, kind="ready_check", config=AWARE).state
    done = answer(loading, CallResult(READY), check + timedelta(seconds=10.0004), seconds=0, config=AWARE)
    (told,) = [e.detail for e in done.events if e.kind == "cold_start"]
    assert told == {"seconds": 70.124, "exact": True, "unpolled_seconds": 60.123}


def test_a_lease_ending_at_the_answer_is_not_told_ready():
    called = utc(9, 9, 0, 10)
    answered = called + timedelta(seconds=0.4)
    ended = Lease("L1", utc(9, 8, 30), answered, holder="batch")
    running = Lease("L2", utc(9, 8, 30), answered + timedelta(microseconds=1), holder="batch")
    done = answer(replace(WARMING, leases=(ended, running)), CallResult(READY), called, seconds=0.4)
    assert [e.detail["lease"] for e in done.events if e.kind == "lease_ready"] == ["L2"]


def test_errors_end_the_load_and_are_told_at_the_answer():
    # A load whose retries ran out, and one refused for good: neither is "warming" any more.
    last = SETTINGS.max_attempts - 1
    called = utc(9, 9, 1)
    throttled = apply_outcome(OFFICE, WARMING, Pending("p", "poll", called, last),
                              CallResult(THROTTLED, "ThrottlingException", "slow down"), called,
                              called + timedelta(seconds=0.3), SETTINGS)
    fatal = answer(WARMING, CallResult(FATAL, "AccessDeniedException", "denied"), called, seconds=0.3)
    stuck_at = utc(9, 9, 0) + timedelta(seconds=SETTINGS.max_cold_start_seconds + 10)
    stuck = answer(replace(WARMING, last_call_at=stuck_at - timedelta(seconds=10)), NOT_READY_429, stuck_at,
                   seconds=0.3)
    for decision, at in ((throttled, called), (fatal, called), (stuck, stuck_at)):
        assert (decision.state.status, decision.state.warming_since) == ("error", None)
        (error,) = [e for e in decision.events if e.kind == "error"]
        assert error.at == at + timedelta(seconds=0.3)


def test_the_call_event_times_an_answer_that_brought_no_latency():
    decision = answer(ModelState(), CallResult(THROTTLED, "ThrottlingException", "slow down"), utc(9, 9), seconds=2.0)
    assert decision.events[0].detail["latency_ms"] == 2000


def test_a_warm_answer_teaches_its_latency_in_milliseconds():
    warm = ModelState(status="warm", last_success_at=utc(9, 9, 0), warm_latencies_ms=(300,))
    state = answer(warm, CallResult(READY), utc(9, 9, 14), seconds=1.5, kind="keepalive").state
    assert state.warm_latencies_ms == (300, 1500)


def test_a_cold_answer_past_the_release_proves_no_gap():
    # The copy was believed released (20 idle minutes, its learned release 6); the call was held 60 s
    # while a copy loaded. That proves nothing about how long an idle copy lives.
    warm = ModelState(status="warm", last_success_at=utc(9, 9, 0), learned_keepalive_minutes=5,
                      learned_release_minutes=6, release_found_cold_minutes=6.0)
    state = answer(warm, CallResult(READY), utc(9, 9, 20), seconds=60, kind="keepalive").state
    assert (state.release_proven_minutes, state.learned_keepalive_minutes, state.release_found_cold_minutes) == (
        None, 5, 6.0)


def test_an_answer_of_exactly_the_cold_limit_is_warm():
    # The rule: slower than max(5 s, 4 x the warm p95) met a cold copy; 5 s itself did not.
    from chalicelib.planner import COLD, WARM, evidence_of

    assert evidence_of(READY, 5.0, ModelState()) == WARM
    assert evidence_of(READY, 5.001, ModelState()) == COLD


def test_a_load_still_running_after_a_held_checks_bound_stays_a_bound():
    # An ambiguous check (past a release found at 3 minutes) found the load running; a poll
    # found it running still, the next ready: known only to have ended after the check.
    known = ModelState(release_found_cold_minutes=3.0)
    check = utc(9, 8, 59)
    first = answer(_after_trigger(known), NOT_READY_429, check, seconds=0, kind="ready_check", config=AWARE).state
    assert first.warming_proven_until == TRIGGER
    second = answer(first, NOT_READY_429, check + timedelta(seconds=10), seconds=0, config=AWARE).state
    assert second.warming_proven_until == TRIGGER
    done = answer(second, CallResult(READY), check + timedelta(seconds=20), seconds=0, config=AWARE).state
    assert done.cold_starts == () and done.cold_starts_unpolled == ()
    assert done.cold_start_bounds == ((0.0, (check - TRIGGER).total_seconds() + 20),)


def test_a_load_found_running_by_its_held_check_is_polled_not_held_again():
    # The check went out early (a learned 3-minute keep-alive); the load was still running
    # 3 minutes before the open. Polls follow it, at the poll interval, to the end.
    state = ModelState(learned_keepalive_minutes=3, learned_release_minutes=4, release_found_cold_minutes=4.0)
    trigger = next_call(AWARE, state, utc(9, 7), SETTINGS).at
    loading = answer(state, NOT_READY_429, trigger, seconds=0, kind="prewarm", config=AWARE)
    check = loading.follow_up.at
    assert check < utc(9, 8, 57)
    after = answer(loading.state, NOT_READY_429, check, seconds=0, kind="ready_check", config=AWARE)
    assert after.follow_up.kind == "poll" and after.follow_up.at == check + timedelta(seconds=SETTINGS.poll_seconds)
    assert after.state.ready_check_at is None


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=60),
       st.sampled_from([5, 50, 90, 95, 99]))
@example([float(x) for x in range(1, 18)], 95)  # 17 samples: the 95th percentile is the 17th
def test_a_percentile_is_the_least_sample_at_or_below_which_that_share_lies(samples, q):
    from chalicelib.planner import percentile

    got = percentile(tuple(samples), q)
    # Nearest rank, by its definition: the least sample with at least q % of all at or below it.
    least = min(x for x in samples if 100 * sum(1 for y in samples if y <= x) >= q * len(samples))
    assert got == least


def test_a_window_opening_the_instant_the_model_is_registered_is_not_judged():
    # Registered at 09:00:00 sharp: the window was already open, and nobody warmed it for
    # its open. The next day's is the first judged.
    from chalicelib.planner import window_to_judge

    registered = replace(OFFICE, created_at=utc(9, 9))
    assert window_to_judge(registered, ModelState(), utc(9, 9, 0, 1)).open == utc(10, 9)
    assert window_to_judge(replace(OFFICE, created_at=utc(9, 8, 59, 59)), ModelState(), utc(9, 9)).open == utc(9, 9)


def test_an_always_on_model_kept_cold_is_next_looked_at_when_its_override_ends():
    # An always-on window never closes: its interval is only cut for planning, and the cut
    # is no close to judge readiness at. Nothing wakes the tick before the override ends.
    from chalicelib.planner import with_next_due

    always = replace(OFFICE, windows=[{"days": "MON-SUN", "start": "00:00", "stop": "24:00"}], created_at=utc(1, 0))
    now = utc(9, 8)
    kept = ModelState(override=Override("cold", now + timedelta(days=10), now))
    assert with_next_due(always, kept, now, SETTINGS).next_due_at == now + timedelta(days=10)


@pytest.mark.parametrize("region, keepalive, release", [(1.5, 1, 2), (2.0, 1, 2), (2.9, 1, 2), (3.0, 1, 3),
                                                        (7.5, 2, 7), (40.0, 13, 15)])
def test_a_regions_prior_keeps_the_keepalive_below_the_release(region, keepalive, release):
    # Another model of the region found a copy gone ``region`` idle minutes after a success:
    # the release is at most that (whole minutes, configured 15 at most), and the keep-alive
    # a third of it, a minute below the release at least.
    from chalicelib.planner import keepalive_in_force, release_in_force

    state = ModelState(region_release_minutes=region)
    assert (keepalive_in_force(OFFICE, state), release_in_force(OFFICE, state)) == (keepalive, release)


def test_a_copy_is_shown_released_once_the_release_it_learned_has_passed():
    from chalicelib.planner import display_status, is_warm, release_in_force

    warm = ModelState(status="warm", last_success_at=utc(9, 9), learned_keepalive_minutes=3, learned_release_minutes=4)
    assert release_in_force(OFFICE, warm) == 4
    assert is_warm(OFFICE, warm, utc(9, 9, 3, 59)) and not is_warm(OFFICE, warm, utc(9, 9, 4))
    assert display_status(OFFICE, warm, utc(9, 9, 5), SETTINGS) == "cold"


# -- a lost message, and the call that replaces it ------------------------------------------------
def test_a_held_check_whose_message_was_lost_goes_out_as_a_check_when_the_tick_finds_it_overdue():
    # The trigger's load is under way and its check was due at ``due``; the message never
    # came. The tick, finding the model overdue, sends the check itself: the same call,
    # named so its unpolled wait is read as one (not a prewarm that restarts nothing).
    from chalicelib.planner import drop_claim

    loading = _after_trigger()
    due = loading.ready_check_at
    assert due is not None and loading.pending.kind == "ready_check"
    lost = drop_claim(loading)
    for now in (due, due + timedelta(seconds=30)):
        assert next_call(AWARE, lost, now, SETTINGS) == Action("ready_check", now)
    assert next_call(AWARE, lost, due - timedelta(seconds=30), SETTINGS) == Action("ready_check", due)


@pytest.mark.parametrize("change, expected", [
    # The window moved to open at 08:55: the check goes out a margin before that open.
    ({"windows": [{"days": "MON-FRI", "start": "08:55", "stop": "18:00"}]}, ("ready_check", utc(9, 8, 54))),
    # The window moved to open right now: nothing to hold back, the call goes out now.
    ({"windows": [{"days": "MON-FRI", "start": "08:52", "stop": "18:00"}]}, ("ready_check", utc(9, 8, 51))),
    # Not billing-aware any more: no check is held back; the next call is the plain
    # pre-warm, at its own (shorter) lead before the open.
    ({"billing_aware_prewarm": False}, ("prewarm", None)),
])
def test_a_held_check_follows_a_change_made_while_its_load_runs(change, expected):
    # A PUT while the trigger's load runs drops the queued check (the plan changed) and the
    # tick plans again: the check is placed for the schedule as it is now, never left at
    # a time the old schedule chose (after the new open, or past the keep-alive).
    loading = _after_trigger()
    assert loading.ready_check_at > utc(9, 8, 55)
    from chalicelib.planner import drop_claim

    changed = replace(AWARE, **change)
    action = next_call(changed, drop_claim(loading), utc(9, 8, 51), SETTINGS)
    kind, at = expected
    assert (action.kind, action.at) == (kind, at or utc(9, 9) - prewarm_lead(changed, loading, SETTINGS))


def test_a_held_check_moves_earlier_when_the_keepalive_is_shortened_while_its_load_runs():
    from chalicelib.planner import drop_claim, fast_load

    loading = _after_trigger()
    shorter = replace(AWARE, keepalive_minutes=2, release_minutes=3)
    action = next_call(shorter, drop_claim(loading), utc(9, 8, 51), SETTINGS)
    assert action.kind == "ready_check"
    assert action.at == max(utc(9, 8, 51), TRIGGER + fast_load(loading, SETTINGS) + timedelta(minutes=2))


def test_a_model_loading_after_an_error_is_called_at_once_when_its_poll_is_lost():
    # Retries ran out (an error), then a call found the model loading: it is warming, the
    # error stands until an answer clears it. Its poll's message was lost: the tick polls
    # now, not a keep-alive after the error.
    now = utc(9, 10)
    state = ModelState(status="warming", warming_since=now - timedelta(minutes=1), last_call_at=now - timedelta(seconds=20),
                       error="ThrottlingException: gave up after 8 attempts (slow down)", error_kind="transient",
                       error_at=now - timedelta(minutes=2))
    assert next_call(OFFICE, state, now, SETTINGS) == Action("warmup", now)


def test_a_call_at_the_very_open_is_the_windows_warmup_not_a_prewarm():
    assert next_call(OFFICE, ModelState(), utc(9, 9), SETTINGS) == Action("warmup", utc(9, 9))


def test_a_load_is_continued_by_a_call_until_the_chain_ends_and_not_after():
    # Polls and retries come within the longest backoff; a lost poll is replaced after its
    # claim expires and the next tick: up to that, a call continues the measurement.
    from chalicelib.planner import chain_end

    slack = max(SETTINGS.backoff_max_seconds, SETTINGS.claim_timeout_seconds) + SETTINGS.poll_seconds + 120
    end = WARMING.last_call_at + timedelta(seconds=slack)
    assert chain_end(WARMING, SETTINGS) == end
    continued = answer(WARMING, CallResult(READY), end, seconds=0.4)
    assert [e.detail["exact"] for e in continued.events if e.kind == "cold_start"] == [False]
    anew = answer(WARMING, CallResult(READY), end + timedelta(microseconds=1), seconds=0.4)
    assert not [e for e in anew.events if e.kind == "cold_start"]


@pytest.mark.parametrize("held, waived", [(None, False), (0.5, False), (1.0, True), (1.5, True)])
def test_a_probe_waives_the_regions_prior_only_past_a_copy_it_saw_survive_that_long(held, waived):
    from chalicelib.planner import keepalive_in_force
    from chalicelib.probe import DONE, Probe

    probed = ModelState(region_release_minutes=1.0,
                        probe=Probe(status=DONE, started_at=utc(9, 6), gaps_minutes=(4,), held_minutes=held))
    assert keepalive_in_force(OFFICE, probed) == (14 if waived else 1)


def test_a_lost_poll_after_the_held_check_is_replaced_by_a_call_now_not_by_another_check():
    # The held check found the load still running; polls followed and one was lost. The
    # tick calls now: the check is done, so this call's silence before it was a lost poll,
    # not a held check's unpolled wait (which only a "ready_check" is read as).
    from chalicelib.planner import drop_claim

    loading = _after_trigger()
    check = loading.ready_check_at
    polled = answer(loading, NOT_READY_429, check, seconds=0, kind="ready_check", config=AWARE).state
    assert polled.ready_check_at is None and polled.status == "warming"
    now = check + timedelta(seconds=30)
    assert now < utc(9, 9)
    assert next_call(AWARE, drop_claim(polled), now, SETTINGS) == Action("prewarm", now)
