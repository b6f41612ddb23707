"""The whole loop on a simulated clock: register -> tick -> worker -> imported model.

The routes, ``tick`` and ``worker`` run through Chalice's test client as Lambda would run
them; DynamoDB is moto's server and the model is the simulator, both over HTTP; only time
(and with it SQS's delays) is simulated.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from chalice.test import Client

from app import app
from chalicelib.queue import SendsOneByOne
from conftest import ARN_LLAMA, ARN_QWEN
from helpers import HANDLED, at, call_times, calls, events, iso_z, lead, register, show
from local.harness import sqs_event, tick_event


def test_a_business_day_from_registration_to_the_window_close(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=67)
    register(client, model_arn=ARN_LLAMA, name="llama")
    state = show(client, "llama")["state"]
    early = lead(client, "llama")
    assert state["status"] == "cold" and state["window_open"] is False
    assert state["next_action"] == {"kind": "prewarm", "at": iso_z(at(9) - early)}
    # Billing-aware: the load is triggered a generous lead early, and the first call that
    # can succeed (which starts the bill) is held until 08:59, the margin before the open.
    assert state["prewarm"]["load_at"] == iso_z(at(9) - early)
    assert state["prewarm"]["ready_check_at"] == "2026-03-09T08:59:00Z"
    assert state["prewarm"]["opens_at"] == "2026-03-09T09:00:00Z"

    driver.run_until(at(9))
    state = show(client, "llama")["state"]
    assert state["status"] == "warm" and state["ready"] is True
    assert [(c["at"], c["outcome"]) for c in calls(simulator, ARN_LLAMA)] == [
        (iso_z(at(9) - early), "not_ready"), ("2026-03-09T08:59:00Z", "ready")]
    # Billed from the held check, not from when the copy finished loading.
    copy, = simulator.inspect(ARN_LLAMA)["copies"]
    assert copy["loaded_at"] < "2026-03-09T08:59:00Z" and copy["first_success_at"] == "2026-03-09T08:59:00Z"
    # The cold start is only known to have been shorter than the wait: bounded, not exact.
    cold = state["cold_starts"]
    assert (cold["count"], cold["exact"], cold["bounded"]) == (1, 0, 1)
    assert state["next_action"] == {"kind": "keepalive", "at": "2026-03-09T09:13:00Z"}

    # Keep-alives every 14 minutes through the day; the last one just covers 18:00.
    driver.run_until(at(20))
    successes = call_times(simulator, ARN_LLAMA, "ready")
    gaps = [(b - a).total_seconds() for a, b in zip(successes, successes[1:])]
    assert set(gaps[:-1]) == {14 * 60.0} and gaps[-1] <= 14 * 60
    assert successes[-1] == at(18) - timedelta(minutes=14)
    assert all(at(9) - early <= t < at(18) for t in call_times(simulator, ARN_LLAMA))
    copies = simulator.inspect(ARN_LLAMA)["copies"]
    assert len(copies) == 1  # never cold inside the window

    state = show(client, "llama")["state"]
    assert state["window_open"] is False and state["status"] == "cold"
    assert state["next_action"] == {"kind": "prewarm", "at": iso_z(at(9, day=1) - lead(client, "llama"))}
    kinds = [e["kind"] for e in events(client, "llama")]
    assert kinds.count("cold_start") == 1 and kinds[-1] == "registered"


def test_without_billing_awareness_the_prewarm_polls_until_ready_and_measures_exactly(client, driver,
                                                                                       simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=67)
    register(client, model_arn=ARN_LLAMA, name="llama", billing_aware_prewarm=False)
    early = lead(client, "llama")
    assert show(client, "llama")["state"]["prewarm"]["ready_check_at"] is None
    driver.run_until(at(9))
    state = show(client, "llama")["state"]
    assert state["status"] == "warm"
    assert call_times(simulator, ARN_LLAMA)[0] == at(9) - early
    not_ready = call_times(simulator, ARN_LLAMA, "not_ready")
    assert [(b - a).total_seconds() for a, b in zip(not_ready, not_ready[1:])] == [10.0] * 6
    # The copy loaded 67 s after the first call; the poll interval bounds the measurement.
    cold = state["cold_starts"]
    assert cold["exact"] == 1 and 67 <= cold["last_seconds"] <= 67 + 10
    copy, = simulator.inspect(ARN_LLAMA)["copies"]
    assert copy["first_success_at"] == iso_z(at(9) - early + timedelta(seconds=70))


def test_the_learned_state_survives_a_schedule_change(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 5))
    response = client.http.put("/models/llama", headers={"Content-Type": "application/json"},
                               body=json.dumps({"windows": [{"start": "09:00", "stop": "10:00"}]}))
    assert response.status_code == 200
    state = response.json_body["state"]
    assert state["status"] == "warm" and state["cold_starts"]["count"] == 1
    driver.run_until(at(12))
    assert max(call_times(simulator, ARN_LLAMA)) < at(10)


def test_delete_stops_the_calls(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 30))
    assert client.http.delete("/models/llama").status_code == 204
    count = len(calls(simulator, ARN_LLAMA))
    driver.run_until(at(12))
    assert len(calls(simulator, ARN_LLAMA)) == count
    assert client.http.get("/models/llama").status_code == 404


def test_a_paused_model_is_not_called(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama", enabled=False)
    driver.run_until(at(12))
    assert calls(simulator, ARN_LLAMA) == []
    assert show(client, "llama")["state"]["next_action"] is None


def test_overnight_window_in_its_own_zone(client, driver, simulator, clock):
    # 22:00-06:00 in New York (UTC-4 after 8 March): 02:00-10:00 UTC.
    clock.set(at(23))
    simulator.add_model(ARN_QWEN, load_seconds=96)
    register(client, model_arn=ARN_QWEN, name="qwen", timezone="America/New_York",
             windows=[{"days": "MON-FRI", "start": "22:00", "stop": "06:00"}])
    driver.run_until(at(11, day=1))
    times = call_times(simulator, ARN_QWEN)
    assert times[0] == at(2, day=1) - lead(client, "qwen")
    assert all(at(2, day=1) - lead(client, "qwen") <= t < at(10, day=1) for t in times)
    assert show(client, "qwen")["state"]["cold_starts"]["count"] == 1


# -- at-least-once delivery -------------------------------------------------------------------
def test_a_duplicated_tick_enqueues_each_call_once(client, driver, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    trigger = at(9) - lead(client, "llama")
    minute = trigger.replace(second=0)
    clock.set(minute)
    first = client.lambda_.invoke("tick", tick_event(minute)).payload
    again = client.lambda_.invoke("tick", tick_event(minute)).payload
    assert first["enqueued"] == 1 and again["enqueued"] == 0
    assert len(sim_queue) == 1
    (sent_at, delay, message), = sim_queue.sent
    # Sent on the minute to fire at the pre-warm's own second.
    assert delay == (trigger - minute).seconds and message.action.kind == "prewarm"


def test_a_duplicated_message_calls_once(client, driver, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(8, 57))
    client.lambda_.invoke("tick", tick_event(at(8, 57)))
    _, body = sim_queue.pop()
    assert client.lambda_.invoke("worker", sqs_event(body)).payload == HANDLED
    version = show(client, "llama")
    # The same message again (SQS redelivery): dropped without calling the model.
    assert client.lambda_.invoke("worker", sqs_event(body)).payload == HANDLED
    assert len(calls(simulator, ARN_LLAMA)) == 1
    assert show(client, "llama") == version


def test_a_message_delivered_after_the_window_closed_calls_nothing(client, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama",
             windows=[{"days": "MON-FRI", "start": "09:00", "stop": "09:10"}])
    trigger = at(9) - lead(client, "llama")
    clock.set(trigger)
    client.lambda_.invoke("tick", tick_event(trigger.replace(second=0)))
    _, body = sim_queue.pop()
    # SQS held the pre-warm far too long: it arrives after the window has closed.
    clock.set(at(9, 10, 3))
    assert client.lambda_.invoke("worker", sqs_event(body)).payload == HANDLED
    assert calls(simulator, ARN_LLAMA) == []
    assert show(client, "llama")["state"]["next_action"] == {"kind": "prewarm",
                                                             "at": iso_z(at(9, day=1) - lead(client, "llama"))}


# -- each class of answer ---------------------------------------------------------------------
@pytest.mark.parametrize("fault, code", [({"denied": True}, "AccessDeniedException"),
                                         ("deleted", "ResourceNotFoundException")])
def test_denied_or_deleted_model_shows_error_and_is_not_retried_in_the_window(
        client, driver, simulator, fault, code):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    if fault == "deleted":
        simulator.remove_model(ARN_LLAMA)
    else:
        simulator.set_faults(ARN_LLAMA, **fault)
    driver.run_until(at(17))
    state = show(client, "llama")["state"]
    assert state["status"] == "error" and state["error"].startswith(code)
    assert state["next_action"] == {"kind": "prewarm", "at": iso_z(at(9, day=1) - lead(client, "llama"))}
    if fault != "deleted":
        assert len(calls(simulator, ARN_LLAMA)) == 1
    events = client.http.get("/models/llama/events").json_body["events"]
    assert events[0]["kind"] == "error" and code in events[0]["reason"]


def test_throttling_is_retried_with_backoff_until_warm(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30, throttle_rate=0.5, seed=7)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(10))
    state = show(client, "llama")["state"]
    assert state["status"] == "warm"
    outcomes = [c["outcome"] for c in calls(simulator, ARN_LLAMA)]
    assert "throttled" in outcomes
    events = client.http.get("/models/llama/events?limit=200").json_body["events"]
    assert any(e.get("code") == "ThrottlingException" for e in events)


def test_constant_throttling_gives_up_visibly(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30, throttle_rate=1.0)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 10))
    times = call_times(simulator, ARN_LLAMA)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert gaps == [5, 10, 20, 40, 80, 160, 300]
    state = show(client, "llama")["state"]
    assert state["status"] == "error" and "ThrottlingException" in state["error"]


def test_server_errors_are_retried(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30, error_rate=0.5, seed=3)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(10))
    assert show(client, "llama")["state"]["status"] == "warm"
    codes = {c.get("code") for c in calls(simulator, ARN_LLAMA)}
    assert codes & {"InternalServerException", "ServiceUnavailableException"}


# -- through moto's SQS -----------------------------------------------------------------------
def test_tick_sends_each_call_to_sqs_with_the_delay_for_its_second(sqs_runtime, sqs, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    sent = []
    sqs.meta.events.register("provide-client-params.sqs.SendMessage",
                             lambda params, **_: sent.append(params))
    # The tick sends ten at a time; the worker its follow-up alone.
    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch",
                             lambda params, **_: sent.extend(params["Entries"]))
    with Client(app) as c:
        register(c, model_arn=ARN_LLAMA, name="llama")
        trigger = at(9) - lead(c, "llama")
        minute = trigger.replace(second=0)
        clock.set(minute)
        assert c.lambda_.invoke("tick", tick_event(minute)).payload["enqueued"] == 1
        assert [p["DelaySeconds"] for p in sent] == [(trigger - minute).seconds]
        # The message is in moto's queue; hand it to the worker as Lambda's poller would.
        clock.set(trigger)
        body = json.loads(sent[0]["MessageBody"])
        assert (body["model"], body["kind"], body["at"]) == ("llama", "prewarm", iso_z(trigger))
        assert c.lambda_.invoke("worker", sqs_event(sent[0]["MessageBody"])).payload == HANDLED
        # The worker queued its own next call: the ready-check held until 08:59.
        assert sent[-1]["DelaySeconds"] == (at(8, 59) - trigger).seconds
        assert json.loads(sent[-1]["MessageBody"])["kind"] == "ready_check"
    attrs = sqs.get_queue_attributes(QueueUrl=sqs_runtime.settings.queue_url,
                                     AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "2"


def test_a_poison_message_is_retried_then_shows_on_the_model(client, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    body = json.dumps({"model": "llama", "id": "x1", "kind": "keepalive", "at": "not a time"})
    for receive in range(1, 6):
        with pytest.raises(Exception):
            client.lambda_.invoke("worker", sqs_event(body, receive_count=receive))
        # SQS redelivers it; until its last delivery the model is left alone.
        status = show(client, "llama")["state"]["status"]
        assert status == ("error" if receive == 5 else "cold")
    state = show(client, "llama")["state"]
    assert "dead-letter" in state["error"]
    assert state["next_action"] is not None  # planned again; the tick takes it from here
    assert events(client, "llama")[0]["kind"] == "dead_lettered"
    assert calls(simulator, ARN_LLAMA) == []


# -- recovery ----------------------------------------------------------------------------------
def test_a_lost_message_is_replanned_when_its_claim_expires(client, driver, simulator, sim_queue, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    trigger = at(9) - lead(client, "llama")
    clock.set(trigger.replace(second=0))
    client.lambda_.invoke("tick", tick_event(trigger.replace(second=0)))
    sim_queue.pop()  # SQS lost it (or the worker crashed before it reported)
    driver.run_until(at(9, 10))
    kinds = [e["kind"] for e in events(client, "llama")]
    assert "claim_expired" in kinds
    # Claimed for the pre-warm's second, expiring 5 minutes later: the tick at the expiry
    # (the first minute at or after it), not a minute before it, plans it again at once.
    expiry = trigger + timedelta(minutes=5)
    assert call_times(simulator, ARN_LLAMA)[0] == expiry.replace(second=0) + timedelta(
        minutes=1 if expiry.second else 0)
    assert show(client, "llama")["state"]["status"] == "warm"


class FlakyQueue(SendsOneByOne):
    """The work queue, failing every send for one model (SQS down for that request)."""

    def __init__(self, queue, failing: str):
        self.queue, self.failing, self.failures = queue, failing, 0

    def send(self, message, delay_seconds):
        if message.model == self.failing:
            self.failures += 1
            raise ConnectionError("SQS unreachable")
        self.queue.send(message, delay_seconds)


def test_one_models_failure_does_not_stop_the_tick(client, simulator, sim_queue, runtime, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    simulator.add_model(ARN_QWEN, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    register(client, model_arn=ARN_QWEN, name="qwen")
    runtime.queue = FlakyQueue(sim_queue, failing="llama")
    clock.set(at(8, 56))
    report = client.lambda_.invoke("tick", tick_event(at(8, 56))).payload
    assert report["failed"] == 1 and report["enqueued"] == 1
    assert [m.model for _, _, m in sim_queue.sent] == ["qwen"]
    # The failed claim was undone: the next tick tries again rather than in 5 minutes.
    runtime.queue = sim_queue
    clock.set(at(8, 57))
    assert client.lambda_.invoke("tick", tick_event(at(8, 57))).payload["enqueued"] == 1
    assert show(client, "llama")["state"]["next_action"]["kind"] == "prewarm"


def test_a_cold_start_abandoned_by_a_released_lease_does_not_spoil_the_next(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=120)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20))
    lease = client.http.post("/models/llama/leases", headers={"Content-Type": "application/json"},
                             body=json.dumps({"minutes": 30})).json_body
    driver.run_until(at(20, 0, 30))
    assert show(client, "llama")["state"]["status"] == "warming"
    client.http.delete(f"/models/llama/leases/{lease['id']}")
    assert show(client, "llama")["state"]["next_action"]["kind"] == "prewarm"  # tomorrow's
    # Nobody polls it any more: once a poll is overdue by more than a lost message could
    # explain, it shows cold.
    driver.run_until(at(20, 10))
    assert show(client, "llama")["state"]["status"] == "cold"
    driver.run_until(at(10, day=1))
    state = show(client, "llama")["state"]
    assert state["status"] == "warm" and state["error"] is None
    # Tomorrow's cold start was measured on its own, from tomorrow's load trigger to the
    # held check (minutes), not from tonight (thirteen hours).
    measured = [e for e in events(client, "llama") if e["kind"] == "cold_start"]
    assert state["cold_starts"]["count"] == 1 and len(measured) == 1
    assert 120 <= measured[0]["seconds"] <= lead(client, "llama").total_seconds()


def test_two_copies_of_one_message_at_once_cost_one_extra_call(runtime, simulator, sim_queue, clock, client):
    import threading

    from chalicelib.queue import WorkMessage

    simulator.add_model(ARN_LLAMA, load_seconds=60, slow_seconds=0.3)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(8, 57))
    client.lambda_.invoke("tick", tick_event(at(8, 57)))
    _, body = sim_queue.pop()
    results = []
    threads = [threading.Thread(target=lambda: results.append(runtime.worker.handle(WorkMessage.from_body(body))))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Both were in flight together: both called, one result stands, the other is dropped.
    assert sorted(results) == ["not_ready", "superseded"]
    assert len(calls(simulator, ARN_LLAMA)) == 2
    state = show(client, "llama")["state"]
    assert state["status"] == "warming" and state["next_action"]["kind"] == "ready_check"
    assert len(sim_queue) == 1  # one chain, not two
