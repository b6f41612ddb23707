"""State changes on EventBridge, as a team's rule receives them: moto's EventBridge
(default bus) with a rule matching ``source: keepwarm`` that delivers to an SQS queue."""
from __future__ import annotations

import json
from typing import Callable, Iterator

import boto3
import pytest

from chalicelib.notify import CLIENT_CONFIG, DETAIL_TYPES, EventBus
from conftest import ARN_LLAMA, unique
from emf import data, select
from helpers import at, register, send


@pytest.fixture
def received(runtime, moto_url: str, sqs, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict]]]:
    """What a rule on the default bus for source keepwarm delivers, oldest first (and by
    detail-type: SQS keeps no order)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", moto_url)
    events = boto3.client("events")
    queue_url = sqs.create_queue(QueueName=unique("keepwarm-rule"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = unique("keepwarm-to-pager")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["keepwarm"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "pager", "Arn": queue_arn}])
    runtime.bus = EventBus(boto3.client("events", config=CLIENT_CONFIG))
    seen: list[dict] = []

    def drain() -> list[dict]:
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return sorted(seen, key=lambda e: (e["detail"]["at"], e["detail-type"]))
            seen.extend(json.loads(m["Body"]) for m in got)
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])

    yield drain
    events.remove_targets(Rule=rule, Ids=["pager"])
    events.delete_rule(Name=rule)


def told(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["detail-type"], e["detail"]["at"]) for e in events]


def test_a_batch_jobs_lease_warm_ready_and_expired(client, driver, simulator, clock, received):
    simulator.add_model(ARN_LLAMA, load_seconds=90)
    clock.set(at(20))  # registered after the day's window: none of its windows closed yet
    register(client, model_arn=ARN_LLAMA, name="llama")
    lease = send(client, "POST", "/models/llama/leases", {"minutes": 30, "holder": "nightly-etl"}).json_body
    driver.run_until(at(21))
    events = received()
    assert told(events) == [("Cold Start Measured", "2026-03-09T20:01:30Z"),
                            ("Lease Ready", "2026-03-09T20:01:30Z"),
                            ("Model Warm", "2026-03-09T20:01:30Z"),
                            ("Lease Expired", "2026-03-09T20:30:00Z")]
    ready = events[1]
    assert ready["source"] == "keepwarm" and ready["resources"] == [ARN_LLAMA]
    assert ready["detail"] == {"model": "llama", "model_arn": ARN_LLAMA, "at": "2026-03-09T20:01:30Z",
                               "kind": "lease_ready", "lease": lease["id"], "holder": "nightly-etl"}
    assert events[0]["detail"]["seconds"] == 90.0  # from the first "not ready" to the answer
    assert events[3]["time"] == "2026-03-09T20:30:00Z"


def test_an_error_and_its_clearing(client, driver, simulator, received):
    simulator.add_model(ARN_LLAMA, load_seconds=30, denied=True)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9))
    simulator.set_faults(ARN_LLAMA, denied=False)
    assert send(client, "PUT", "/models/llama", {}).status_code == 200  # the operator fixed the grant
    driver.run_until(at(9, 5))
    events = received()
    assert [e["detail-type"] for e in events] == ["Model Error", "Model Error Cleared", "Cold Start Measured",
                                                  "Model Warm"]
    assert events[0]["detail"]["reason"].startswith("AccessDeniedException")
    assert events[1]["detail"]["by"] == "request" and events[1]["detail"]["error"] == events[0]["detail"]["reason"]


def test_an_unexpected_cold(client, driver, simulator, received):
    simulator.add_model(ARN_LLAMA, load_seconds=30, release_seconds=600)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 30))
    (surprise,) = [e for e in received() if e["detail-type"] == "Unexpected Cold"]
    assert surprise["detail"]["keepalive_minutes_after"] == 7


def test_a_failed_put_never_fails_the_call(client, driver, simulator, runtime, caplog, capsys):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    # Nothing listens on the endpoint every unconfigured service points at (see conftest).
    runtime.bus = EventBus(boto3.client("events", config=CLIENT_CONFIG))
    capsys.readouterr()
    driver.run_until(at(9, 5))
    assert client.http.get("/models/llama").json_body["state"]["status"] == "warm"
    assert "events_put_failed" in caplog.messages
    assert sum(select(data(capsys.readouterr().out), "EventsNotPut", service="keepwarm")) == 2


def test_every_kind_told_is_one_keepwarm_records():
    import re
    from pathlib import Path

    chalicelib = Path(__file__).resolve().parent.parent / "chalicelib"
    recorded = {kind for path in chalicelib.glob("*.py")
                for kind in re.findall(r'Event\([^,]+, "([a-z_]+)"', path.read_text())}
    recorded |= set(re.findall(r'self\._event\([^,]+, [^,]+, "([a-z_]+)"', (chalicelib / "api.py").read_text()))
    assert set(DETAIL_TYPES) <= recorded
