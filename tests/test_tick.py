"""The tick at scale: claims on several threads, calls sent ten to a request, a refused
send undone, and a deadline after which the rest is left to the next tick.

DynamoDB is moto's server; the queue is moto's SQS or the simulated one."""
from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from chalicelib.loop import Ticker
from chalicelib.planner import with_next_due
from chalicelib.queue import SqsQueue
from chalicelib.records import Model, ModelConfig, ModelState
from helpers import at

NOW = at(8, 56)


def add_due_models(runtime, count: int) -> list[str]:
    """Models whose pre-warm for a 09:00 window is due by the 08:56 tick, stored as
    registration leaves them, except that they are due a second apart in name order
    (at most 60), so that the order the tick meets them in is known."""
    names = []
    for i in range(count):
        config = ModelConfig(name=f"m{i:03d}", model_arn=f"arn:aws:bedrock:us-west-2:123456789012:imported-model/tick{i:08d}",
                             timezone="Europe/London", windows=[{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}],
                             created_at=NOW, updated_at=NOW)
        state = with_next_due(config, ModelState(), NOW, runtime.settings)
        assert state.next_due_at <= NOW + timedelta(minutes=1)  # due at this tick
        state = replace(state, next_due_at=NOW + timedelta(seconds=i))
        names.append(runtime.store.create(Model(config, state)).name)
    return names


def test_two_ticks_each_on_eight_threads_claim_every_model_once(runtime, sim_queue):
    names = add_due_models(runtime, 60)
    runtime.settings = replace(runtime.settings, tick_concurrency=8)
    reports = []
    ticks = [threading.Thread(target=lambda: reports.append(runtime.ticker.run(NOW))) for _ in range(2)]
    for tick in ticks:
        tick.start()
    for tick in ticks:
        tick.join()
    assert sum(r.enqueued for r in reports) == 60
    assert sorted(m.model for _, _, m in sim_queue.sent) == names
    # Every model holds exactly the claim whose message was sent.
    sent = {m.model: m.action for _, _, m in sim_queue.sent}
    assert all(runtime.store.get(name).state.pending == sent[name] for name in names)


def test_calls_go_out_ten_to_a_request(sqs_runtime, sqs):
    add_due_models(sqs_runtime, 25)
    requests = Counter()
    sqs.meta.events.register("provide-client-params.sqs.*",
                             lambda params, event_name, **_: requests.update([event_name.split(".")[-1]]))
    report = sqs_runtime.ticker.run(NOW)
    assert report.enqueued == 25
    assert requests == {"SendMessageBatch": 3}
    attributes = sqs.get_queue_attributes(QueueUrl=sqs_runtime.settings.queue_url,
                                          AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "25"


class RefusingSqs:
    """moto's SQS, except that SendMessageBatch refuses one model's entries, as SQS may
    refuse some entries of a request and take the others."""

    def __init__(self, sqs, refused_model: str):
        self.sqs, self.refused_model = sqs, refused_model

    def send_message_batch(self, QueueUrl, Entries):
        refused = [e for e in Entries if json.loads(e["MessageBody"])["model"] == self.refused_model]
        taken = [e for e in Entries if e not in refused]
        answer = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=taken)
        return {"Successful": answer["Successful"],
                "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError",
                            "Message": "try again"} for e in refused]}


def test_an_entry_sqs_refuses_has_its_claim_undone_and_the_others_stand(sqs_runtime, sqs):
    add_due_models(sqs_runtime, 3)
    url = sqs_runtime.settings.queue_url
    sqs_runtime.queue = SqsQueue(RefusingSqs(sqs, "m001"), url)
    report = sqs_runtime.ticker.run(NOW)
    assert (report.enqueued, report.failed) == (2, 1)
    refused = sqs_runtime.store.get("m001").state
    # Planned again as at registration: its pre-warm is due now.
    assert refused.pending is None and refused.next_due_at == NOW
    assert all(sqs_runtime.store.get(name).state.pending is not None for name in ("m000", "m002"))
    # The next tick sends it, without waiting out a claim's expiry.
    sqs_runtime.queue = SqsQueue(sqs, url)
    assert sqs_runtime.ticker.run(at(8, 57)).enqueued == 1
    delayed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "3"


class Stopwatch:
    """A timer that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def test_the_tick_stops_claiming_at_its_deadline_and_the_next_takes_the_rest(runtime, sim_queue, clock):
    names = add_due_models(runtime, 12)
    settings = replace(runtime.settings, tick_concurrency=1, tick_claim_seconds=5)
    # Read once for the deadline (1 + 5 s), then once before each claim: four get in.
    report = Ticker(runtime.store, sim_queue, settings, clock.now, timer=Stopwatch()).run(NOW)
    assert (report.due, report.enqueued, report.left) == (12, 4, 8)
    # Earliest first: the four claimed are the first in due order, and only they.
    assert [m.model for _, _, m in sim_queue.sent] == names[:4]
    assert [runtime.store.get(n).state.pending is None for n in names] == [False] * 4 + [True] * 8
    # The next tick takes the rest; their calls go out at once, late by the minute lost.
    clock.set(at(8, 57))
    report = Ticker(runtime.store, sim_queue, runtime.settings, clock.now).run(at(8, 57))
    assert (report.due, report.enqueued, report.left) == (8, 8, 0)
    assert sorted(m.model for _, _, m in sim_queue.sent) == names
    assert [delay for _, delay, _ in sim_queue.sent[4:]] == [0] * 8
