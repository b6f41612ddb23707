"""Metrics as CloudWatch extracts them from the functions' log lines (EMF), through the
routes, tick and worker as Lambda runs them, on a simulated clock against the simulator."""
from __future__ import annotations

from collections import Counter

import pytest

from chalicelib import telemetry
from chalicelib.records import Event, Model, ModelConfig, ModelState, parse_iso
from chalicelib.settings import Settings
from conftest import ARN_LLAMA
from emf import data, select
from helpers import at, events, register
from local.harness import sqs_event, tick_event

SERVICE = {"service": "keepwarm"}


def test_a_slow_cold_start_is_measured_and_the_window_it_kept_waiting_counted(client, driver, simulator, capsys):
    # Fifteen minutes to load, longer than any lead: ready minutes after 09:00.
    simulator.add_model(ARN_LLAMA, load_seconds=900)
    register(client, model_arn=ARN_LLAMA, name="llama")
    capsys.readouterr()
    driver.run_until(at(9, 30))
    found = data(capsys.readouterr().out)
    model = {"model": "llama", **SERVICE}
    happened = events(client, "llama")
    outcomes = Counter(e["outcome"] for e in happened if e["kind"] == "call")
    (cold_start,) = [e for e in happened if e["kind"] == "cold_start"]

    assert outcomes["not_ready"] >= 20  # a poll every 10 s
    assert sum(select(found, "Calls", outcome="not_ready", **model)) == outcomes["not_ready"]
    assert sum(select(found, "Calls", outcome="ready", **model)) == outcomes["ready"] >= 2
    assert select(found, "ColdStarts", **model) == [1]
    (seconds,) = select(found, "ColdStartSeconds", **model)
    assert seconds == cold_start["seconds"] and 900 <= seconds <= 910
    (waited,) = select(found, "NotReadySeconds", **model)
    # From 09:00, when the window opened, to the first answer.
    assert waited == pytest.approx((parse_iso(cold_start["at"]) - at(9)).total_seconds(), abs=0.01)
    assert 0 < waited < seconds
    # The fleet's totals, which the alarms watch, carry the same figures without the model.
    assert select(found, "ColdStartSeconds", **SERVICE) == [seconds]
    assert select(found, "NotReadySeconds", **SERVICE) == [waited]
    assert sum(select(found, "Calls", outcome="ready", **SERVICE)) == outcomes["ready"]
    assert {d.unit for d in found if d.name == "ColdStartSeconds"} == {"Seconds"}
    assert {d.namespace for d in found} == {"keepwarm"}


def test_a_model_ready_by_the_open_kept_no_window_waiting(client, driver, simulator, capsys):
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    register(client, model_arn=ARN_LLAMA, name="llama")
    capsys.readouterr()
    driver.run_until(at(9, 5))
    found = data(capsys.readouterr().out)
    assert select(found, "ColdStarts", model="llama", **SERVICE) == [1]
    assert select(found, "NotReadySeconds", **SERVICE) == []


def test_every_tick_reports_what_it_did_how_late_and_how_long(client, simulator, clock, capsys):
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(8, 56, 2))  # two seconds after its scheduled time
    capsys.readouterr()
    client.lambda_.invoke("tick", tick_event(at(8, 56)))
    found = data(capsys.readouterr().out)
    assert select(found, "TickDue", **SERVICE) == [1]
    assert select(found, "TickEnqueued", **SERVICE) == [1]
    assert select(found, "TickConflicts", **SERVICE) == select(found, "TickFailures", **SERVICE) == [0]
    assert select(found, "TickLag", **SERVICE) == [2.0]
    (duration,) = select(found, "TickDuration", **SERVICE)
    assert 0 < duration < 30
    assert select(found, "ModelsInError", **SERVICE) == [0]


def test_unexpected_colds_and_errors_are_counted_and_the_models_in_error_reported(client, driver, simulator,
                                                                                 capsys):
    # Copies go after 10 idle minutes, not 15: a keep-alive finds the model cold.
    simulator.add_model(ARN_LLAMA, load_seconds=30, release_seconds=600)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 30))
    simulator.set_faults(ARN_LLAMA, denied=True)
    driver.run_until(at(10))
    client.lambda_.invoke("tick", tick_event(at(10)))
    found = data(capsys.readouterr().out)
    model = {"model": "llama", **SERVICE}
    assert select(found, "UnexpectedColds", **model) == [1]
    assert select(found, "Errors", **model) == [1]  # access denied
    assert select(found, "ModelsInError", **SERVICE)[-1] == 1
    assert select(found, "ModelsInError", **SERVICE)[0] == 0


def test_a_dead_lettered_call_is_counted_for_its_model(client, simulator, clock, capsys):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    body = '{"model": "llama", "id": "nope", "kind": "keepalive", "at": "2026-03-09T08:00:00Z", "attempt": "x"}'
    capsys.readouterr()
    with pytest.raises(Exception):
        client.lambda_.invoke("worker", sqs_event(body, receive_count=5))
    found = data(capsys.readouterr().out)
    assert select(found, "DeadLetters", model="llama", **SERVICE) == [1]
    assert select(found, "Errors", **SERVICE) == [1]


def test_metrics_never_fail_what_they_measure(client, driver, simulator, caplog, monkeypatch):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")

    def broken(*args, **kwargs):
        raise RuntimeError("stdout is gone")

    monkeypatch.setattr(telemetry, "emit", broken)
    driver.run_until(at(9, 5))
    assert client.http.get("/models/llama").json_body["state"]["status"] == "warm"
    assert "metrics_failed" in caplog.messages


def test_metrics_can_be_switched_off(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    telemetry.emit([telemetry.document({"Calls": ("Count", [1])}, model="m", outcome="ready")])
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    telemetry.emit([telemetry.document({"Calls": ("Count", [1])}, model="m", outcome="ready")])
    assert [d.key for d in data(capsys.readouterr().out)] == [
        ("keepwarm", "Calls", frozenset({"model", "outcome", "service"})),
        ("keepwarm", "Calls", frozenset({"outcome", "service"}))]


def test_a_cold_start_outside_any_hold_kept_nobody_waiting():
    config = ModelConfig(name="m", model_arn=ARN_LLAMA, timezone="UTC", windows=[{"start": "09:00", "stop": "18:00"}])
    ended = Event(at(20), "cold_start", {"seconds": 90.0})
    assert telemetry.not_ready_seconds(Model(config, ModelState()), ended, Settings("t", "q")) == 0


def test_an_invocations_metrics_wait_for_its_end_but_never_pile_up(capsys):
    outbox = telemetry.Outbox()
    one = telemetry.document({"Calls": ("Count", [1])}, model="m", outcome="ready")
    outbox.add([one])
    assert capsys.readouterr().out == ""
    outbox.flush()
    assert len(data(capsys.readouterr().out)) == 2  # by model, and the fleet's
    outbox.add([one] * (telemetry.Outbox.LIMIT - 1))
    assert capsys.readouterr().out == ""
    outbox.add([one])  # a simulation with no handler to flush: written as they come
    assert len(data(capsys.readouterr().out)) == 2 * telemetry.Outbox.LIMIT
