"""The worker takes batches: the messages that failed are named (ReportBatchItemFailures),
so SQS redelivers those alone; the local runner honours the same answer."""
from __future__ import annotations

import json

import pytest

from chalicelib.queue import BadMessage
from conftest import ARN_LLAMA, ARN_QWEN
from helpers import at, calls, register, show
from local.harness import sqs_batch_event, tick_event

POISON = json.dumps({"model": "llama", "id": "x1", "kind": "keepalive", "at": "not a time"})


def message(message_id: str, body: str, receives: int = 1) -> dict:
    """A message as ReceiveMessage returns it."""
    return {"MessageId": message_id, "ReceiptHandle": f"r-{message_id}", "Body": body,
            "Attributes": {"ApproximateReceiveCount": str(receives)}}


@pytest.fixture
def two_calls(client, simulator, sim_queue, clock) -> dict[str, str]:
    """The pre-warm messages of two models, as the 08:57 tick queued them, by model."""
    for arn, name in ((ARN_LLAMA, "llama"), (ARN_QWEN, "qwen")):
        simulator.add_model(arn, load_seconds=60)
        register(client, model_arn=arn, name=name)
    clock.set(at(8, 57))
    client.lambda_.invoke("tick", tick_event(at(8, 57)))
    bodies = [sim_queue.pop()[1] for _ in range(2)]
    return {json.loads(body)["model"]: body for body in bodies}


def test_one_bad_message_is_named_and_the_rest_of_its_batch_is_handled(client, simulator, two_calls):
    first, second = two_calls["llama"], two_calls["qwen"]
    batch = [message("a", first), message("b", POISON), message("c", second), message("d", first, receives=2)]
    answer = client.lambda_.invoke("worker", sqs_batch_event(batch)).payload
    # Only the unreadable one comes back; the duplicate of the first (d) was dropped as
    # stale or raced it, and is done either way.
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    for arn, name in ((ARN_LLAMA, "llama"), (ARN_QWEN, "qwen")):
        assert show(client, name)["state"]["status"] == "warming"
        assert 1 <= len(calls(simulator, arn)) <= 2


def test_a_batch_that_failed_through_and_through_raises(client, two_calls):
    with pytest.raises(BadMessage):
        client.lambda_.invoke("worker", sqs_batch_event([message("a", POISON), message("b", "{}")]))
    # Nothing was called or changed.
    assert show(client, "llama")["state"]["next_action"]["kind"] == "prewarm"


def test_a_message_failing_on_its_last_delivery_shows_on_its_model_and_only_it(client, two_calls):
    batch = [message("a", POISON, receives=5), message("b", two_calls["qwen"])]
    answer = client.lambda_.invoke("worker", sqs_batch_event(batch)).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a"}]}
    state = show(client, "llama")["state"]
    assert state["status"] == "error" and "dead-letter" in state["error"]
    assert show(client, "qwen")["state"]["status"] == "warming"


def test_the_local_runner_deletes_only_the_messages_the_worker_handled(runtime, client, sqs, queue_url, two_calls):
    from local.stack import Runner

    for body in (two_calls["llama"], POISON):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                   MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert len(received) == 2
    runner = Runner(queue_url)
    try:
        runner.deliver(received)
    finally:
        runner.pool.shutdown()
    counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    # The handled one is gone; the poison one waits out its visibility timeout.
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    poison = next(m for m in received if m["Body"] == POISON)
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=poison["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == [POISON]


def test_the_local_runner_says_on_the_terminal_when_the_worker_fails(runtime, client, sqs, queue_url, two_calls,
                                                                      monkeypatch):
    """make run's logs go to a file: a worker that raises gets one line on the terminal."""
    from local.stack import Runner

    said: list[str] = []
    runner = Runner(queue_url, say=said.append)

    def broken(event, context):
        raise RuntimeError("the table is gone")

    monkeypatch.setattr(runner.app, "worker", broken)
    try:
        runner.deliver([{"MessageId": "m1", "ReceiptHandle": "r1", "Body": two_calls["llama"],
                         "Attributes": {"ApproximateReceiveCount": "1"}}])
    finally:
        runner.pool.shutdown()
    assert len(said) == 1 and said[0].endswith(
        "  worker failed: RuntimeError: the table is gone; the batch will be redelivered (the log has more)")
