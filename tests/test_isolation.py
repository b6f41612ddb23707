"""Nothing one model holds may freeze or stall the service for the others.

A schedule that is (almost) always open, a stored model whose planning fails, or one whose
planning runs past its time budget: the tick goes on with the rest, the worker drops the
call without a redelivery storm, the API still shows the model with the reason, and every
request answers."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import schedule as schedule_module
from chalicelib.planner import PLANNING_ERRORS
from chalicelib.queue import WorkMessage
from chalicelib.records import Model, ModelConfig, ModelState, Pending
from conftest import ARN_LLAMA, ARN_QWEN
from helpers import HANDLED, at, call_times, events, lead, register, send, show
from local.harness import sqs_event, tick_event

ALL_DAY = [{"days": "MON-SUN", "start": "00:00", "stop": "23:59"}]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("windows", [
    ALL_DAY,
    [{"start": "00:00", "stop": "24:00"}],
    [{"start": "09:00", "stop": "12:00"}, {"start": "12:01", "stop": "08:59"}],  # a minute apart
    [{"days": "MON-FRI", "start": "00:00", "stop": "23:58"}],
], ids=["00:00-23:59", "00:00-24:00", "minute-gaps", "weekdays-2-minute-gap"])
def test_a_model_held_around_the_clock_is_registered_and_kept_warm(client, driver, simulator, windows):
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    model = register(client, model_arn=ARN_LLAMA, name="llama", windows=windows)
    assert model["state"]["window_open"] is True
    assert client.http.get("/models/llama/windows?days=14").status_code == 200
    assert send(client, "GET", "/models/llama/cost?days=366").status_code in (200, 502)
    driver.run_until(at(16))
    successes = call_times(simulator, ARN_LLAMA, "ready")
    gaps = {b - a for a, b in zip(successes, successes[1:])}
    assert successes and max(gaps) <= timedelta(minutes=14)
    assert show(client, "llama")["state"]["status"] == "warm"


@pytest.mark.timeout(60)
def test_an_all_day_model_registered_with_an_exclusion_keeps_being_planned_past_it(client, driver,
                                                                                   simulator, clock):
    # The excluded day ends the merged hold, so registering it was always quick; once the
    # clock passes that day, planning has to stay bounded too.
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    simulator.add_model(ARN_QWEN, load_seconds=60)
    register(client, model_arn=ARN_LLAMA, name="llama", windows=ALL_DAY, exclude_dates=["2026-03-10"])
    register(client, model_arn=ARN_QWEN, name="qwen")  # 09:00-18:00 London, weekdays
    clock.set(at(23, day=1))
    driver.run_until(at(12, day=2))
    assert show(client, "llama")["state"]["status"] == "warm"
    assert call_times(simulator, ARN_QWEN, "ready")[-1] >= at(11, day=2)
    next_prewarm = at(0, day=2) - lead(client, "llama")
    assert not [t for t in call_times(simulator, ARN_LLAMA) if at(0, day=1) <= t < next_prewarm]


def broken(name: str, arn: str, windows: list) -> Model:
    """A model as it might sit in the table after a bad migration: its windows no longer parse."""
    config = ModelConfig(name=name, model_arn=arn, timezone="UTC", windows=windows)
    return Model(config, ModelState(next_due_at=at(8, 56)))


def test_a_model_whose_planning_fails_is_put_in_error_and_the_tick_goes_on(client, runtime, simulator,
                                                                           sim_queue, clock):
    simulator.add_model(ARN_QWEN, load_seconds=30)
    runtime.store.create(broken("llama", ARN_LLAMA, [{"start": "9am", "stop": "18:00"}]))
    register(client, model_arn=ARN_QWEN, name="qwen")
    clock.set(at(8, 56))
    report = client.lambda_.invoke("tick", tick_event(at(8, 56))).payload
    assert report["failed"] == 1 and report["enqueued"] == 1
    assert [m.model for _, _, m in sim_queue.sent] == ["qwen"]
    # The broken one shows why, and is not retried every minute.
    state = show(client, "llama")["state"]
    assert state["status"] == "error" and "planning failed" in state["error"] and "9am" in state["error"]
    assert state["next_action"] is None
    assert "error" in [e["kind"] for e in events(client, "llama")]
    clock.set(at(8, 57))
    assert client.lambda_.invoke("tick", tick_event(at(8, 57))).payload["failed"] == 0


def test_the_worker_drops_a_call_for_a_model_whose_planning_fails(client, runtime, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    model = runtime.store.create(broken("llama", ARN_LLAMA, [{"warm": "0 9 * *", "stop": "0 18 * * *"}]))
    pending = Pending("a1", "warmup", at(9))
    runtime.store.save(replace(model, state=replace(model.state, pending=pending)), model.state.version)
    clock.set(at(9))
    result = client.lambda_.invoke("worker", sqs_event(WorkMessage("llama", pending).to_body())).payload
    assert result == HANDLED  # no redelivery, no dead-letter storm
    assert simulator.inspect(ARN_LLAMA)["calls"] == []
    assert show(client, "llama")["state"]["status"] == "error"


def test_a_model_whose_planning_overruns_its_budget_is_skipped(client, runtime, simulator, sim_queue,
                                                               clock, monkeypatch):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    simulator.add_model(ARN_QWEN, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama",
             windows=[{"warm": "0 9 * * 1-5", "stop": "0 18 * * 1-5"}])
    register(client, model_arn=ARN_QWEN, name="qwen")
    # From now on every step of llama's cron search takes 50 ms: its planning cannot finish
    # within a 0.5 s budget, however the search is arranged.
    slow_step = schedule_module._step

    def step(expr, wall, forward):
        if expr.endswith("1-5"):
            time.sleep(0.05)
            schedule_module.check()
        return slow_step.__wrapped__(expr, wall, forward)

    monkeypatch.setattr(schedule_module, "_step", step)
    runtime.settings = replace(runtime.settings, plan_budget_seconds=0.5)
    clock.set(at(8, 56))
    started = time.monotonic()
    report = client.lambda_.invoke("tick", tick_event(at(8, 56))).payload
    assert time.monotonic() - started < 5
    assert report["failed"] == 1 and report["enqueued"] == 1
    assert [m.model for _, _, m in sim_queue.sent] == ["qwen"]
    monkeypatch.setattr(schedule_module, "_step", slow_step)
    state = show(client, "llama")["state"]
    assert state["status"] == "error" and "PlanningOverrun" in state["error"]
    # A PUT that fixes the schedule clears it at once.
    fixed = send(client, "PUT", "/models/llama", {"windows": [{"days": "MON-FRI", "start": "09:00",
                                                               "stop": "18:00"}]})
    assert fixed.status_code == 200 and fixed.json_body["state"]["status"] != "error"


def test_planning_errors_cover_what_a_bad_stored_schedule_raises():
    from chalicelib.timeline import next_window

    config = ModelConfig(name="x", model_arn=ARN_LLAMA, timezone="Mars/Olympus", windows=ALL_DAY)
    with pytest.raises(PLANNING_ERRORS):
        next_window(config, at(9))


def test_a_lease_while_the_model_loads_does_not_restart_its_cold_start(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=90)
    register(client, model_arn=ARN_LLAMA, name="llama", billing_aware_prewarm=False)  # polled throughout
    trigger = at(9) - lead(client, "llama")
    driver.run_until(trigger + timedelta(seconds=40))  # the pre-warm found it cold
    assert show(client, "llama")["state"]["status"] == "warming"
    assert send(client, "POST", "/models/llama/leases", {"minutes": 60}).status_code == 201
    driver.run_until(trigger + timedelta(seconds=50))
    assert send(client, "PUT", "/models/llama", {"keepalive_minutes": 13}).status_code == 200
    driver.run_until(at(9, 30))
    cold = show(client, "llama")["state"]["cold_starts"]
    # Loaded 90 s after the pre-warm: measured from the first "not ready", not from the
    # lease or the PUT.
    assert cold["count"] == 1 and 90 <= cold["last_seconds"] <= 90 + 10
    assert [e["kind"] for e in events(client, "llama")].count("cold") == 1


def test_an_all_day_registration_body_round_trips_through_the_api(client, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    body = register(client, model_arn=ARN_LLAMA, name="llama", windows=[{"start": "00:00", "stop": "24:00"}])
    assert body["windows"] == [{"days": "*", "start": "00:00", "stop": "24:00"}]
    windows = client.http.get("/models/llama/windows?from=2026-03-09T00:00:00Z&days=3").json_body
    assert len(windows["windows"]) == 1
    assert json.loads(json.dumps(windows))["windows"][0]["open"] <= "2026-03-09T00:00:00Z"
