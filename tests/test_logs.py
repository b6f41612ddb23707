"""Logs as an operator queries them in CloudWatch Logs Insights: one JSON object a line,
named by its event, with the Lambda request id of the invocation that wrote it."""
from __future__ import annotations

import io
import json
from typing import Callable, Iterator

import pytest

from chalicelib.logs import logger
from chalicelib.records import iso, parse_iso
from conftest import ARN_LLAMA
from helpers import at, register
from local.harness import sqs_event, tick_event


@pytest.fixture
def logged() -> Iterator[Callable[[], list[dict]]]:
    """The lines the service logs from now on, parsed. (Powertools' handler writes to the
    stdout of the moment it was made, which is not the test's.)"""
    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    # Whatever an earlier test in this process set (a simulation quiets the info lines),
    # the service logs at INFO as it does in Lambda.
    level = logger.log_level
    logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.setLevel(level)
    handler.setStream(previous)


def test_each_line_is_json_with_the_event_its_keys_and_the_request_id(client, simulator, clock, logged):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    prewarm = register(client, model_arn=ARN_LLAMA, name="llama")["state"]["next_action"]
    minute = parse_iso(prewarm["at"]).replace(second=0)
    clock.set(minute)
    client.lambda_.invoke("tick", tick_event(minute))
    tick = next(r for r in logged() if r["event"] == "tick")
    assert tick["message"] == "tick" and tick["level"] == "INFO" and tick["service"] == "keepwarm"
    assert (tick["now"], tick["due"], tick["enqueued"]) == (iso(minute), 1, 1)
    assert tick["function_name"] == "tick" and tick["function_request_id"]
    enqueued = next(r for r in logged() if r["event"] == "enqueued")
    assert (enqueued["model"], enqueued["kind"], enqueued["at"]) == ("llama", "prewarm", prewarm["at"])
    assert enqueued["location"].startswith("_send:")  # the caller, not the logging helper


def test_a_failing_message_logs_an_error_line_for_its_invocation(client, logged):
    with pytest.raises(Exception):  # SQS would redeliver it
        client.lambda_.invoke("worker", sqs_event("not json", receive_count=2))
    failed = next(r for r in logged() if r["event"] == "worker_failed")
    assert failed["level"] == "ERROR" and failed["receive_count"] == 2 and failed["body"] == "not json"
    assert failed["function_name"] == "worker" and failed["function_request_id"]
