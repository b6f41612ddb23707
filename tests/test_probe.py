"""Measuring the platform: ``POST /models/{model}/probe`` on the simulated clock, through the
real routes, tick and worker, against the simulator in each of its cold modes (429 at
once, or the call held until a copy loads) and with copies released after 5 and 15 idle
minutes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import probe as probing
from conftest import ARN_LLAMA
from helpers import at, call_times, calls, events, register, send, show
from local.harness import Driver, SimQueue, SimulatorInvoker, sqs_event, tick_event
from test_api import documented

LOAD_SECONDS = 45
# Monday after the window: the next one opens on Tuesday at 09:00 (Europe/London is on UTC).
EVENING = at(18, 30)


def world(mode: str, client, runtime, clock, simulator) -> Driver:
    """The simulated clock's tick and worker. A held call takes its time on its worker's
    clock only (as a Lambda's wait would), so in hold mode the simulator is called in
    process; a 429 needs no wait, so in reject mode the worker calls it over HTTP."""
    begin = lambda: None  # noqa: E731
    if mode == "hold":
        invoker = SimulatorInvoker(simulator, clock.now, read_timeout=runtime.settings.invoke_read_timeout_seconds)
        runtime.invoker, runtime.clock, runtime.queue = invoker, invoker.now, SimQueue(invoker.now)
        begin = invoker.begin

    def tick(when):
        begin()
        return client.lambda_.invoke("tick", tick_event(when)).payload

    def work(body):
        begin()
        return client.lambda_.invoke("worker", sqs_event(body)).payload

    return Driver(clock, runtime.queue, tick=tick, work=work, earliest_due=runtime.store.earliest_due)


def probe(client, name: str, **body):
    return send(client, "POST", f"/models/{name}/probe", body)


def probed(mode: str, client, runtime, clock, simulator, **sim) -> Driver:
    """A model free in the evening, probed from 18:30 (the driver not yet run)."""
    clock.set(EVENING)
    simulator.add_model(ARN_LLAMA, cold_mode=mode, **{"load_seconds": LOAD_SECONDS, **sim})
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver = world(mode, client, runtime, clock, simulator)
    assert probe(client, "llama").status_code == 202
    return driver


@pytest.mark.parametrize("mode", ["reject", "hold"])
@pytest.mark.parametrize("release_minutes, between, held_gaps, keepalive",
                         [(5, (4, 8), 1, 3), (15, (8, 16), 2, 7), (60, (32, 64), 4, 14)])
def test_a_probe_measures_the_release_the_cold_answer_the_load_and_the_warm_latency(
        client, runtime, clock, simulator, mode, release_minutes, between, held_gaps, keepalive):
    clock.set(EVENING)
    simulator.add_model(ARN_LLAMA, load_seconds=LOAD_SECONDS, release_seconds=release_minutes * 60, cold_mode=mode,
                        cmus=2)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver = world(mode, client, runtime, clock, simulator)
    before = show(client, "llama")

    # First what it will cost, changing nothing.
    dry = probe(client, "llama", dry_run=True)
    assert dry.status_code == 200, dry.body
    plan = dry.json_body["plan"]
    assert dry.json_body["dry_run"] is True and plan["gaps_minutes"] == [4, 8, 16, 32, 64]
    assert plan["copy_minutes_max"] == probing.copy_minutes_max((4, 8, 16, 32, 64), 15)
    assert plan["cmu_minutes_max"] == 2 * plan["copy_minutes_max"]
    driver.run_until(EVENING + timedelta(minutes=5))
    assert calls(simulator, ARN_LLAMA) == [] and show(client, "llama")["state"]["probe"] is None
    assert show(client, "llama")["state"]["next_action"] == before["state"]["next_action"]

    documented("POST", "/models/{model}/probe", dry)
    started = probe(client, "llama")
    assert started.status_code == 202, started.body
    assert started.json_body["probe"]["status"] == "running"
    documented("POST", "/models/{model}/probe", started)
    driver.run_until(EVENING + timedelta(minutes=40))
    documented("GET", "/models/{model}", client.http.get("/models/llama"))  # running
    driver.run_until(EVENING + timedelta(hours=4))
    documented("GET", "/models/{model}", client.http.get("/models/llama"))  # done

    state = show(client, "llama")["state"]
    shown = state["probe"]
    assert shown["status"] == "done", shown
    found = shown["findings"]
    low, high = between
    assert found["release_minutes"] == {"more_than": low, "at_most": high}
    assert low < release_minutes <= high
    assert found["cold_answer"] == ("429" if mode == "reject" else "held")
    # The load the cold call started, timed to the poll interval (a held call exactly).
    last_load = found["load_seconds"][-1]
    assert LOAD_SECONDS <= last_load <= LOAD_SECONDS + runtime.settings.poll_seconds
    assert found["warm_latency_ms"]["samples"] >= probing.WARM_SAMPLES
    assert found["warm_latency_ms"]["median"] < 5000
    assert [s["found"] for s in shown["steps"] if s["phase"] == "gap"] == ["warm"] * held_gaps + ["cold"]
    # Learned: the model keeps its copy only as long as a copy was seen to survive (never
    # longer than its settings say: 14 and 15 minutes).
    shorter = low < 15
    assert shown["learned"] == {"release_minutes": low if shorter else None,
                                "keepalive_minutes": keepalive if shorter else None}
    assert state["keepalive_minutes_in_force"] == keepalive and state["release_minutes_assumed"] == min(low, 15)
    assert ("probe" in state["keepalive_reason"]) if shorter else state["keepalive_reason"] is None
    kinds = [e["kind"] for e in events(client, "llama")]
    assert "probe_started" in kinds and "probe_done" in kinds
    # What it found is the region's prior too (the shortest idle gap found cold there), and
    # the warm answers it timed are the model's warm latency.
    assert runtime.store.region_releases()["us-west-2"] <= high
    assert state["warm_latency"]["samples"] >= probing.WARM_SAMPLES

    # It cost no more than it said, and never ran into the next window.
    assert simulator.inspect(ARN_LLAMA)["billed_minutes"] <= plan["copy_minutes_max"]
    assert max(call_times(simulator, ARN_LLAMA)) < EVENING + timedelta(hours=3)
    assert state["next_action"]["kind"] == "prewarm"


def test_a_load_longer_than_the_read_timeout_is_timed_through_held_polls(client, runtime, clock, simulator):
    # Seven minutes: every call is held until the read timeout, then polled again.
    driver = probed("hold", client, runtime, clock, simulator, load_seconds=420, release_seconds=300)
    driver.run_until(EVENING + timedelta(hours=1))
    shown = show(client, "llama")["state"]["probe"]
    assert shown["status"] == "done" and shown["findings"]["cold_answer"] == "held"
    assert shown["findings"]["release_minutes"] == {"more_than": 4, "at_most": 8}
    read_timeout = runtime.settings.invoke_read_timeout_seconds
    for load in shown["findings"]["load_seconds"]:
        assert 420 <= load <= 420 + read_timeout + runtime.settings.poll_seconds


def test_the_first_window_after_a_probe_is_kept_warm_with_the_measured_release(client, runtime, clock, simulator):
    # A 5-minute release in hold mode: nothing else would notice a keep-alive every 14
    # minutes finding the copy gone (each is held 45 s and answered).
    driver = probed("hold", client, runtime, clock, simulator, release_seconds=300)
    driver.run_until(at(9, 45, day=1))
    copies = simulator.inspect(ARN_LLAMA)["copies"]
    opened = [c for c in copies if c["load_started_at"] >= at(8, day=1).strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert len(opened) == 1 and opened[0]["released_at"] is None  # one copy, held through the window


def test_a_lease_that_comes_up_aborts_the_probe_and_is_served(client, runtime, clock, simulator):
    driver = probed("reject", client, runtime, clock, simulator, release_seconds=900)
    driver.run_until(EVENING + timedelta(minutes=10))
    assert show(client, "llama")["state"]["probe"]["status"] == "running"

    lease = send(client, "POST", "/models/llama/leases", {"minutes": 30})
    assert lease.status_code == 201
    shown = show(client, "llama")["state"]
    assert shown["probe"]["status"] == "aborted" and "lease" in shown["probe"]["reason"]
    assert shown["probe"]["learned"] is None and shown["keepalive_minutes_in_force"] == 14
    assert "probe_aborted" in [e["kind"] for e in events(client, "llama")]
    # Normal planning wins: the lease's keep-alives, at its interval, not the probe's gaps.
    driver.run_until(EVENING + timedelta(minutes=40))
    ready = [t for t in call_times(simulator, ARN_LLAMA, "ready") if t > EVENING + timedelta(minutes=10)]
    assert ready and all((b - a) <= timedelta(minutes=14) for a, b in zip(ready, ready[1:]))
    assert show(client, "llama")["state"]["next_action"]["kind"] != "probe"


def test_a_window_that_comes_up_aborts_the_probe(client, runtime, clock, simulator):
    driver = probed("reject", client, runtime, clock, simulator, release_seconds=7200)
    driver.run_until(EVENING + timedelta(minutes=6))
    # The schedule changes under the running probe: a window from 20:00.
    changed = send(client, "PUT", "/models/llama", {"windows": [{"start": "20:00", "stop": "21:00"}]})
    assert changed.status_code == 200
    driver.run_until(at(21))
    shown = show(client, "llama")["state"]["probe"]
    assert shown["status"] == "aborted" and "window" in shown["reason"]
    ready = call_times(simulator, ARN_LLAMA, "ready")
    assert any(at(19, 50) <= t <= at(20) for t in ready)  # the window was pre-warmed as always


@pytest.mark.parametrize("when, path, method, body, words", [
    (at(10), None, None, None, "a window of llama holds it now"),
    (EVENING, "/models/llama/leases", "POST", {"minutes": 30}, "a lease of llama holds it now"),
    (EVENING, "/models/llama/override", "PUT", {"state": "cold", "until": "2026-03-09T23:00:00Z"},
     "a cold override holds llama until 2026-03-09T23:00:00Z"),
    (EVENING, "/models/llama", "PUT", {"enabled": False}, "llama is paused"),
])
def test_a_probe_is_refused_while_anything_else_holds_the_model(client, clock, simulator, when, path, method, body,
                                                                words):
    simulator.add_model(ARN_LLAMA, load_seconds=LOAD_SECONDS)
    clock.set(when)
    register(client, model_arn=ARN_LLAMA, name="llama")
    if path is not None:
        assert send(client, method, path, body).status_code in (200, 201)
    before = show(client, "llama")
    for body in ({"dry_run": True}, {}):
        refused = probe(client, "llama", **body)
        assert refused.status_code == 409 and words in refused.json_body["Message"], refused.body
        documented("POST", "/models/{model}/probe", refused)
    after = show(client, "llama")
    assert after["state"]["probe"] is None and after["state"]["next_action"] == before["state"]["next_action"]


def test_a_probe_that_could_not_finish_before_the_next_window_is_refused(client, clock, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=LOAD_SECONDS)
    clock.set(at(7))  # two hours before the window, under the probe's longest run
    register(client, model_arn=ARN_LLAMA, name="llama")
    refused = probe(client, "llama")
    assert refused.status_code == 409
    assert "starts holding it at 2026-03-09T08:" in refused.json_body["Message"]
    assert "before a probe started now could finish" in refused.json_body["Message"]
    # Shorter gaps fit.
    assert probe(client, "llama", gaps_minutes=[2, 4, 8], dry_run=True).status_code == 200


def test_a_second_probe_is_refused_while_one_runs(client, clock, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=LOAD_SECONDS)
    clock.set(EVENING)
    register(client, model_arn=ARN_LLAMA, name="llama")
    assert probe(client, "llama").status_code == 202
    again = probe(client, "llama")
    assert again.status_code == 409 and "already running" in again.json_body["Message"]


@pytest.mark.parametrize("body, field", [
    ({"gaps_minutes": []}, "gaps_minutes"), ({"gaps_minutes": [8, 4]}, "gaps_minutes"),
    ({"gaps_minutes": [0, 4]}, "gaps_minutes"), ({"gaps_minutes": [4, 4.5]}, "gaps_minutes"),
    ({"gaps_minutes": [4, 181]}, "gaps_minutes"), ({"gaps_minutes": "4,8"}, "gaps_minutes"),
    ({"dry_run": "yes"}, "dry_run"), ({"gap": [4]}, "body"),
])
def test_a_bad_probe_request_is_a_400_naming_the_field(client, clock, simulator, body, field):
    clock.set(EVENING)
    register(client, model_arn=ARN_LLAMA, name="llama")
    refused = probe(client, "llama", **body)
    assert refused.status_code == 400 and refused.json_body["Message"].startswith(f"{field}: ")
    assert show(client, "llama")["state"]["probe"] is None


@given(gaps=st.lists(st.integers(1, 180), min_size=1, max_size=8, unique=True).map(sorted),
       release=st.integers(1, 180))
def test_the_worst_case_covers_every_release_the_gaps_can_meet(gaps, release):
    """Whatever the release, the copy-minutes a probe is billed (each copy in 5-minute
    windows from its first success until it idles out) stay within the stated worst case,
    when the release is within the assumed bound."""
    gaps = tuple(gaps)
    worst = probing.copy_minutes_max(gaps, 15)
    if release > max(15, max(gaps)):
        return  # beyond the bound the plan states
    samples = (probing.WARM_SAMPLES - 1) * probing.SAMPLE_SPACING.total_seconds() / 60
    spent = samples
    billed = 0
    for gap in gaps:
        if release < gap:  # this gap finds the copy released
            billed = probing._billed(spent + release) + probing._billed(release)
            break
        spent += gap
    else:
        billed = probing._billed(spent + release)
    assert billed <= worst
