"""Warm in fact, not in name: every answer is read for what it proves.

Scenarios on the simulated clock through the real Api, Ticker and Worker against the
imported-model simulator (called in this process, held calls taking their time on the
caller's clock as over HTTP): a model in each cold mode (a 429 at once, or the call held
while a copy loads), with copies released after 5, 15 or 60 idle minutes, loading in 45 s
or in a heavy-tailed 7 minutes. Judged from the simulator's own record of its copies,
not from what keepwarm believes: the share of each window a copy was loaded, the cold
starts keepwarm recorded against the copies that loaded, and the keep-alive it learned.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import pytest

from chalicelib.api import Api
from conftest import ARN_LLAMA
from chalicelib.loop import Ticker, Worker
from chalicelib.queue import WorkMessage
from chalicelib.records import parse_iso
from chalicelib.settings import Settings
from chalicelib.store import MemoryStore
from chalicelib.timeline import window_intervals
from local.harness import Driver, SimQueue, SimulatorInvoker
from local.simulator import ManualClock, Simulator

UTC = timezone.utc
START = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)  # a Monday; the windows are 09:00-18:00 UTC
DAYS = 2
ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/evidence0001"
OTHER = "arn:aws:bedrock:us-west-2:123456789012:imported-model/evidence0002"
LOADS: dict[str, Any] = {
    "45s": 45.0,
    # Heavy-tailed: a median of 7 minutes, one load in twenty over 16.
    "7min": {"kind": "lognormal", "median": 420.0, "sigma": 0.5},
}


@dataclass
class Run:
    api: Api
    simulator: Simulator
    store: MemoryStore
    driver: Driver
    clock: ManualClock
    settings: Settings


USER = "user-request:"  # a queued body that is a user's call, which keepwarm never sees
PING = b'{"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}'


def new_run(start: datetime = START, users: Sequence[tuple[str, datetime]] = ()) -> Run:
    logging.getLogger("keepwarm").setLevel(logging.WARNING)
    clock = ManualClock(start)
    simulator = Simulator(clock=clock.now, seed=3)
    settings = Settings(table_name="evidence", queue_url="simulated")
    store = MemoryStore()
    invoker = SimulatorInvoker(simulator, clock.now, read_timeout=settings.invoke_read_timeout_seconds)
    queue = SimQueue(invoker.now)
    ticker = Ticker(store, queue, settings, clock.now)
    worker = Worker(store, queue, invoker, settings, invoker.now)  # type: ignore[arg-type]

    for arn, instant in users:
        queue.push_body(instant, USER + arn)

    def work(body: str) -> Any:
        if body.startswith(USER):
            return simulator.invoke(body[len(USER):], PING, access_key="USERS")
        invoker.begin()
        return worker.handle(WorkMessage.from_body(body))

    def tick(at: datetime) -> Any:
        invoker.begin()
        return ticker.run(at)

    driver = Driver(clock, queue, tick=tick, work=work, earliest_due=store.earliest_due)
    return Run(Api(store, settings, dispatcher=ticker), simulator, store, driver, clock, settings)


def loaded_share(simulator: Simulator, arn: str, opened: datetime, closed: datetime, end: datetime) -> float:
    """The share of the window some copy was loaded, by the simulator's record."""
    covered = timedelta(0)
    for copy in simulator.inspect(arn)["copies"]:
        if copy["loaded_at"] is None:
            continue
        start = max(opened, parse_iso(copy["loaded_at"]))
        stop = min(closed, parse_iso(copy["released_at"]) if copy["released_at"] else end)
        covered += max(timedelta(0), stop - start)
    return covered / (closed - opened)


def events_of(store: MemoryStore, name: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in store.events(name, 10_000) if e["kind"] == kind]


@pytest.mark.parametrize("load", sorted(LOADS))
@pytest.mark.parametrize("release", [5, 15, 60])
@pytest.mark.parametrize("mode", ["reject", "hold"])
def test_each_window_is_loaded_and_every_cold_copy_is_seen(mode: str, release: int, load: str):
    run = new_run()
    end = START + timedelta(days=DAYS)
    run.simulator.add_model(ARN, LOADS[load], release_seconds=release * 60, cold_mode=mode)
    run.api.register({"model_arn": ARN, "name": "m", "timezone": "UTC",
                      "windows": [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]}, run.clock.now())
    run.driver.run_until(end)

    model = run.store.get("m")
    windows = [(i.open, i.close) for i in window_intervals(model.config, START, end)]
    shares = [loaded_share(run.simulator, ARN, o, c, end) for o, c in windows]
    assert len(shares) == DAYS
    # Only the first window may lose readiness while the release is learned, and it
    # keeps at least 85 % of its time loaded; every later one is loaded throughout.
    assert shares[0] >= 0.85, shares
    assert all(share >= 0.999 for share in shares[1:]), shares

    # Every copy that answered a call is a cold start keepwarm recorded (one that loaded and
    # was released before any call reached it answered nothing); a call held while a copy
    # loaded is timed exactly, from sending to answer (never a bound from the day before).
    copies = [c for c in run.simulator.inspect(ARN)["copies"] if c["first_success_at"] is not None]
    cold_starts = events_of(run.store, "m", "cold_start")
    assert model.state.cold_start_count == len(copies), (cold_starts, copies)
    held = [e for e in cold_starts if e.get("held")]
    assert all(e["exact"] for e in held), held
    if mode == "hold" and load == "45s":
        # Loads shorter than the read timeout end in a held answer: all but a held-back
        # ready-check's load are held ones, each the load's own length.
        assert len(held) >= len(copies) - DAYS and all(44 <= e["seconds"] <= 46 for e in held), held

    unexpected = events_of(run.store, "m", "unexpected_cold")
    if release == 5:
        # Learned from the first copy found gone, in either mode: the keep-alive is below
        # the release from then on.
        assert 1 <= len(unexpected) <= 2, unexpected
        assert model.state.learned_keepalive_minutes is not None and model.state.learned_keepalive_minutes < 5
        # Below the release assumed (the longest gap a copy was found gone after).
        assert run.store.region_releases()["us-west-2"] < run.settings.default_release_minutes
    else:
        assert unexpected == []
        assert model.state.learned_keepalive_minutes is None


@pytest.mark.parametrize("mode", ["reject", "hold"])
def test_users_keepwarm_cannot_see_never_make_a_short_release_look_long(mode: str):
    # Users call through each window's first 40 minutes, then go quiet. Their calls keep
    # the copy loaded across keepwarm's own idle gaps, so a keep-alive answered warm after
    # 14 minutes proves nothing about a release of 5: what keepwarm learns from the copy
    # it finds gone must not be undone by such an answer, nor the region's prior waived.
    rng = random.Random(7)
    users: list[tuple[str, datetime]] = []
    for day in range(3):
        at = START + timedelta(days=day, hours=3, seconds=20)
        while at < START + timedelta(days=day, hours=3, minutes=40):
            users.append((ARN, at))
            at += timedelta(seconds=rng.uniform(60, 200))
    run = new_run(users=users)
    run.simulator.add_model(ARN, LOADS["45s"], release_seconds=300, cold_mode=mode)
    run.api.register({"model_arn": ARN, "name": "m", "timezone": "UTC",
                      "windows": [{"days": "MON-FRI", "start": "09:00", "stop": "12:00"}]}, run.clock.now())
    end = START + timedelta(days=3)
    run.driver.run_until(end)
    model = run.store.get("m")
    windows = [(i.open, i.close) for i in window_intervals(model.config, START, end)]
    shares = [loaded_share(run.simulator, ARN, o, c, end) for o, c in windows]
    assert len(shares) == 3 and all(share >= 0.999 for share in shares[1:]), shares
    # And no user of a later window met a cold model (a 429, or a call held while a copy loaded).
    later = [c for c in run.simulator.inspect(ARN)["calls"]
             if c.get("access_key") == "USERS" and parse_iso(c["at"]) >= windows[1][0]]
    assert later and all(c["outcome"] == "ready" and c["answered_at"] == c["at"] for c in later), later
    assert model.state.learned_keepalive_minutes is not None and model.state.learned_keepalive_minutes < 5


def test_a_held_poll_after_a_held_back_check_records_the_unpolled_wait():
    # Held calls, loads of 90 s (past the 60-s read timeout), copies released after 5 idle
    # minutes: the trigger's copy loads and is gone before the check a minute before the
    # open, which starts another load. The held poll that ends it times the whole span,
    # exact only while no release shorter than the check's wait is known: recorded with
    # that wait, and kept out of the fleet's pool of load times.
    run = new_run()
    run.simulator.add_model(ARN, 90.0, release_seconds=300, cold_mode="hold")
    run.api.register({"model_arn": ARN, "name": "m", "timezone": "UTC",
                      "windows": [{"start": "09:00", "stop": "10:00"}]}, run.clock.now())
    opens = START + timedelta(hours=3)
    run.driver.run_until(opens + timedelta(minutes=3))
    calls = [c for c in run.simulator.inspect(ARN)["calls"]]
    trigger, check = parse_iso(calls[0]["at"]), parse_iso(calls[1]["at"])
    assert check == opens - timedelta(seconds=run.settings.ready_check_margin_seconds)
    (cold_start,) = events_of(run.store, "m", "cold_start")
    wait = (check - trigger).total_seconds() - run.settings.invoke_read_timeout_seconds
    assert cold_start["exact"] is True and cold_start["unpolled_seconds"] == wait
    assert cold_start["seconds"] > wait + 90  # the trigger's load and the check's, end to end
    copies = run.simulator.inspect(ARN)["copies"]
    assert len(copies) == 2 and parse_iso(copies[1]["load_started_at"]) == check  # the check's own load
    assert run.store.get("m").state.cold_starts_unpolled == ((cold_start["seconds"], wait),)
    assert run.store.fleet_loads() == {}


def test_what_one_model_learns_of_the_release_is_the_prior_of_the_others_in_its_region():
    run = new_run()
    run.simulator.add_model(ARN, 45.0, release_seconds=300, cold_mode="hold")
    run.simulator.add_model(OTHER, 45.0, release_seconds=300, cold_mode="hold")
    run.api.register({"model_arn": ARN, "name": "first", "timezone": "UTC",
                      "windows": [{"start": "09:00", "stop": "12:00"}]}, run.clock.now())
    run.driver.run_until(START + timedelta(hours=7))  # 13:00: the first has learned
    assert run.store.get("first").state.learned_keepalive_minutes is not None

    shown = run.api.register({"model_arn": OTHER, "name": "second", "timezone": "UTC",
                              "windows": [{"start": "14:00", "stop": "17:00"}]}, run.clock.now())
    assert shown["state"]["keepalive_minutes_in_force"] < 5
    assert shown["state"]["release_learning"]["region_found_cold_after_minutes"] is not None
    run.driver.run_until(START + timedelta(hours=12))
    opened, closed = START + timedelta(hours=8), START + timedelta(hours=11)
    assert loaded_share(run.simulator, OTHER, opened, closed, run.clock.now()) >= 0.999
    assert events_of(run.store, "second", "unexpected_cold") == []


def test_a_call_event_says_what_the_answer_proves():
    run = new_run()
    run.simulator.add_model(ARN, 45.0, release_seconds=300, cold_mode="hold")
    run.api.register({"model_arn": ARN, "name": "m", "timezone": "UTC",
                      "windows": [{"start": "09:00", "stop": "10:00"}]}, run.clock.now())
    run.driver.run_until(START + timedelta(hours=4))
    calls = events_of(run.store, "m", "call")
    assert {c["evidence"] for c in calls} == {"warm", "cold"}
    for call in calls:
        # A held answer met a cold copy; a quick one a loaded copy.
        assert call["evidence"] == ("cold" if call["latency_ms"] > 5000 else "warm"), call
    shown = run.api.show("m", run.clock.now())["state"]
    assert shown["warm_latency"]["samples"] >= 1 and shown["warm_latency"]["cold_above_ms"] == 5000


# -- windows shorter than a billing period's worth of keep-alive --------------------------
@pytest.mark.parametrize("minutes", [10, 23, 44, 59, 79])
def test_a_window_is_billed_the_least_the_platform_allows_and_cost_says_so(minutes: int):
    run = new_run(datetime(2026, 3, 9, 0, 0, tzinfo=UTC))
    run.simulator.add_model(ARN, 45.0, release_seconds=900, cmus=1)
    stop = datetime(2026, 3, 9, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    run.api.register({"model_arn": ARN, "name": "short", "timezone": "UTC", "custom_model_units": 1,
                      "windows": [{"start": "09:00", "stop": f"{stop:%H:%M}"}]}, run.clock.now())
    # A first day teaches the load; the second day is the one billed.
    day = timedelta(days=1)
    run.driver.run_until(run.clock.now() + day)
    before = run.simulator.inspect(ARN)["billed_cmu_minutes"]
    estimate = run.api.cost("short", {"days": "1"}, run.clock.now())
    run.driver.run_until(run.clock.now() + day)
    billed = run.simulator.inspect(ARN)["billed_cmu_minutes"] - before
    # The least: a copy loaded from before the open until the close, released 15 minutes
    # after its last call, which must be at or after close - keep-alive (14 min).
    least = max(15, -(-(1 + minutes - 14 + 15) // 5) * 5)
    assert billed == least
    assert estimate["billed_minutes"] == billed



# -- health changes only with an answer ---------------------------------------------------
def test_a_lease_on_a_failing_model_verifies_it_and_warm_wait_fails_fast(client, driver, simulator, clock,
                                                                        monkeypatch, capsys):
    import json

    from helpers import at, events, register, send, show
    from keepwarm_client import cli as cli_module
    from keepwarm_client import client as client_module

    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="m")
    driver.run_until(at(9, 5))
    simulator.set_faults(ARN_LLAMA, model_error=True)  # the container now fails every call
    driver.run_until(at(9, 30))
    state = show(client, "m")["state"]
    assert "ModelErrorException" in state["error"] and state["ready"] is False

    def call(self, method, path, body=None, query=None):  # the CLI's HTTP, through the app
        response = send(client, method, path, body)
        if response.status_code >= 300:
            raise client_module.KeepwarmError(response.status_code, None, json.dumps(response.json_body))
        return response.json_body

    def sleep(seconds):  # the CLI's wait, on the simulated clock
        driver.run_until(clock.now() + timedelta(seconds=seconds))

    monkeypatch.setattr(client_module.KeepwarmClient, "_call", call)
    monkeypatch.setattr(client_module.time, "sleep", sleep)
    taken_at = clock.now()
    code = cli_module.main(["--url", "http://keepwarm.invalid", "warm", "m", "--minutes", "30", "--wait",
                            "--poll", "5", "--timeout", "600"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "is ready" not in out and "ModelErrorException" in err
    # The lease planned a verification call at once, and only its answer spoke.
    since = [e for e in reversed(events(client, "m")) if e["at"] >= taken_at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    kinds = [e["kind"] for e in since]
    assert "lease_created" in kinds and "call" in kinds
    assert not {"error_cleared", "lease_ready", "warm"} & set(kinds), kinds
    verification = next(e for e in since if e["kind"] == "call")
    assert verification["outcome"] == "model_error" and verification["evidence"] == "warm"
    assert instant_of(verification["at"]) - taken_at < timedelta(seconds=30)


def test_a_put_or_a_warm_override_never_clears_an_error(client, driver, simulator, clock):
    from helpers import at, events, register, send, show

    simulator.add_model(ARN_LLAMA, load_seconds=30, denied=True)
    register(client, model_arn=ARN_LLAMA, name="m")
    driver.run_until(at(9, 5))
    assert show(client, "m")["state"]["status"] == "error"
    assert send(client, "PUT", "/models/m", {"keepalive_minutes": 10}).status_code == 200
    until = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert send(client, "PUT", "/models/m/override", {"state": "warm", "until": until}).status_code == 200
    assert show(client, "m")["state"]["status"] == "error"
    assert "error_cleared" not in [e["kind"] for e in events(client, "m")]
    simulator.set_faults(ARN_LLAMA, denied=False)  # fixed: the next answer, and only it, clears the error
    driver.run_until(clock.now() + timedelta(minutes=3))
    state = show(client, "m")["state"]
    assert state["status"] in ("warming", "warm") and state["error"] is None


def instant_of(text: str) -> datetime:
    return parse_iso(text)  # type: ignore[return-value]


# -- the lead copes with a load unlike the others -----------------------------------------
@pytest.mark.parametrize("billing_aware, release", [(False, 15), (True, 5)])
def test_one_load_much_slower_than_predicted_moves_the_next_openings_lead_to_cover_it(billing_aware, release):
    run = new_run()
    heavy = LOADS["7min"]
    run.simulator.add_model(ARN, heavy, release_seconds=release * 60, cold_mode="reject")
    # Not billing-aware, its lead is the 95th percentile of its loads; billing-aware, the
    # 99th, with a check held back that a copy released after 5 idle minutes must not miss.
    run.api.register({"model_arn": ARN, "name": "m", "timezone": "UTC", "billing_aware_prewarm": billing_aware,
                      "windows": [{"start": "09:00", "stop": "10:00"}]}, run.clock.now())
    day = timedelta(days=1)
    run.driver.run_until(START + day)
    lead_before = run.api.show("m", run.clock.now())["state"]["prewarm_lead_seconds"]
    slow = 780.0  # 13 minutes: far beyond the 7-minute loads seen so far
    if not billing_aware:
        assert slow > lead_before
    run.simulator.set_load(ARN, slow)
    run.driver.run_until(START + 2 * day)
    from chalicelib.planner import load_samples

    model = run.store.get("m")
    exact, _ = load_samples(model.config, model.state, run.settings)
    assert max(exact) >= slow - run.settings.poll_seconds
    lead_after = run.api.show("m", run.clock.now())["state"]["prewarm_lead_seconds"]
    assert lead_after >= slow + run.settings.poll_seconds
    run.simulator.set_load(ARN, heavy)
    run.driver.run_until(START + 3 * day)
    # The next opening is ready and stays loaded, whatever the heavy tail draws.
    opened = START + 2 * day + timedelta(hours=3)
    assert loaded_share(run.simulator, ARN, opened, opened + timedelta(hours=1), run.clock.now()) >= 0.999


# -- the recovery rule --------------------------------------------------------------------
def warm_model(learned_keepalive: int, learned_release: int, last_success: datetime):
    from chalicelib.records import ModelConfig, ModelState

    config = ModelConfig(name="m", model_arn=ARN, timezone="UTC", windows=[{"start": "00:00", "stop": "24:00"}])
    state = ModelState(status="warm", last_success_at=last_success, warm_since=last_success,
                       learned_keepalive_minutes=learned_keepalive, learned_release_minutes=learned_release)
    return config, state


def answer(config, state, at: datetime, outcome: str = "ready"):
    from chalicelib.planner import CallResult, apply_outcome
    from chalicelib.records import Pending

    settings = Settings(table_name="t", queue_url="q")
    return apply_outcome(config, state, Pending("a", "keepalive", at), CallResult(outcome), at, at, settings)


def test_the_keepalive_recovers_only_to_gaps_a_warm_answer_proved_safe():
    from chalicelib.planner import keepalive_in_force

    t0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    config, state = warm_model(4, 14, t0)
    state = replace(state, release_found_cold_minutes=14.0)
    # Keep-alives every 4 minutes prove only 4 minutes: no growth.
    state = answer(config, state, t0 + timedelta(minutes=4)).state
    assert keepalive_in_force(config, state) == 4 and state.release_proven_minutes == 4
    # A copy that answered warm after 9 idle minutes (a lease after a pause, a probe):
    # the keep-alive grows to a minute inside what was proven.
    state = answer(config, state, state.last_success_at + timedelta(minutes=9)).state
    assert keepalive_in_force(config, state) == 8 and "grown from 4 to 8" in state.keepalive_reason
    # 14 idle minutes answered warm: the gap found cold was not the release (or the
    # platform changed); it is forgotten, and the keep-alive grows to 13.
    state = answer(config, state, state.last_success_at + timedelta(minutes=14)).state
    assert keepalive_in_force(config, state) == 13 and state.release_found_cold_minutes is None
    # 15: the configured keep-alive is proven safe; back to it.
    state = answer(config, state, state.last_success_at + timedelta(minutes=15)).state
    assert keepalive_in_force(config, state) == 14 and state.learned_release_minutes is None
    assert state.keepalive_reason.startswith("back to 14 min")
    # A copy found after a silence longer than twice the release proves nothing.
    assert answer(config, state, state.last_success_at + timedelta(minutes=31)).state.release_proven_minutes == 15


def test_a_gap_once_proven_but_now_found_cold_no_longer_counts_as_proven():
    t0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    config, state = warm_model(4, 14, t0)
    state = answer(config, state, t0 + timedelta(minutes=9)).state
    assert state.release_proven_minutes == 9
    found = answer(config, state, state.last_success_at + timedelta(minutes=9), outcome="not_ready")
    assert [e.kind for e in found.events if e.kind == "unexpected_cold"] == ["unexpected_cold"]
    assert found.state.release_proven_minutes is None and found.state.learned_keepalive_minutes == 3


def test_a_keepalive_shortened_by_a_cold_start_does_not_regrow_on_a_proof_made_before_it():
    # A keep-alive answered warm 13.5 minutes after a success while users (whom keepwarm
    # cannot see) kept the copy loaded; later one 14 minutes after finds the copy gone. The
    # keep-alive drops to 4, and the next warm answer 4 minutes on must not bring it back to
    # 12 on the strength of the older "proof": the copy is released after 5 idle minutes.
    from chalicelib.planner import keepalive_in_force

    t0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    config, state = warm_model(14, 15, t0)
    state = replace(state, learned_keepalive_minutes=None, learned_release_minutes=None)
    state = answer(config, state, t0 + timedelta(minutes=13.5)).state
    assert state.release_proven_minutes == 13.5
    found = answer(config, state, state.last_success_at + timedelta(minutes=14), outcome="not_ready").state
    assert keepalive_in_force(config, found) == 4 and found.release_proven_minutes is None
    loaded = answer(config, replace(found, status="warm", last_success_at=t0 + timedelta(minutes=29)),
                    t0 + timedelta(minutes=33)).state
    assert keepalive_in_force(config, loaded) == 4 and loaded.release_proven_minutes == 4


def test_a_warm_answer_does_not_waive_the_regions_prior_but_a_probe_does():
    # Another model of the region found a copy gone 5.5 idle minutes after a success: this
    # one's keep-alive starts at a third of that. A keep-alive of its own answered warm
    # after 6 minutes proves nothing its users may not have done; a probe that saw a copy
    # of it survive 8 idle minutes does.
    from chalicelib.planner import keepalive_in_force, release_in_force
    from chalicelib.probe import DONE, Probe

    t0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    config, state = warm_model(14, 15, t0)
    state = replace(state, learned_keepalive_minutes=None, learned_release_minutes=None, region_release_minutes=5.5)
    assert (keepalive_in_force(config, state), release_in_force(config, state)) == (1, 5)
    state = answer(config, state, t0 + timedelta(minutes=6)).state
    assert state.release_proven_minutes == 6
    assert (keepalive_in_force(config, state), release_in_force(config, state)) == (1, 5)
    probed = replace(state, probe=Probe(status=DONE, started_at=t0, gaps_minutes=(4, 8, 16), held_minutes=8.0))
    assert (keepalive_in_force(config, probed), release_in_force(config, probed)) == (14, 15)
    assert keepalive_in_force(config, replace(probed, probe=replace(probed.probe, held_minutes=4.0))) == 1


def test_a_region_keeps_the_shortest_gap_found_cold(table):
    from chalicelib.store import DynamoStore

    for store in (MemoryStore(), DynamoStore(table.name)):
        assert store.region_releases() == {}
        store.add_region_release("us-west-2", 14.0)
        store.add_region_release("us-west-2", 20.0)
        store.add_region_release("eu-west-1", 9.5)
        assert store.region_releases() == {"us-west-2": 14.0, "eu-west-1": 9.5}
        store.add_region_release("us-west-2", 4.0)
        assert store.region_releases()["us-west-2"] == 4.0


def test_a_verification_is_one_call_however_it_is_answered():
    from chalicelib.planner import THROTTLED, CallResult, apply_outcome, next_call
    from chalicelib.records import Pending

    settings = Settings(table_name="t", queue_url="q")
    t0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    config, state = warm_model(14, 15, t0)
    state = replace(state, status="error", error="ThrottlingException: gave up", error_kind="transient",
                    error_at=t0, verify_requested_at=t0 + timedelta(minutes=1))
    assert next_call(config, state, t0 + timedelta(minutes=1), settings).at == t0 + timedelta(minutes=1)
    # Throttled to the last attempt: in error again, and no hot loop of verifications.
    last = Pending("v", "warmup", t0 + timedelta(minutes=1), attempt=settings.max_attempts - 1)
    at = t0 + timedelta(minutes=2)
    decided = apply_outcome(config, state, last, CallResult(THROTTLED, "ThrottlingException", "slow down"),
                            at, at, settings)
    assert decided.state.status == "error" and decided.state.verify_requested_at is None
    assert next_call(config, decided.state, at, settings).at == at + timedelta(minutes=14)
