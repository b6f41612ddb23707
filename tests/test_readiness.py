"""The readiness record of a window, from the evidence of the calls around it: examples of
what an operator reads (ready, late, never, cut short by a cold copy), properties of the
rule over any calls, and the tick's side: when a window is judged, and what is kept."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from chalicelib import readiness
from chalicelib.planner import JUDGE_AFTER, window_to_judge, with_next_due
from chalicelib.readiness import evidence, judge, summary, window_record
from chalicelib.records import READINESS_KEPT, Model, ModelConfig, ModelState, Override, WindowRecord, iso
from chalicelib.settings import Settings
from helpers import at

UTC = timezone.utc
COVER, GAP = timedelta(minutes=14), timedelta(minutes=15)
SETTINGS = Settings("t", "q")
ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/llama8b00001"


def call(when: datetime, outcome: str = "ready", latency_ms: int = 300, proved: Optional[str] = None) -> dict:
    event: dict[str, Any] = {"at": iso(when), "kind": "call", "action": "keepalive", "attempt": 0,
                             "outcome": outcome, "code": None, "latency_ms": latency_ms}
    if proved is not None:
        event["evidence"] = proved
    return event


def keepalives(first: datetime, last: datetime, every: timedelta = COVER) -> list[dict]:
    """Calls answered warm every ``every`` from ``first``, and the tight end at ``last``."""
    out, t = [], first
    while t < last:
        out.append(call(t))
        t += every
    return out + [call(last)]


def record(events: list[dict], opened: datetime = at(9), closed: datetime = at(18)) -> WindowRecord:
    return window_record(opened, closed, events, COVER, GAP, count_from=opened - timedelta(minutes=15))


# -- what an answer proves ------------------------------------------------------------------------
@pytest.mark.parametrize("event, proved", [
    ({"outcome": "ready", "latency_ms": 300}, "warm"),
    ({"outcome": "model_error", "latency_ms": 900}, "warm"),  # a loaded copy's container failed
    ({"outcome": "ready", "latency_ms": 45_000}, "none"),  # held: older events cannot say more
    ({"outcome": "not_ready", "latency_ms": 80}, "cold"),
    ({"outcome": "throttled", "latency_ms": 80}, "none"),
    ({"outcome": "fatal", "latency_ms": 80}, "none"),
    ({"outcome": "ready", "latency_ms": 45_000, "evidence": "cold"}, "cold"),  # the call says so itself
    ({"outcome": "ready", "latency_ms": 300, "evidence": "none"}, "none"),
])
def test_what_a_call_proves_is_its_own_evidence_else_read_from_its_outcome(event, proved):
    assert evidence({"kind": "call", **event}) == proved


# -- examples ---------------------------------------------------------------------------------------
def test_a_day_held_from_a_check_before_the_open_is_ready_and_verified_throughout():
    # The held ready-check at 08:56, keep-alives every 14 minutes, the last just covering 18:00.
    events = [call(at(8, 45), "not_ready", 80)] + keepalives(at(8, 56), at(17, 46))
    got = record(events)
    assert (got.ready_at_open, got.late_seconds) == (True, 0.0)
    assert got.verified_warm_minutes == 540 and got.verified_share == 1.0
    assert got.to_view() == {
        "window_open": "2026-03-09T09:00:00Z", "window_close": "2026-03-09T18:00:00Z", "ready_at_open": True,
        "late_seconds": 0.0, "verified_warm_minutes": 540.0, "verified_share": 1.0, "unexpected_cold": 0,
        "cold_starts": 0}


def test_a_copy_first_ready_after_the_open_is_late_by_that_much():
    polls = [call(at(8, 58, s), "not_ready", 80) for s in range(0, 60, 10)]
    polls += [call(at(8, 59, s), "not_ready", 80) for s in range(0, 60, 10)]
    events = polls + [call(at(9, 0, 20))] + keepalives(at(9, 14, 20), at(17, 46, 20))
    got = record(events)
    assert (got.ready_at_open, got.late_seconds) == (False, 20.0)
    assert got.verified_warm_minutes == pytest.approx(540 - 20 / 60, abs=0.001)


def test_an_answer_a_few_seconds_after_the_open_is_still_ready_at_it():
    assert record([call(at(9, 0, 5))] + keepalives(at(9, 14), at(17, 46))).ready_at_open is True
    late = record([call(at(9, 0, 6))] + keepalives(at(9, 14), at(17, 46)))
    assert (late.ready_at_open, late.late_seconds) == (False, 6.0)


def test_a_window_with_no_warm_answer_was_never_ready():
    got = record([call(at(9) + timedelta(seconds=10 * i), "not_ready", 80) for i in range(60)])
    assert (got.ready_at_open, got.late_seconds, got.verified_warm_minutes, got.verified_share) == (
        False, None, 0.0, 0.0)
    assert readiness.late_seconds(got) == 9 * 3600  # late its whole length


def test_a_keepalive_that_finds_the_copy_gone_ends_the_verified_span_at_the_answer_before():
    # Warm to 10:00; the 10:14 keep-alive finds it cold; ready again at 10:15.
    events = (keepalives(at(8, 56), at(10, 0)) + [call(at(10, 14), "not_ready", 80)]
              + [call(at(10, 14, 10 * i), "not_ready", 80) for i in range(1, 6)]
              + keepalives(at(10, 15), at(17, 46)))
    got = record(events + [{"at": iso(at(10, 14)), "kind": "unexpected_cold"},
                           {"at": iso(at(10, 15)), "kind": "cold_start", "seconds": 60.0},
                           {"at": iso(at(8, 30)), "kind": "cold_start", "seconds": 60.0}])  # before the lead
    assert got.ready_at_open and got.verified_warm_minutes == pytest.approx(540 - 15)
    assert (got.unexpected_cold, got.cold_starts) == (1, 1)


def test_held_keepalives_of_a_copy_released_early_verify_only_their_own_answers():
    # Released 5 minutes after each call: every 14-minute keep-alive is held 45 s while a
    # copy loads, and answers 200. Each proves a cold copy when sent, a loaded one when answered.
    held = [call(at(9, 10) + timedelta(minutes=14 * i, seconds=45), "ready", 45_000, "cold") for i in range(38)]
    got = record([call(at(8, 56))] + held)
    # 08:56's copy was gone by 09:10: nothing proves it still there at 09:00.
    assert (got.ready_at_open, got.late_seconds) == (False, 645.0)
    assert got.verified_share < 0.025  # the last answer's cover, 17:48:45 to the close
    # The same events from before calls carried their evidence prove nothing about the
    # held calls, so 08:56's cover stands: 09:00 to 09:10.
    older = record([call(at(8, 56))] + [{k: v for k, v in e.items() if k != "evidence"} for e in held])
    assert older.ready_at_open and older.verified_warm_minutes == pytest.approx(10)


def test_a_short_window_is_covered_by_the_check_before_it():
    # 09:00-09:10: a check at 08:55 and the tight end at 08:56; no call can follow the close.
    got = record([call(at(8, 55)), call(at(8, 56))], closed=at(9, 10))
    assert (got.ready_at_open, got.verified_share) == (True, 1.0)


# -- properties ---------------------------------------------------------------------------------------
OUTCOMES = ["ready", "model_error", "not_ready", "throttled", "transient", "fatal"]


@st.composite
def calls_around(draw, opened: datetime, closed: datetime) -> list[dict]:
    span = int((closed - opened).total_seconds())
    n = draw(st.integers(0, 40))
    out = []
    for _ in range(n):
        offset = draw(st.integers(-3600, span + 1800))
        outcome = draw(st.sampled_from(OUTCOMES))
        latency = draw(st.sampled_from([50, 300, 4_000, 45_000, 90_000]))
        proved = draw(st.sampled_from([None, None, "warm", "cold", "none"]))
        out.append(call(opened + timedelta(seconds=offset), outcome, latency, proved))
    return out


WINDOWS = st.integers(1, 24 * 60).map(lambda minutes: (at(9), at(9) + timedelta(minutes=minutes)))
COVERS = st.tuples(st.integers(1, 30), st.integers(1, 90)).map(
    lambda p: (timedelta(minutes=p[0]), timedelta(minutes=p[0] + p[1])))


def verified_seconds(r: WindowRecord) -> float:
    return r.verified_warm_minutes * 60


@hsettings(max_examples=300, deadline=None)
@given(data=st.data(), window=WINDOWS, cover=COVERS)
def test_verified_time_stays_within_the_window_and_ready_means_not_late(data, window, cover):
    opened, closed = window
    events = data.draw(calls_around(opened, closed))
    got = window_record(opened, closed, events, *cover)
    assert 0 <= got.verified_warm_minutes <= got.minutes + 1e-6
    assert 0 <= got.verified_share <= 1
    assert got.ready_at_open == (got.late_seconds == 0)
    if got.late_seconds is not None:
        assert 0 <= got.late_seconds <= got.minutes * 60
        assert got.ready_at_open or got.late_seconds > readiness.READY_GRACE.total_seconds()
    else:
        assert got.verified_warm_minutes == 0
    # Ready: a copy was verified at the open or within the grace after it.
    spans = readiness.verified_spans(events, *cover)
    assert got.ready_at_open == any(b >= opened and a <= opened + readiness.READY_GRACE and a < closed
                                    for a, b in spans)
    # The order the events are read in changes nothing.
    assert window_record(opened, closed, list(reversed(events)), *cover) == got


@hsettings(max_examples=300, deadline=None)
@given(data=st.data(), window=WINDOWS, cover=COVERS)
def test_a_window_with_no_warm_answer_is_never_ready(data, window, cover):
    opened, closed = window
    events = [e for e in data.draw(calls_around(opened, closed)) if evidence(e) != "warm"
              and not (evidence(e) == "cold" and e["outcome"] in ("ready", "model_error"))]
    got = window_record(opened, closed, events, *cover)
    assert (got.ready_at_open, got.late_seconds, got.verified_warm_minutes) == (False, None, 0)


@hsettings(max_examples=300, deadline=None)
@given(data=st.data(), window=WINDOWS, cover=COVERS)
def test_adding_a_cold_answer_never_makes_a_window_more_ready(data, window, cover):
    opened, closed = window
    events = data.draw(calls_around(opened, closed))
    offset = data.draw(st.integers(-3600, int((closed - opened).total_seconds()) + 1800))
    cold = call(opened + timedelta(seconds=offset), "not_ready", data.draw(st.sampled_from([50, 300, 60_000])),
                data.draw(st.sampled_from([None, "cold"])))
    before = window_record(opened, closed, events, *cover)
    after = window_record(opened, closed, [*events, cold], *cover)
    assert verified_seconds(after) <= verified_seconds(before) + 1e-6
    assert after.ready_at_open <= before.ready_at_open
    assert readiness.late_seconds(after) >= readiness.late_seconds(before)


# -- the summary --------------------------------------------------------------------------------------
def day(n: int, ready: bool, verified: float, late: Optional[float] = 0.0) -> WindowRecord:
    return WindowRecord(at(9, day=n), at(18, day=n), ready, 0.0 if ready else late, verified, 0, 0)


def test_the_summary_covers_the_last_seven_days_weighting_each_window_by_its_length():
    records = [day(0, False, 0.0, None), day(7, True, 540.0), day(8, False, 486.0, 300.0), day(9, True, 540.0)]
    got = summary(records, at(19, day=9))
    # Monday's window closed more than 7 days before: left out.
    assert got == {"openings": 3, "ready_at_open": 2, "late_seconds_max": 300.0,
                   "verified_share": round(1566 / 1620, 4)}
    assert summary([], at(12)) == {"openings": 0, "ready_at_open": 0, "late_seconds_max": None,
                                   "verified_share": None}
    assert summary([day(0, False, 0.0, None)], at(19))["late_seconds_max"] == 9 * 3600
    assert readiness.fleet_totals([got, got]) == {"openings": 6, "ready_at_open": 4, "days": 7}


def test_a_record_survives_the_states_round_trip():
    state = ModelState(readiness=(day(0, True, 540.0), day(1, False, 12.5, None)), readiness_until=at(18, day=1))
    assert ModelState.from_item(state.to_item()) == state


# -- the tick's side ----------------------------------------------------------------------------------
def model(**state: Any) -> Model:
    config = ModelConfig(name="llama", model_arn=ARN, timezone="Europe/London",
                         windows=[{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}], created_at=at(8))
    return Model(config, ModelState(**state))


def test_the_tick_looks_at_a_model_soon_after_its_window_closes():
    # Warm, last keep-alive 17:46: nothing to call until tomorrow's pre-warm, but the
    # window is judged at 18:02.
    warm = model(status="warm", last_success_at=at(17, 46))
    assert with_next_due(warm.config, warm.state, at(17, 47), SETTINGS).next_due_at == at(18) + JUDGE_AFTER
    judged = replace(warm.state, readiness_until=at(18))
    assert with_next_due(warm.config, judged, at(18, 3), SETTINGS).next_due_at > at(8, day=1)
    # Paused: nothing to judge, nothing due.
    paused = replace(warm.config, enabled=False)
    assert with_next_due(paused, warm.state, at(17, 47), SETTINGS).next_due_at is None


def test_judging_records_each_closed_window_once_and_keeps_the_latest():
    events = keepalives(at(8, 56), at(17, 46))
    before = model()
    assert judge(before, lambda since: events, at(18, 1), SETTINGS) == (before, [])  # not yet
    judged, told = judge(before, lambda since: events, at(18) + JUDGE_AFTER, SETTINGS)
    (kept,) = judged.state.readiness
    assert kept.ready_at_open and kept.verified_share == 1.0 and judged.state.readiness_until == at(18)
    assert [(e.kind, e.at, e.detail) for e in told] == [("window_ready", at(18), kept.to_view())]
    assert judge(judged, lambda since: events, at(18, 30), SETTINGS) == (judged, [])
    # A model not looked at for weeks is judged on its last two days' windows only; the
    # state keeps the latest READINESS_KEPT.
    late, told = judge(before, lambda since: [], at(19, day=15), SETTINGS)
    assert [e.at for e in told] == [at(18, day=14), at(18, day=15)]  # the Monday and Tuesday before
    assert all(e.kind == "window_not_ready" for e in told)
    many = replace(before.state, readiness=tuple(day(-20 + i, True, 540.0) for i in range(READINESS_KEPT)))
    trimmed, _ = judge(replace(before, state=many), lambda since: events, at(18, 5), SETTINGS)
    assert len(trimmed.state.readiness) == READINESS_KEPT and trimmed.state.readiness[-1].window_open == at(9)


def test_a_window_under_a_cold_override_or_open_at_registration_is_not_judged():
    cold = model(override=Override("cold", at(12), at(8, 30)))
    judged, told = judge(cold, lambda since: [], at(18, 5), SETTINGS)
    assert told == [] and judged.state.readiness == () and judged.state.readiness_until == at(18)
    registered = model()
    registered = replace(registered, config=replace(registered.config, created_at=at(10)))
    judged, told = judge(registered, lambda since: [], at(18, 5), SETTINGS)
    assert told == [] and judged.state.readiness_until is None


# -- what the API, the fleet and the CLI show ------------------------------------------------------
def test_the_model_the_fleet_and_the_page_show_the_records_kept():
    from chalicelib import fleetpage
    from chalicelib.api import Api
    from chalicelib.fleet import read_fleet, summary as fleet_summary
    from chalicelib.store import MemoryStore

    store = MemoryStore()
    api = Api(store, SETTINGS)
    hours = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]
    for name, model_id in (("alpha", "alpha0000000"), ("beta", "beta00000000"), ("new", "new000000000")):
        api.register({"model_arn": ARN.replace("llama8b00001", model_id), "name": name, "windows": hours}, at(8))
    now = at(19, day=2)
    kept = {"alpha": (day(0, True, 540.0), day(1, True, 540.0), day(2, True, 535.5)),
            "beta": (day(1, False, 400.0, 125.5), day(2, False, 0.0, None))}
    for name, records in kept.items():
        found = store.get(name)
        store.save(replace(found, state=replace(found.state, readiness=records)), found.state.version)

    shown = api.show("alpha", now)["readiness"]
    assert [r["window_open"] for r in shown["recent"]] == [iso(at(9, day=d)) for d in (2, 1, 0)]
    assert shown["recent"][0] == {"window_open": "2026-03-11T09:00:00Z", "window_close": "2026-03-11T18:00:00Z",
                                  "ready_at_open": True, "late_seconds": 0.0, "verified_warm_minutes": 535.5,
                                  "verified_share": 0.9917, "unexpected_cold": 0, "cold_starts": 0}
    assert shown["summary"] == {"openings": 3, "ready_at_open": 3, "late_seconds_max": 0.0,
                                "verified_share": round(1615.5 / 1620, 4)}
    assert api.show("new", now)["readiness"] == {"recent": [], "summary": {
        "openings": 0, "ready_at_open": 0, "late_seconds_max": None, "verified_share": None}}

    # The fleet reads it from each model's glance, kept when the model was saved.
    fleet = {entry.name: entry for entry in read_fleet(store, SETTINGS, now)}
    assert fleet["beta"].readiness == {"openings": 2, "ready_at_open": 0, "late_seconds_max": 9 * 3600.0,
                                       "verified_share": round(400 / 1080, 4)}
    assert fleet["new"].readiness["openings"] == 0
    facts = fleet_summary(list(fleet.values()), now)
    assert facts["readiness"] == {"openings": 5, "ready_at_open": 3, "days": 7}
    html = fleetpage.render_page(store, SETTINGS, now)
    assert re.search(r'data-count="readiness"><b>3 of 5</b>openings ready in 7 days', html)
    # Before any window was judged, /fleet and the page say nothing of it.
    store.delete("alpha"), store.delete("beta")
    assert "readiness" not in fleet_summary(read_fleet(store, SETTINGS, now), now)
    assert 'data-count="readiness"' not in fleetpage.render_page(store, SETTINGS, now)


def test_a_resumed_model_is_not_judged_on_the_windows_of_its_pause():
    from chalicelib.api import Api
    from chalicelib.store import MemoryStore

    store = MemoryStore()
    api = Api(store, SETTINGS)
    api.register({"model_arn": ARN, "name": "llama", "windows": [{"start": "09:00", "stop": "18:00"}],
                  "enabled": False}, at(8))
    api.update("llama", {"enabled": True}, at(12))  # inside the window: not warmed for its open
    model_ = store.get("llama")
    assert model_.state.readiness_until == at(12)
    assert window_to_judge(model_.config, model_.state, at(12)).open == at(9, day=1)  # the next to judge
    judged, told = judge(model_, lambda since: [], at(18, 5), SETTINGS)
    assert told == [] and judged.state.readiness == ()


def test_each_judged_window_is_a_share_and_a_lateness_metric():
    import json

    from chalicelib import telemetry
    from emf import data, select

    never = day(0, False, 0.0, None)
    late = day(1, False, 500.0, 125.5)
    events = [judge_event(never), judge_event(late)]
    found = data("\n".join(json.dumps(d) for d in telemetry.model_documents(model(), events, SETTINGS)))
    for dimensions in ({"model": "llama", "service": "keepwarm"}, {"service": "keepwarm"}):
        assert select(found, "WindowReadyShare", **dimensions) == [0.0, late.verified_share]
        # A window never verified warm was late its whole length.
        assert select(found, "WindowLateSeconds", **dimensions) == [9 * 3600.0, 125.5]
    assert {d.unit for d in found if d.name == "WindowLateSeconds"} == {"Seconds"}


def judge_event(kept: WindowRecord):
    from chalicelib.records import Event

    return Event(kept.window_close, "window_ready" if kept.ready_at_open else "window_not_ready", kept.to_view())
