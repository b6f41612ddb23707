"""The planner: pure decisions from config, state and an explicit ``now``."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.planner import (
    FATAL,
    JUDGE_AFTER,
    MODEL_ERROR,
    NOT_READY,
    READY,
    THROTTLED,
    TRANSIENT,
    Action,
    CallResult,
    apply_outcome,
    display_status,
    load_samples,
    next_call,
    percentile,
    prewarm_lead,
    ready_check_at,
    wanted,
    with_next_due,
)
from chalicelib.records import Lease, Model, ModelConfig, ModelState, Pending, expire_leases
from chalicelib.settings import Settings

UTC = timezone.utc
SETTINGS = Settings(table_name="t", queue_url="q")
# Asia/Shanghai is UTC+8 all year: 09:00-18:00 there is 01:00-10:00 UTC.
SHANGHAI = ModelConfig(
    name="m", model_arn="arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl",
    timezone="Asia/Shanghai", windows=[{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}],
)
# The same without the billing-aware pre-warm: every call may succeed as soon as it can.
PLAIN = replace(SHANGHAI, billing_aware_prewarm=False)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def warm_since(at: datetime) -> ModelState:
    return ModelState(status="warm", last_success_at=at)


# A new model's pre-warm lead (from the default prior: its own value is tested below).
LEAD = prewarm_lead(SHANGHAI, ModelState(), SETTINGS)


def opens(day: int) -> datetime:
    """09:00 Shanghai on that day of March 2026."""
    return utc(day, 1, 0)


# Monday 9 March 2026 .. Friday 13 March.
@pytest.mark.parametrize("state, now, kind, at", [
    # Cold before the window: first call the lead before it opens.
    (ModelState(), utc(9, 0, 0), "prewarm", opens(9) - LEAD),
    (ModelState(), utc(9, 0, 58), "prewarm", utc(9, 0, 58)),
    # Cold inside the window (registered mid-morning, or released): call at once.
    (ModelState(), utc(9, 3, 0), "warmup", utc(9, 3, 0)),
    (warm_since(utc(9, 1, 0)), utc(9, 3, 0), "warmup", utc(9, 3, 0)),
    # Warm: keep-alive 14 minutes after the last success.
    (warm_since(utc(9, 3, 0)), utc(9, 3, 5), "keepalive", utc(9, 3, 14)),
    # Overdue keep-alive (a tick was missed) goes now, not in the past.
    (warm_since(utc(9, 3, 0)), utc(9, 3, 14, 30), "keepalive", utc(9, 3, 14, 30)),
    # The next keep-alive would fall after 18:00: none; next is Tuesday's pre-warm.
    (warm_since(utc(9, 9, 50)), utc(9, 9, 55), "prewarm", opens(10) - LEAD),
    # Friday evening: nothing until Monday.
    (warm_since(utc(13, 9, 50)), utc(13, 10, 30), "prewarm", opens(16) - LEAD),
    # Denied or gone: not again in this window, first thing in the next one.
    (ModelState(status="error", error_kind="fatal", error_at=utc(9, 3, 0)), utc(9, 3, 1),
     "prewarm", opens(10) - LEAD),
    # A fatal error during the pre-warm also skips the window it was for.
    (ModelState(status="error", error_kind="fatal", error_at=utc(9, 0, 58)), utc(9, 0, 59),
     "prewarm", opens(10) - LEAD),
    # Transient trouble (gave up retrying): again at the next keep-alive slot.
    (ModelState(status="error", error_kind="transient", error_at=utc(9, 3, 0)), utc(9, 3, 1),
     "warmup", utc(9, 3, 14)),
])
def test_next_call(state, now, kind, at):
    action = next_call(SHANGHAI, state, now, SETTINGS)
    assert (action.kind, action.at) == (kind, at)


def test_paused_model_is_never_called():
    assert next_call(replace(SHANGHAI, enabled=False), ModelState(), utc(9, 3), SETTINGS) is None
    assert not wanted(replace(SHANGHAI, enabled=False), ModelState(), utc(9, 3), SETTINGS)


def test_overnight_window_keeps_calling_past_midnight():
    config = replace(SHANGHAI, timezone="UTC", windows=[{"start": "22:00", "stop": "06:00"}])
    action = next_call(config, warm_since(utc(9, 23, 55)), utc(9, 23, 56), SETTINGS)
    assert (action.kind, action.at) == ("keepalive", utc(10, 0, 9))


def test_keepalive_interval_is_per_model():
    config = replace(SHANGHAI, keepalive_minutes=5)
    action = next_call(config, warm_since(utc(9, 3, 0)), utc(9, 3, 1), SETTINGS)
    assert action.at == utc(9, 3, 5)


@pytest.mark.parametrize("now, expected", [
    (opens(9) - LEAD - timedelta(seconds=1), False),  # before the lead
    (opens(9) - LEAD, True),  # lead starts
    (utc(9, 9, 59, 59), True),
    (utc(9, 10, 0), False),      # the window's close: no call at or after it
])
def test_wanted_is_the_hold_interval(now, expected):
    assert wanted(SHANGHAI, ModelState(), now, SETTINGS) is expected


def test_warm_shows_cold_once_the_release_time_has_passed():
    state = warm_since(utc(9, 9, 50))
    assert display_status(SHANGHAI, state, utc(9, 10, 4), SETTINGS) == "warm"
    assert display_status(SHANGHAI, state, utc(9, 10, 5), SETTINGS) == "cold"


# -- outcomes -------------------------------------------------------------------------------
ACTION = Pending("a1", "prewarm", utc(9, 0, 57))


def decide(state, result, called=utc(9, 0, 57), answered=utc(9, 0, 57, 1), action=ACTION):
    return apply_outcome(SHANGHAI, replace(state, pending=action), action, result, called,
                         answered, SETTINGS)


def test_not_ready_starts_a_cold_start_and_polls():
    # Called at 00:57, past the point where a billing-aware check would be held (the
    # plain model polls from any point).
    d = apply_outcome(PLAIN, replace(ModelState(), pending=ACTION), ACTION,
                      CallResult(NOT_READY, "ModelNotReadyException"), utc(9, 0, 57), utc(9, 0, 57, 1), SETTINGS)
    assert d.state.status == "warming"
    assert d.state.warming_since == utc(9, 0, 57)
    assert d.follow_up.kind == "poll"
    assert d.follow_up.at == utc(9, 0, 57, 11)  # answer + poll_seconds
    assert d.state.pending == d.follow_up
    assert d.state.next_due_at == d.follow_up.at + timedelta(seconds=SETTINGS.claim_timeout_seconds)
    assert [e.kind for e in d.events] == ["call", "cold"]


def test_ready_after_polling_records_the_cold_start():
    warming = ModelState(status="warming", warming_since=utc(9, 0, 57), last_call_at=utc(9, 0, 57, 52))
    d = decide(warming, CallResult(READY, latency_ms=40), called=utc(9, 0, 58, 2),
               answered=utc(9, 0, 58, 3), action=Pending("p9", "poll", utc(9, 0, 58, 2)))
    assert d.state.status == "warm"
    assert d.state.last_success_at == utc(9, 0, 58, 3)
    assert d.state.warming_since is None
    assert d.state.cold_starts == (63.0,)
    assert d.state.cold_start_count == 1
    assert d.follow_up is None and d.state.pending is None
    # Next is the keep-alive 14 minutes after this success.
    assert d.state.next_due_at == utc(9, 0, 58, 3) + timedelta(minutes=14)
    assert [(e.kind, e.detail.get("seconds")) for e in d.events] == [("call", None), ("cold_start", 63.0),
                                                                     ("warm", None)]


def test_a_cold_start_whose_polling_stopped_long_ago_is_not_continued():
    # Yesterday's abandoned cold start must not be measured into today's.
    stale = ModelState(status="warming", warming_since=utc(8, 9, 50), last_call_at=utc(8, 9, 59))
    ready = decide(stale, CallResult(READY))
    assert ready.state.cold_starts == () and ready.state.status == "warm"
    cold = decide(stale, CallResult(NOT_READY, "ModelNotReadyException"))
    assert cold.state.status == "warming" and cold.state.warming_since == utc(9, 0, 57)


def test_a_cold_start_that_never_ends_becomes_an_error():
    warming = ModelState(status="warming", warming_since=utc(9, 1, 0), last_call_at=utc(9, 1, 14, 51))
    d = decide(warming, CallResult(NOT_READY, "ModelNotReadyException"), called=utc(9, 1, 15, 1),
               answered=utc(9, 1, 15, 2), action=Pending("p", "poll", utc(9, 1, 15, 1)))
    assert d.state.status == "error"
    assert "900 s" in d.state.error
    assert d.follow_up is None


@pytest.mark.parametrize("outcome, code", [(THROTTLED, "ThrottlingException"),
                                           (TRANSIENT, "ServiceUnavailableException")])
def test_throttling_and_server_errors_back_off_then_give_up(outcome, code):
    state, action, delays = ModelState(), ACTION, []
    for attempt in range(1, SETTINGS.max_attempts):
        d = decide(state, CallResult(outcome, code, "slow down"), action=action)
        delays.append((d.follow_up.at - utc(9, 0, 57, 1)).total_seconds())
        assert d.follow_up.attempt == attempt and d.follow_up.kind == "prewarm"
        assert d.state.status == "cold"
        state, action = d.state, d.follow_up
    assert delays == [5, 10, 20, 40, 80, 160, 300]
    d = decide(state, CallResult(outcome, code, "slow down"), action=action)
    assert d.state.status == "error" and d.state.error_kind == "transient"
    assert code in d.state.error and d.follow_up is None


def test_throttling_while_warming_keeps_the_cold_start_running():
    warming = ModelState(status="warming", warming_since=utc(9, 0, 57), last_call_at=utc(9, 1, 0))
    d = decide(warming, CallResult(THROTTLED, "ThrottlingException"),
               action=Pending("p", "poll", utc(9, 1, 7)))
    assert d.state.status == "warming" and d.state.warming_since == utc(9, 0, 57)


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException",
                                  "ValidationException"])
def test_fatal_errors_stop_retrying_with_the_reason(code):
    d = decide(ModelState(), CallResult(FATAL, code, "no access"))
    assert d.state.status == "error" and d.state.error_kind == "fatal"
    assert d.state.error == f"{code}: no access"
    assert d.follow_up is None
    # The tick looks again only to judge today's window after its close; the next call is
    # tomorrow's.
    assert d.state.next_due_at == utc(9, 10, 0) + JUDGE_AFTER
    assert next_call(SHANGHAI, d.state, d.state.next_due_at, SETTINGS).at == opens(10) - LEAD


def test_a_failing_container_ends_a_cold_start_warm_with_the_error_and_no_retry():
    warming = ModelState(status="warming", warming_since=utc(9, 0, 57), last_call_at=utc(9, 0, 57, 52))
    d = decide(warming, CallResult(MODEL_ERROR, "ModelErrorException", "Received server error (500)"),
               called=utc(9, 0, 58, 2), answered=utc(9, 0, 58, 3), action=Pending("p", "poll", utc(9, 0, 58, 2)))
    assert d.state.status == "warm" and d.state.cold_starts == (63.0,)  # the copy did load
    assert (d.state.error, d.state.error_kind) == ("ModelErrorException: Received server error (500)", MODEL_ERROR)
    assert d.follow_up is None
    assert d.state.next_due_at == utc(9, 0, 58, 3) + timedelta(minutes=14)  # the next keep-alive
    assert [e.kind for e in d.events] == ["call", "cold_start", "warm", "model_error"]
    again = decide(d.state, CallResult(MODEL_ERROR, "ModelErrorException", "again"), called=utc(9, 1, 12, 3),
                   answered=utc(9, 1, 12, 4), action=Pending("k", "keepalive", utc(9, 1, 12, 3)))
    assert [e.kind for e in again.events] == ["call"]  # told once, not at every keep-alive
    recovered = decide(again.state, CallResult(READY), called=utc(9, 1, 26, 4), answered=utc(9, 1, 26, 5),
                       action=Pending("k2", "keepalive", utc(9, 1, 26, 4)))
    assert recovered.state.error is None and recovered.state.error_kind is None
    assert [e.kind for e in recovered.events] == ["call", "error_cleared"]


def test_a_success_held_through_a_load_is_a_cold_start_from_the_call():
    d = decide(ModelState(), CallResult(READY), called=utc(9, 0, 57), answered=utc(9, 0, 58, 10))
    assert d.state.status == "warm" and d.state.cold_starts == (70.0,)
    assert [(e.kind, e.detail.get("held")) for e in d.events] == [("call", None), ("cold", True),
                                                                   ("cold_start", True), ("warm", None)]
    quick = decide(ModelState(), CallResult(READY), called=utc(9, 0, 57), answered=utc(9, 0, 57, 2))
    assert quick.state.cold_starts == ()


# -- what operators are told -------------------------------------------------------------------
def test_a_copy_that_starts_answering_is_warm_and_every_waiting_lease_is_ready():
    leases = (Lease("l000000000001", utc(9, 0, 50), utc(9, 2), "etl"),
              Lease("l000000000002", utc(8, 0, 0), utc(8, 1), None))  # ended yesterday
    warming = ModelState(status="warming", warming_since=utc(9, 0, 57), last_call_at=utc(9, 0, 57, 52),
                         leases=leases)
    d = decide(warming, CallResult(READY), called=utc(9, 0, 58, 2), answered=utc(9, 0, 58, 3),
               action=Pending("p9", "poll", utc(9, 0, 58, 2)))
    assert [(e.kind, e.detail) for e in d.events[2:]] == [
        ("warm", {"action": "poll"}), ("lease_ready", {"lease": "l000000000001", "holder": "etl"})]
    assert d.state.warm_since == utc(9, 0, 58, 3)  # its warm span starts at the first success
    # A keep-alive that finds the copy still loaded changes nothing an operator is told.
    held = decide(d.state, CallResult(READY), called=utc(9, 1, 12, 3), answered=utc(9, 1, 12, 4),
                  action=Pending("k", "keepalive", utc(9, 1, 12, 3)))
    assert [e.kind for e in held.events] == ["call"] and held.state.warm_since == utc(9, 0, 58, 3)
    # Past the release time a success is another copy: warm again, its own span.
    later = decide(d.state, CallResult(READY), called=utc(9, 2, 0), answered=utc(9, 2, 0, 1),
                   action=Pending("w", "warmup", utc(9, 2, 0)))
    assert "warm" in [e.kind for e in later.events] and later.state.warm_since == utc(9, 2, 0, 1)


def test_a_success_after_an_error_clears_it_and_says_so():
    failed = ModelState(status="error", error="ThrottlingException: gave up after 8 attempts",
                        error_kind="transient", error_at=utc(9, 1, 0))
    d = decide(failed, CallResult(READY), called=utc(9, 1, 14), answered=utc(9, 1, 14, 1),
               action=Pending("w", "warmup", utc(9, 1, 14)))
    assert [(e.kind, e.detail) for e in d.events if e.kind == "error_cleared"] == [
        ("error_cleared", {"error": "ThrottlingException: gave up after 8 attempts"})]
    assert d.state.error is None


def test_the_tick_looks_at_a_model_when_a_lease_ends_and_tells_it_once():
    # A lease after the window; its last keep-alive, at 12:16, covers it to its end.
    lease = Lease("l000000000001", utc(9, 12, 0), utc(9, 12, 30), "etl")
    # The day's window was judged at its close.
    state = replace(warm_since(utc(9, 12, 16)), leases=(lease,), readiness_until=utc(9, 10, 0))
    assert next_call(SHANGHAI, state, utc(9, 12, 16), SETTINGS).at == utc(10, 1, 0) - LEAD
    assert with_next_due(SHANGHAI, state, utc(9, 12, 16), SETTINGS).next_due_at == utc(9, 12, 30)
    ended, told = expire_leases(Model(SHANGHAI, state), utc(9, 12, 30))
    assert [(e.kind, e.at, e.detail) for e in told] == [
        ("lease_expired", utc(9, 12, 30), {"lease": "l000000000001", "holder": "etl"})]
    assert expire_leases(ended, utc(9, 13, 0))[1] == []  # told once
    assert with_next_due(SHANGHAI, ended.state, utc(9, 12, 30), SETTINGS).next_due_at == utc(10, 1, 0) - LEAD


def test_percentile_nearest_rank():
    assert percentile((), 50) is None
    assert percentile((60.0, 90.0, 70.0, 300.0), 50) == 70.0
    assert percentile(tuple(float(i) for i in range(1, 101)), 95) == 95.0


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        next_call(SHANGHAI, ModelState(), datetime(2026, 3, 9, 3, 0), SETTINGS)


# -- learned lead, tight end, self-correction -------------------------------------------------
def test_a_new_models_lead_is_a_high_percentile_of_the_prior_and_errs_long_when_billing_aware():
    from chalicelib.leads import default_prior, fit, upper_quantile

    prior = default_prior(SETTINGS.prior_load_median_seconds, SETTINGS.prior_load_sigma, SETTINGS.prior_weight)
    margin = SETTINGS.poll_seconds + SETTINGS.lead_margin_seconds
    held = upper_quantile(fit((), (), prior), SETTINGS.held_lead_percentile) + margin
    plain = upper_quantile(fit((), (), prior), SETTINGS.lead_percentile) + margin
    assert LEAD == timedelta(seconds=math.ceil(held))
    assert prewarm_lead(PLAIN, ModelState(), SETTINGS) == timedelta(seconds=math.ceil(plain))
    # A 90 s median: the billing-aware lead is several times that, the plain one less.
    assert timedelta(minutes=7) < LEAD <= timedelta(seconds=SETTINGS.lead_max_seconds)
    assert timedelta(minutes=3) < prewarm_lead(PLAIN, ModelState(), SETTINGS) < LEAD


def test_the_lead_learns_from_the_models_own_cold_starts():
    quick = ModelState(cold_starts=(40.0, 45.0, 42.0, 38.0, 44.0, 41.0) * 3, cold_start_count=18)
    slow = ModelState(cold_starts=(300.0, 320.0, 280.0), cold_start_count=3)
    assert prewarm_lead(PLAIN, quick, SETTINGS) < prewarm_lead(PLAIN, ModelState(), SETTINGS)
    assert prewarm_lead(PLAIN, slow, SETTINGS) > prewarm_lead(PLAIN, ModelState(), SETTINGS)
    # Never below the longest load seen (plus the poll and the margin).
    odd = replace(quick, cold_starts=quick.cold_starts + (400.0,))
    assert prewarm_lead(PLAIN, odd, SETTINGS) >= timedelta(seconds=440)


def test_a_bounded_cold_start_never_lowers_the_lead():
    exact = ModelState(cold_starts=(90.0, 100.0, 80.0), cold_start_count=3)
    # Held checks that found the copy ready: each load took at most 5 minutes.
    bounded = replace(exact, cold_start_bounds=((0.0, 300.0),) * 20, cold_start_count=23)
    for config in (SHANGHAI, PLAIN):
        assert prewarm_lead(config, bounded, SETTINGS) >= prewarm_lead(config, exact, SETTINGS)
    # A bound that says the load took longer than the model's history raises it.
    longer = replace(exact, cold_start_bounds=((400.0, 420.0),) * 3, cold_start_count=6)
    assert prewarm_lead(PLAIN, longer, SETTINGS) > prewarm_lead(PLAIN, exact, SETTINGS)


def test_a_new_model_starts_from_the_fleets_prior():
    from chalicelib.leads import FleetLoads
    from chalicelib.planner import fleet_prior

    sized = replace(PLAIN, custom_model_units=4)
    loads = {"all": FleetLoads(40, 40 * math.log(60), 40 * math.log(60) ** 2 + 40 * 0.04),
             "cmu4": FleetLoads(12, 12 * math.log(250), 12 * math.log(250) ** 2 + 12 * 0.04)}
    prior = fleet_prior(sized, ModelState(), loads, SETTINGS)
    assert prior.source == "fleet cmu4: 12 cold starts" and round(prior.median_seconds) == 250
    assert fleet_prior(replace(sized, custom_model_units=1), ModelState(), loads, SETTINGS).source == \
        "fleet all: 40 cold starts"
    assert fleet_prior(sized, ModelState(), {"all": FleetLoads(3, 0.0, 0.0)}, SETTINGS) is None
    # The fleet's loads spread by 0.2 (in log seconds): the cold starts it could time are
    # not a fair draw of a new model's, whose prior keeps the operator's spread at least.
    assert prior.sigma == SETTINGS.prior_load_sigma
    wide = {"all": FleetLoads(40, 40 * math.log(60), 40 * math.log(60) ** 2 + 40 * 0.81)}
    assert fleet_prior(sized, ModelState(), wide, SETTINGS).sigma == pytest.approx(0.9 * math.sqrt(40 / 39))
    big = prewarm_lead(sized, ModelState(lead_prior=prior), SETTINGS)
    assert big > prewarm_lead(sized, ModelState(), SETTINGS)


def test_a_billing_aware_copy_idles_no_longer_than_the_keepalive_before_its_check():
    # Bedrock releasing idle copies after 5 minutes (as learned): a copy loaded early
    # would be gone before a check held back to the open reached it. The lead still covers
    # the loads seen; the check goes out earlier instead.
    from chalicelib.timeline import next_hold

    short = replace(ModelState(), learned_release_minutes=5, learned_keepalive_minutes=4)
    lead = prewarm_lead(SHANGHAI, short, SETTINGS)
    assert lead == prewarm_lead(SHANGHAI, ModelState(), SETTINGS)
    hold = next_hold(SHANGHAI, short, utc(9, 0, 0), lead)
    check = ready_check_at(SHANGHAI, short, hold, SETTINGS)
    fastest = timedelta(seconds=34)  # the prior's 5th percentile of a load: about 33.5 s
    assert check - (hold.start + fastest) <= timedelta(minutes=4)


def test_a_copy_loaded_early_idles_no_longer_than_the_keepalive_once_the_release_was_learned():
    # Keep-alives 7 min after a success found the model cold, 3 min ones did not: the
    # release lies between 3 and 7 minutes (it was 5). A copy ready at the fastest load
    # seen must not idle past 3 minutes before its held ready-check, or it may be gone.
    from chalicelib.timeline import next_hold

    learned = ModelState(cold_starts=(60.0, 90.0, 75.0), cold_start_count=3,
                         learned_release_minutes=7, learned_keepalive_minutes=3)
    lead = prewarm_lead(SHANGHAI, learned, SETTINGS)
    hold = next_hold(SHANGHAI, learned, utc(9, 0, 0), lead)
    check = ready_check_at(SHANGHAI, learned, hold, SETTINGS)
    idle = check - (hold.open - lead + timedelta(seconds=60))
    assert idle <= timedelta(minutes=3)
    # Without a learned release, the keep-alive of 14 minutes bounds the idle: the check
    # goes out the margin before the open.
    unlearned = replace(learned, learned_release_minutes=None, learned_keepalive_minutes=None)
    assert ready_check_at(SHANGHAI, unlearned, hold, SETTINGS) == hold.open - MARGIN


# -- the billing-aware pre-warm --------------------------------------------------------------
MARGIN = timedelta(seconds=SETTINGS.ready_check_margin_seconds)


def test_the_ready_check_is_held_until_the_margin_before_the_open():
    # The load trigger goes out the lead before the open; the first call that can succeed
    # (which starts the bill) the margin before it, for a load still running to finish.
    trigger = opens(9) - LEAD
    d = apply_outcome(SHANGHAI, ModelState(), Pending("a", "prewarm", trigger),
                      CallResult(NOT_READY, "ModelNotReadyException"), trigger, trigger, SETTINGS)
    assert d.follow_up.kind == "ready_check" and d.follow_up.at == opens(9) - MARGIN
    cold = next(e for e in d.events if e.kind == "cold")
    assert cold.detail["ready_check_at"] == "2026-03-09T00:59:00Z" and "billing" in cold.detail["why"]
    assert display_status(SHANGHAI, d.state, trigger + timedelta(minutes=5), SETTINGS) == "warming"
    # Asked again meanwhile (a tick, an API change), the plan is the same held check.
    assert next_call(SHANGHAI, replace(d.state, pending=None), trigger + timedelta(minutes=2), SETTINGS) == \
        Action("ready_check", opens(9) - MARGIN)
    # The check finds it ready: a cold start known only to be shorter than the wait.
    check = opens(9) - MARGIN
    ready = apply_outcome(SHANGHAI, d.state, d.follow_up, CallResult(READY), check, check, SETTINGS)
    assert ready.state.status == "warm" and ready.state.cold_starts == ()
    assert ready.state.cold_start_bounds == ((0.0, (check - trigger).total_seconds()),)
    # Still loading at the check: polled every 10 s from then on.
    loading = apply_outcome(SHANGHAI, d.state, d.follow_up, CallResult(NOT_READY), check, check, SETTINGS)
    assert loading.follow_up.kind == "poll" and loading.follow_up.at == check + timedelta(seconds=10)


def test_a_check_that_finds_a_model_unpolled_past_a_known_release_still_loading_measures_no_load():
    # A copy of this model was found gone 3 idle minutes after a success: the trigger's
    # copy may have loaded, idled past its release and gone before the held check, which
    # then started another load. The cold start that ends is a bound (after the trigger's
    # answer, by the success), never an exact sample the lead would have to cover.
    trigger = opens(9) - LEAD
    check = opens(9) - MARGIN
    poll = check + timedelta(seconds=10)

    def measured(state):
        d = apply_outcome(SHANGHAI, state, Pending("a", "prewarm", trigger),
                          CallResult(NOT_READY, "ModelNotReadyException"), trigger, trigger, SETTINGS)
        waiting = Pending("c", "ready_check", check)  # wherever the plan put it
        loading = apply_outcome(SHANGHAI, d.state, waiting, CallResult(NOT_READY), check, check, SETTINGS)
        ready = apply_outcome(SHANGHAI, loading.state, loading.follow_up, CallResult(READY), poll, poll, SETTINGS)
        assert ready.state.warming_proven_until is None
        return loading.state, ready

    short = replace(ModelState(), release_found_cold_minutes=3.0)
    loading, ready = measured(short)
    assert loading.warming_proven_until == trigger
    assert ready.state.cold_starts == () and ready.state.cold_start_bounds == ((0.0, (poll - trigger).total_seconds()),)
    assert next(e for e in ready.events if e.kind == "cold_start").detail["exact"] is False
    # Held, the next poll is answered only when the load ends: still a bound, not exact.
    held = apply_outcome(SHANGHAI, loading, Pending("p", "poll", poll), CallResult(READY), poll,
                         poll + timedelta(seconds=30), SETTINGS)
    assert held.state.cold_starts == () and len(held.state.cold_start_bounds) == 1
    # Nothing known of a release shorter than the wait: the configured one is trusted, and
    # the load ran from the trigger to the success, measured to a poll (a slow load must
    # lengthen the next lead).
    loading, ready = measured(ModelState())
    assert loading.warming_proven_until is None
    seconds, wait = (poll - trigger).total_seconds(), (check - trigger).total_seconds()
    assert ready.state.cold_starts_unpolled == ((seconds, wait),)
    assert load_samples(SHANGHAI, ready.state, SETTINGS) == ((seconds,), ())
    told = next(e for e in ready.events if e.kind == "cold_start").detail
    assert told == {"seconds": seconds, "exact": True, "unpolled_seconds": wait}
    # A release learned later (a copy found gone 6 idle minutes after a success, a
    # keep-alive of 2) makes that wait one a copy may not have lived through: the sample
    # is a bound from then on, and no longer holds the lead up.
    learned = replace(ready.state, release_found_cold_minutes=6.0, learned_keepalive_minutes=2,
                      learned_release_minutes=6)
    assert load_samples(SHANGHAI, learned, SETTINGS) == ((), ((0.0, seconds),))
    assert prewarm_lead(SHANGHAI, learned, SETTINGS) < prewarm_lead(SHANGHAI, ready.state, SETTINGS)


def test_a_load_is_judged_stuck_by_the_time_it_was_watched_not_by_the_held_checks_wait():
    # A lead of 25 minutes (a big model): the held-back check goes out 24 minutes after the
    # trigger, past max_cold_start_seconds (15 min), and finds the model loading. That wait
    # is the plan's, not a sign of a stuck load (and may hold a new load): polled on. Only
    # after max_cold_start_seconds of polling is the load given up on.
    trigger = opens(9) - timedelta(minutes=25)
    d = apply_outcome(SHANGHAI, ModelState(), Pending("a", "prewarm", trigger),
                      CallResult(NOT_READY, "ModelNotReadyException"), trigger, trigger, SETTINGS)
    check = opens(9) - MARGIN
    assert (check - trigger).total_seconds() > SETTINGS.max_cold_start_seconds
    step = apply_outcome(SHANGHAI, d.state, Pending("c", "ready_check", check), CallResult(NOT_READY), check, check,
                         SETTINGS)
    assert step.state.status == "warming" and step.follow_up.kind == "poll"
    assert not [e for e in step.events if e.kind == "error"]
    while step.state.status == "warming":
        at = step.follow_up.at
        step = apply_outcome(SHANGHAI, step.state, step.follow_up, CallResult(NOT_READY), at, at, SETTINGS)
    assert step.state.status == "error" and "did not become ready" in step.state.error
    watched = (at - check).total_seconds()
    assert SETTINGS.max_cold_start_seconds < watched <= SETTINGS.max_cold_start_seconds + SETTINGS.poll_seconds


@pytest.mark.parametrize("stop", ["09:10", "09:13", "10:00", "18:00", "18:03", "18:04"])
def test_the_ready_check_goes_out_the_margin_before_the_open_whatever_the_close(stop):
    # With users calling from the open, every minute billed before it is paid for: the
    # grid's slack before the open is free only to a model nobody calls.
    from chalicelib.timeline import next_hold

    config = replace(SHANGHAI, windows=[{"days": "MON-FRI", "start": "09:00", "stop": stop}])
    hold = next_hold(config, ModelState(), utc(9, 0, 0), LEAD)
    assert ready_check_at(config, ModelState(), hold, SETTINGS) == hold.open - MARGIN
    assert ready_check_at(PLAIN, ModelState(), hold, SETTINGS) is None


def test_learned_lead_is_bounded():
    slow = ModelState(cold_starts=(2000.0,) * 5, cold_start_count=5)
    assert prewarm_lead(SHANGHAI, slow, SETTINGS) == timedelta(seconds=SETTINGS.lead_max_seconds)


@pytest.mark.parametrize("last_success, now, at", [
    # Far from the close: the ordinary 14 minutes.
    (utc(9, 9, 0), utc(9, 9, 1), utc(9, 9, 14)),
    # 09:40 + 14 would be 09:54; instead the last call goes at 09:46 (close - 14), which
    # covers the window to 10:00 and lets the copy go at 10:01 rather than 10:09.
    (utc(9, 9, 40), utc(9, 9, 41), utc(9, 9, 46)),
    # Overdue for the tight end: now.
    (utc(9, 9, 33), utc(9, 9, 47), utc(9, 9, 47)),
])
def test_the_last_keepalive_of_a_window_is_as_early_as_still_covers_it(last_success, now, at):
    action = next_call(SHANGHAI, warm_since(last_success), now, SETTINGS)
    assert (action.kind, action.at) == ("keepalive", at)


def test_after_the_tight_last_call_nothing_until_the_next_window():
    action = next_call(SHANGHAI, warm_since(utc(9, 9, 46)), utc(9, 9, 47), SETTINGS)
    assert (action.kind, action.at) == ("prewarm", opens(10) - LEAD)


def test_a_keepalive_that_finds_the_model_cold_shortens_the_interval():
    state = replace(warm_since(utc(9, 3, 0)), pending=Pending("k", "keepalive", utc(9, 3, 14)))
    d = apply_outcome(SHANGHAI, state, state.pending, CallResult(NOT_READY, "ModelNotReadyException"),
                      utc(9, 3, 14), utc(9, 3, 14), SETTINGS)
    event = next(e for e in d.events if e.kind == "unexpected_cold")
    # Below the gap at once (a third of it), not by halves over several cold starts.
    assert event.detail == {"gap_seconds": 840.0, "keepalive_minutes_before": 14,
                            "keepalive_minutes_after": 4, "release_minutes_assumed": 14}
    assert d.state.learned_keepalive_minutes == 4
    assert "found the model cold" in d.state.keepalive_reason
    assert d.state.status == "warming"  # and the cold start is being waited out
    # Once warm again, keep-alives come every 4 minutes.
    warm = replace(d.state, status="warm", last_success_at=utc(9, 3, 15, 30), warming_since=None,
                   pending=None)
    assert next_call(SHANGHAI, warm, utc(9, 3, 16), SETTINGS).at == utc(9, 3, 19, 30)


def test_a_cold_model_found_cold_is_no_surprise():
    state = ModelState(pending=Pending("w", "warmup", utc(9, 3, 0)))
    d = apply_outcome(SHANGHAI, state, state.pending, CallResult(NOT_READY, "ModelNotReadyException"),
                      utc(9, 3, 0), utc(9, 3, 0), SETTINGS)
    assert all(e.kind != "unexpected_cold" for e in d.events)
    assert d.state.learned_keepalive_minutes is None


# -- schedules that (almost) never close --------------------------------------------------
ALL_DAY = replace(SHANGHAI, timezone="Europe/London",
                  windows=[{"days": "MON-SUN", "start": "00:00", "stop": "23:59"}])
ALWAYS = replace(SHANGHAI, timezone="Europe/London", windows=[{"start": "00:00", "stop": "24:00"}])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("config", [ALL_DAY, ALWAYS], ids=["00:00-23:59", "00:00-24:00"])
def test_a_model_held_around_the_clock_is_called_every_keepalive(config):
    # A week from Saturday: the night the clocks go forward in London included.
    now, state = datetime(2026, 3, 28, 10, tzinfo=UTC), ModelState()
    calls = []
    while now < datetime(2026, 4, 4, 10, tzinfo=UTC):
        action = next_call(config, state, now, SETTINGS)
        assert action is not None
        calls.append(action.at)
        now, state = action.at, warm_since(action.at)
    gaps = {b - a for a, b in zip(calls, calls[1:])}
    assert gaps == {timedelta(minutes=14)}
    assert len(calls) == 7 * 24 * 60 // 14 + 1


def test_an_excluded_day_inside_round_the_clock_weekdays_removes_that_day_only():
    # Mon-Fri around the clock in London, with Easter Monday (6 April 2026) a holiday.
    config = replace(SHANGHAI, timezone="Europe/London", holidays={"country": "GB", "subdiv": "ENG"},
                     windows=[{"days": "MON-FRI", "start": "00:00", "stop": "24:00"}])
    # Thursday 2 April, 23:50 BST, warm since the hold's last keep-alive (23:46 BST): Good
    # Friday (3 April) and Easter Monday are holidays, so nothing more until the pre-warm
    # for Tuesday 00:00 BST.
    last = datetime(2026, 4, 2, 22, 46, tzinfo=UTC)
    action = next_call(config, warm_since(last), last + timedelta(minutes=4), SETTINGS)
    assert (action.kind, action.at) == ("prewarm", datetime(2026, 4, 6, 23, tzinfo=UTC) - LEAD)
    assert not wanted(config, ModelState(), datetime(2026, 4, 6, 12, tzinfo=UTC), SETTINGS)
    assert wanted(config, ModelState(), datetime(2026, 4, 7, 12, tzinfo=UTC), SETTINGS)
    # An exclude_dates entry on a Wednesday is honoured, not ignored inside the merged week.
    wednesday = replace(config, holidays=None, exclude_dates=("2026-04-08",))
    last = datetime(2026, 4, 7, 22, 46, tzinfo=UTC)
    action = next_call(wednesday, warm_since(last), last + timedelta(minutes=4), SETTINGS)
    assert (action.kind, action.at) == ("prewarm", datetime(2026, 4, 8, 23, tzinfo=UTC) - LEAD)
    assert not wanted(wednesday, ModelState(), datetime(2026, 4, 8, 12, tzinfo=UTC), SETTINGS)
    assert wanted(wednesday, ModelState(), datetime(2026, 4, 9, 12, tzinfo=UTC), SETTINGS)


def test_a_window_beyond_the_horizon_is_looked_at_again_in_time():
    from chalicelib.planner import with_next_due

    leap = replace(SHANGHAI, timezone="UTC", windows=[{"warm": "0 9 29 2 *", "stop": "0 18 29 2 *"}])
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert next_call(leap, ModelState(), now, SETTINGS) is None  # 2028 is past the horizon
    due = with_next_due(leap, ModelState(), now, SETTINGS).next_due_at
    assert due is not None and now < due <= now + timedelta(days=31)
    # Looked at again within the horizon, the pre-warm is found.
    action = next_call(leap, ModelState(), datetime(2027, 6, 1, tzinfo=UTC), SETTINGS)
    assert action.at == datetime(2028, 2, 29, 9, tzinfo=UTC) - LEAD
    assert with_next_due(replace(leap, enabled=False), ModelState(), now, SETTINGS).next_due_at is None


# -- a cold start is measured whole, whatever happens to the plan meanwhile ---------------
def test_a_replanned_cold_start_keeps_its_start():
    from chalicelib.planner import drop_claim

    poll = Pending("p1", "poll", utc(9, 1, 0, 40))
    warming = ModelState(status="warming", warming_since=utc(9, 1, 0, 0), last_call_at=utc(9, 1, 0, 30),
                         pending=poll)
    # A lease or a PUT at 01:00:40 drops the queued poll; the new plan calls at once.
    replanned = drop_claim(warming)
    assert replanned.status == "warming" and replanned.warming_since == utc(9, 1, 0, 0)
    action = Pending("w1", "warmup", utc(9, 1, 0, 41))
    still = apply_outcome(SHANGHAI, replanned, action, CallResult(NOT_READY), utc(9, 1, 0, 41),
                          utc(9, 1, 0, 41), SETTINGS)
    assert still.state.warming_since == utc(9, 1, 0, 0)
    assert [e.kind for e in still.events] == ["call"]  # no second "cold" for the same load
    ready = apply_outcome(SHANGHAI, still.state, still.follow_up, CallResult(READY), utc(9, 1, 0, 51),
                          utc(9, 1, 0, 51), SETTINGS)
    assert ready.state.cold_starts == (51.0,)
