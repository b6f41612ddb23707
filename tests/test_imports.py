"""Models as Bedrock imports them: the request body keepwarm sends (request_format auto),
chosen from GetImportedModel and corrected by the model's own answers, through the API,
the tick and the worker against the simulator."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from botocore.stub import Stubber

from chalicelib.bedrock import CONTROL_PLANE_CONFIG
from conftest import ARN_LLAMA
from helpers import at, calls, events, iso_z, lead, register, send, show

OLD = "2025-06-02T10:00:00Z"  # before OpenAI-style bodies


def told(runtime, architecture: str, instruct: bool = True):
    """Stub the registration's GetImportedModel: Bedrock says the model is an older import
    of ``architecture`` (whatever the simulator plays)."""
    client = runtime.clients.client("bedrock", "us-west-2", CONTROL_PLANE_CONFIG)
    stub = Stubber(client)
    stub.add_response("get_imported_model", {
        "modelArn": ARN_LLAMA, "modelName": "m", "jobArn": ARN_LLAMA.replace("imported-model", "model-import-job"),
        "modelArchitecture": architecture, "instructSupported": instruct,
        "creationTime": datetime(2025, 6, 2, 10, tzinfo=timezone.utc),
        "customModelUnits": {"customModelUnitsPerModelCopy": 1, "customModelUnitsVersion": "1.0"},
    }, {"modelIdentifier": ARN_LLAMA})
    return stub


def format_events(client, name: str) -> list[tuple]:
    return [(e["format"], e["accepted"], e.get("next")) for e in reversed(events(client, name))
            if e["kind"] == "request_format"]


def test_an_older_llama_import_gets_llamas_own_body_from_the_first_call(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30, architecture="llama", imported_at=OLD)
    model = register(client, model_arn=ARN_LLAMA, name="llama")
    assert model["request_format"] == "auto"
    chosen = model["state"]["request_format"]
    assert (chosen["in_use"], chosen["accepted"], chosen["refused"]) == ("llama", False, [])
    assert chosen["why"] == "llama imported 2025-06-02, before OpenAI-style bodies: Llama's own"
    driver.run_until(at(9, 5))
    assert {c["format"] for c in calls(simulator, ARN_LLAMA)} == {"llama"}
    state = show(client, "llama")["state"]
    assert state["status"] == "warm" and state["request_format"]["accepted"] is True
    assert format_events(client, "llama") == [("llama", True, None)]


def test_a_refused_body_is_followed_by_the_next_and_the_one_that_worked_is_kept(client, driver, runtime,
                                                                                 simulator):
    # Bedrock says Llama; the model takes OpenAI-style bodies only (an older Qwen import).
    simulator.add_model(ARN_LLAMA, load_seconds=30, architecture="qwen2", imported_at=OLD)
    with told(runtime, "llama"):
        register(client, model_arn=ARN_LLAMA, name="m", billing_aware_prewarm=False)  # polled from the start
    trigger = at(9) - lead(client, "m")
    driver.run_until(at(9, 5))
    sent = [(c["format"], c["outcome"]) for c in calls(simulator, ARN_LLAMA)]
    assert sent[:3] == [(None, "invalid"), ("completion", "not_ready"), ("completion", "not_ready")]
    assert {f for f, _ in sent[1:]} == {"completion"}
    state = show(client, "m")["state"]
    assert state["status"] == "warm" and state["error"] is None
    assert (state["request_format"]["in_use"], state["request_format"]["accepted"]) == ("completion", True)
    assert format_events(client, "m") == [("llama", False, "completion"), ("completion", True, None)]
    # Tried once, promptly: the refusal was retried after the first backoff, not a keep-alive later.
    first, second = (c["at"] for c in calls(simulator, ARN_LLAMA)[:2])
    assert (first, second) == (iso_z(trigger), iso_z(trigger + timedelta(seconds=5)))


def test_a_model_that_takes_no_body_tried_is_an_error_that_says_what_to_set(client, driver, runtime, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30, architecture="llama", imported_at=OLD)
    with told(runtime, "qwen2", instruct=False):  # keepwarm tries completion, then chat
        register(client, model_arn=ARN_LLAMA, name="m")
    driver.run_until(at(9, 5))
    assert [c["outcome"] for c in calls(simulator, ARN_LLAMA)] == ["invalid", "invalid"]
    state = show(client, "m")["state"]
    assert state["status"] == "error"
    assert state["error"].startswith("ValidationException: the model took none of the bodies keepwarm "
                                     "tried (completion, chat): set request_format custom")
    assert format_events(client, "m") == [("completion", False, "chat"), ("chat", False, None)]
    # Next hold starts again from the first body; a PUT naming the format fixes it at once.
    assert state["request_format"]["refused"] == []
    fixed = send(client, "PUT", "/models/m", {"request_format": "llama"}).json_body
    assert fixed["state"]["request_format"] == {"in_use": "llama", "why": "request_format",
                                                "accepted": None, "refused": []}
    driver.run_until(at(9, 10))
    assert show(client, "m")["state"]["status"] == "warm"


def test_a_new_import_gets_the_chat_body(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30, architecture="mistral")  # imported now
    chosen = register(client, model_arn=ARN_LLAMA, name="m")["state"]["request_format"]
    assert chosen["in_use"] == "chat"
    assert chosen["why"] == ("mistral imported 2026-03-09, after 11 November 2025: OpenAI-style chat "
                             "(instructSupported)")
    driver.run_until(at(9, 5))
    assert {c["format"] for c in calls(simulator, ARN_LLAMA)} == {"chat"}
