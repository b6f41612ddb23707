"""Faults: at-least-once delivery, crashes between a call and its record, and an
imported model that throttles, errors, stalls, disappears or refuses us."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from chalicelib.queue import WorkMessage
from chalicelib.store import StateConflict
from conftest import ARN_LLAMA
from helpers import HANDLED, at, call_times, calls, events, lead, register, show
from local.harness import sqs_event, tick_event

ARNS = [f"arn:aws:bedrock:us-west-2:123456789012:imported-model/fault{i:07d}" for i in range(8)]


def test_two_ticks_at_once_enqueue_each_call_once(client, runtime, simulator, sim_queue, clock):
    for i, arn in enumerate(ARNS):
        simulator.add_model(arn, load_seconds=30)
        register(client, model_arn=arn, name=f"m{i}")
    clock.set(at(8, 56))
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(runtime.ticker.run(at(8, 56))))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.enqueued for r in reports) == len(ARNS)
    assert sorted(m.model for _, _, m in sim_queue.sent) == sorted(f"m{i}" for i in range(len(ARNS)))


def test_an_old_message_arriving_after_a_newer_one_is_dropped(client, driver, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(8, 57))
    client.lambda_.invoke("tick", tick_event(at(8, 57)))
    _, first = sim_queue.pop()
    client.lambda_.invoke("worker", sqs_event(first))  # not ready: a poll is queued
    driver.run_until(at(8, 58, 30))  # the poll chain has moved on
    before = show(client, "llama")
    n = len(calls(simulator, ARN_LLAMA))
    # SQS hands over the very first message again, long after (out of order).
    assert client.lambda_.invoke("worker", sqs_event(first, receive_count=2)).payload == HANDLED
    assert len(calls(simulator, ARN_LLAMA)) == n
    assert show(client, "llama") == before


class SaveFailsOnce:
    """A store whose next save raises ``error``: RuntimeError as if the Lambda died before
    its write landed, StateConflict as if another writer (an API call) landed between the
    worker's read and its write."""

    def __init__(self, store, error: Exception):
        self.store, self.error = store, error

    def __getattr__(self, name):
        return getattr(self.store, name)

    def save(self, model, expected_version):
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.store.save(model, expected_version)


def test_a_worker_that_dies_after_the_answer_costs_one_call_and_loses_nothing(
        client, driver, runtime, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=25)
    register(client, model_arn=ARN_LLAMA, name="llama", billing_aware_prewarm=False)
    trigger = at(9) - lead(client, "llama")
    driver.run_until(trigger + timedelta(seconds=25))  # warming: polls every 10 s
    clock.set(trigger + timedelta(seconds=30))
    _, body = sim_queue.pop()  # the poll that will find the model ready
    real = runtime.store
    runtime.store = SaveFailsOnce(real, RuntimeError("Lambda timed out"))
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("worker", sqs_event(body))
    runtime.store = real
    assert call_times(simulator, ARN_LLAMA, "ready") == [trigger + timedelta(seconds=30)]
    assert show(client, "llama")["state"]["status"] == "warming"  # the answer never landed
    # SQS redelivers it: the model is called again and the cold start is recorded once.
    clock.set(trigger + timedelta(seconds=60))
    assert client.lambda_.invoke("worker", sqs_event(body, receive_count=2)).payload == HANDLED
    state = show(client, "llama")["state"]
    assert state["status"] == "warm" and state["cold_starts"]["count"] == 1
    # Found ready only after the redelivery's silence: known to lie between the last poll
    # that found it loading and the answer.
    measured, = [e for e in events(client, "llama") if e["kind"] == "cold_start"]
    assert measured["exact"] is False and 25 <= measured["seconds"] <= 60 and measured["after_seconds"] <= 25
    assert len(call_times(simulator, ARN_LLAMA, "ready")) == 2


def test_a_conditional_write_conflict_is_retried_on_fresh_state(client, runtime, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(8, 57))
    client.lambda_.invoke("tick", tick_event(at(8, 57)))
    _, body = sim_queue.pop()
    runtime.store = SaveFailsOnce(runtime.store, StateConflict("someone else wrote first"))
    assert runtime.worker.handle(WorkMessage.from_body(body)) == "not_ready"
    assert show(client, "llama")["state"]["status"] == "warming"
    assert len(sim_queue) == 1


def test_a_model_comes_back_through_throttling_and_server_errors(client, driver, simulator, clock):
    # 20% throttled and 10% server errors, on every model, all morning.
    for i, arn in enumerate(ARNS):
        simulator.add_model(arn, load_seconds=60 + 10 * i, throttle_rate=0.2, error_rate=0.1, seed=i)
        register(client, model_arn=arn, name=f"m{i}")
    driver.run_until(at(12))
    for i, arn in enumerate(ARNS):
        state = show(client, f"m{i}")["state"]
        assert state["status"] == "warm", (i, state)
        ready = call_times(simulator, arn, "ready")
        # Bound: ready within 6 minutes of the window opening, despite the faults.
        assert ready[0] <= at(9, 6), (i, ready[0])
        outcomes = {c["outcome"] for c in calls(simulator, arn)}
        assert outcomes & {"throttled", "error", "unavailable"}
    codes = {e.get("code") for i in range(len(ARNS)) for e in events(client, f"m{i}")}
    assert {"ThrottlingException"} <= codes


def test_answers_slower_than_the_client_timeout_count_as_loading_until_they_come(client, driver, runtime,
                                                                                 simulator, clock):
    from dataclasses import replace

    from chalicelib.bedrock import Invoker

    runtime.settings = replace(runtime.settings, invoke_read_timeout_seconds=1)
    runtime.invoker = Invoker(runtime.settings)
    simulator.add_model(ARN_LLAMA, load_seconds=30, slow_seconds=1.5)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(8, 57, 20))
    simulator.set_faults(ARN_LLAMA, slow_seconds=0)
    driver.run_until(at(9, 5))
    kinds = [(e.get("code"), e.get("outcome")) for e in events(client, "llama") if e["kind"] == "call"]
    assert ("ReadTimeoutError", "not_ready") in kinds  # polled, not backed off
    assert show(client, "llama")["state"]["status"] == "warm"


def warm_until_ten_then(client, driver, simulator, **faults) -> int:
    """A model warm since its window opened, given ``faults`` at 10:00; returns how many
    calls it had by then."""
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(10))
    simulator.set_faults(ARN_LLAMA, **faults)
    return len(calls(simulator, ARN_LLAMA))


def test_access_revoked_mid_window_does_not_hot_loop(client, driver, simulator):
    n = warm_until_ten_then(client, driver, simulator, denied=True)
    driver.run_until(at(17, 59))
    # One refused keep-alive, then nothing for the rest of the window.
    assert len(calls(simulator, ARN_LLAMA)) == n + 1
    state = show(client, "llama")["state"]
    assert state["status"] == "error" and state["error"].startswith("AccessDeniedException")
    # Access restored overnight: the next morning's pre-warm brings it back by itself.
    simulator.set_faults(ARN_LLAMA, denied=False)
    driver.run_until(at(9, 5, day=1))
    assert show(client, "llama")["state"]["status"] == "warm"
    assert at(9, day=1) - call_times(simulator, ARN_LLAMA)[n + 1] == lead(client, "llama")


def test_a_failing_container_keeps_the_copy_warm_shows_the_error_and_is_not_retried(client, driver, simulator):
    n = warm_until_ten_then(client, driver, simulator, model_error=True)
    driver.run_until(at(11))
    state = show(client, "llama")["state"]
    # Warm (the copy answered, and the keep-alives still hold it), and the error is shown;
    # not ready: a call made now would fail.
    assert state["status"] == "warm" and state["ready"] is False
    assert state["error"].startswith("ModelErrorException: ")
    # One call a keep-alive interval, no backoff retries; still loaded in the simulator.
    failed = calls(simulator, ARN_LLAMA)[n:]
    assert [c["outcome"] for c in failed] == ["model_error"] * len(failed) and 4 <= len(failed) <= 5
    gaps = {b - a for a, b in zip(call_times(simulator, ARN_LLAMA)[n:], call_times(simulator, ARN_LLAMA)[n + 1:])}
    assert gaps == {timedelta(minutes=14)}
    assert simulator.inspect(ARN_LLAMA)["state"] == "loaded" and len(simulator.inspect(ARN_LLAMA)["copies"]) == 1
    assert [e["kind"] for e in events(client, "llama")].count("model_error") == 1
    # The container recovers: the next keep-alive clears the error.
    simulator.set_faults(ARN_LLAMA, model_error=False)
    driver.run_until(at(11, 15))
    state = show(client, "llama")["state"]
    assert state["status"] == "warm" and state["error"] is None
