"""Calling a model: a real boto3 client over HTTP to the simulator, each answer classified."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from chalicelib.bedrock import Invoker, request_body
from chalicelib.planner import FATAL, NOT_READY, READY, THROTTLED, TRANSIENT
from chalicelib.records import ModelConfig
from chalicelib.settings import Settings
from conftest import ARN_LLAMA

SETTINGS = Settings(table_name="t", queue_url="q", invoke_read_timeout_seconds=1)
CONFIG = ModelConfig(name="llama", model_arn=ARN_LLAMA, timezone="UTC",
                     windows=[{"start": "09:00", "stop": "18:00"}])


@pytest.fixture
def invoker(simulator) -> Invoker:
    return Invoker(SETTINGS)


@pytest.mark.parametrize("fmt, body", [
    ("chat", {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}),
    ("completion", {"prompt": "ping", "max_tokens": 1}),
    ("llama", {"prompt": "ping", "max_gen_len": 1}),
])
def test_each_format_is_a_one_token_request_the_model_accepts(simulator, invoker, clock, fmt, body):
    assert json.loads(request_body(CONFIG, fmt)) == body
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    assert invoker.invoke(CONFIG, fmt).outcome == NOT_READY
    clock.advance(61)
    assert invoker.invoke(CONFIG, fmt).outcome == READY


def test_custom_body_is_sent_as_given(simulator, invoker, clock):
    config = replace(CONFIG, request_format="custom",
                     request_body={"prompt": "hello", "max_gen_len": 1, "temperature": 0})
    assert json.loads(request_body(config, "custom")) == config.request_body
    simulator.add_model(ARN_LLAMA, load_seconds=0)
    invoker.invoke(config, "custom")
    assert invoker.invoke(config, "custom").outcome == READY


@pytest.mark.parametrize("faults, outcome, code", [
    ({"throttle_rate": 1.0}, THROTTLED, "ThrottlingException"),
    ({"error_rate": 1.0}, TRANSIENT, None),
    ({"denied": True}, FATAL, "AccessDeniedException"),
])
def test_faults_are_classified(simulator, invoker, faults, outcome, code):
    simulator.add_model(ARN_LLAMA, load_seconds=0, **faults)
    result = invoker.invoke(CONFIG, "chat")
    assert result.outcome == outcome
    if code:
        assert result.code == code
    else:
        assert result.code in ("InternalServerException", "ServiceUnavailableException")
    assert result.message


def test_a_deleted_model_is_fatal(simulator, invoker):
    simulator.add_model(ARN_LLAMA)
    simulator.remove_model(ARN_LLAMA)
    result = invoker.invoke(CONFIG, "chat")
    assert (result.outcome, result.code) == (FATAL, "ResourceNotFoundException")


def test_malformed_custom_body_is_fatal(simulator, invoker):
    simulator.add_model(ARN_LLAMA, load_seconds=0)
    config = replace(CONFIG, request_format="custom", request_body={"nonsense": True})
    assert invoker.invoke(config, "custom").code == "ValidationException"
    assert invoker.invoke(config, "custom").outcome == FATAL


def test_no_answer_within_the_read_timeout_counts_as_still_loading(simulator, invoker):
    simulator.add_model(ARN_LLAMA, load_seconds=90, cold_mode="hold")  # held while the copy loads
    result = invoker.invoke(CONFIG, "chat")
    assert result.outcome == NOT_READY and result.code == "ReadTimeoutError"
    assert result.message.startswith("no answer within 1 s, as when a cold model holds the call")
    # The SDK made exactly one attempt: no hidden retries.
    assert len(simulator.inspect(ARN_LLAMA)["calls"]) == 1


def test_no_endpoint_is_transient(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    result = Invoker(SETTINGS).invoke(CONFIG, "chat")
    assert result.outcome == TRANSIENT and result.code == "EndpointConnectionError"


def test_clients_follow_the_arn_region_through_the_standard_endpoint_variable(simulator):
    invoker = Invoker(SETTINGS)
    eu = replace(CONFIG, model_arn=ARN_LLAMA.replace("us-west-2", "eu-central-1"))
    client = invoker.client_for(eu.region)
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.endpoint_url.startswith("http://127.0.0.1:")
    assert invoker.client_for("eu-central-1") is client
    assert client.meta.config.retries["total_max_attempts"] == 1


@pytest.mark.parametrize("region", ["us-west-2", "eu-central-1", "ap-southeast-2", "us-gov-west-1"])
def test_without_a_local_endpoint_clients_go_to_aws_own_hosts(monkeypatch, region):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    client = Invoker(SETTINGS).client_for(region)
    assert client.meta.endpoint_url == f"https://bedrock-runtime.{region}.amazonaws.com"


@pytest.mark.parametrize("arn", [
    "arn:aws:bedrock:us-west-2.evil.example:123456789012:imported-model/abcdefghijkl",
    "arn:aws:bedrock:evil.example/us-west-2:123456789012:imported-model/abcdefghijkl",
    "arn:aws:bedrock:127.0.0.1:123456789012:imported-model/abcdefghijkl",
    "arn:aws:bedrock:us-west-2@evil:123456789012:imported-model/abcdefghijkl",
    "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl\n",
])
def test_a_forged_region_never_reaches_a_client(arn):
    from chalicelib.records import arn_region

    with pytest.raises(ValueError):
        arn_region(arn)


# -- the control plane ----------------------------------------------------------------------------
def test_the_control_plane_reads_what_the_format_choice_and_the_cost_need(simulator, clock):
    from chalicelib.bedrock import ControlPlane

    simulator.add_model(ARN_LLAMA, load_seconds=0, cmus=4, architecture="llama", instruct_supported=False)
    imported = ControlPlane().describe(CONFIG)
    assert (imported.architecture, imported.instruct_supported, imported.custom_model_units) == (
        "llama", False, 4)
    assert imported.created_at == clock.now()


@pytest.mark.parametrize("code, status, reason", [
    ("ResourceNotFoundException", 404, "not_found"),
    ("AccessDeniedException", 403, "access_denied"),
    ("ThrottlingException", 429, "unreachable"),
    ("InternalServerException", 500, "unreachable"),
    ("ValidationException", 400, "refused"),
])
def test_control_plane_errors_say_what_can_be_done_about_them(code, status, reason):
    import boto3
    from botocore.stub import Stubber

    from chalicelib.bedrock import ControlPlaneError, describe_imported_model

    client = boto3.client("bedrock", region_name="us-west-2")
    with Stubber(client) as stub:
        stub.add_client_error("get_imported_model", service_error_code=code, service_message="said so",
                              http_status_code=status)
        with pytest.raises(ControlPlaneError) as caught:
            describe_imported_model(client, ARN_LLAMA)
    assert caught.value.reason == reason and ARN_LLAMA in str(caught.value)


# -- choosing the body ----------------------------------------------------------------------------
OLD = datetime(2025, 6, 2, 10, tzinfo=timezone.utc)
NEW = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("architecture, created, instruct, formats", [
    ("llama", OLD, True, ("llama", "completion")),
    ("mllama", OLD, False, ("llama", "completion")),
    ("mistral", OLD, True, ("completion", "llama")),
    ("mixtral", OLD, False, ("completion", "llama")),
    ("flan", OLD, True, ("completion", "llama")),
    ("qwen2", OLD, True, ("chat", "completion")),
    ("qwen2_5_vl", OLD, False, ("completion", "chat")),
    ("gpt_oss", OLD, True, ("chat", "completion")),
    ("llama", NEW, True, ("chat", "llama")),
    ("llama", NEW, False, ("completion", "llama")),
    ("mistral", NEW, True, ("chat", "completion")),
    ("qwen2", NEW, False, ("completion", "chat")),
    # "After 11 November 2025": the day itself is an older import.
    ("llama", datetime(2025, 11, 11, 23, 59, 59, tzinfo=timezone.utc), True, ("llama", "completion")),
    ("llama", datetime(2025, 11, 12, tzinfo=timezone.utc), True, ("chat", "llama")),
    (None, None, None, ("completion", "llama")),  # Bedrock said nothing that helps
])
def test_the_body_follows_architecture_import_date_and_chat_support(architecture, created, instruct, formats):
    from chalicelib.bedrock import plausible_formats
    from chalicelib.records import ImportedModel

    chosen, why = plausible_formats(ImportedModel(architecture, created, instruct))
    assert chosen == formats and why


def test_an_unverified_model_is_tried_with_every_body():
    from chalicelib.bedrock import plausible_formats

    assert plausible_formats(None)[0] == ("chat", "completion", "llama")


@pytest.mark.parametrize("architecture", ["llama", "mllama", "mistral", "mixtral", "qwen2", "qwen2_vl",
                                          "gpt_oss", "gpt_bigcode", "flan"])
@pytest.mark.parametrize("created", [OLD, NEW])
@pytest.mark.parametrize("instruct", [True, False])
def test_the_first_body_chosen_is_one_the_simulated_import_takes(architecture, created, instruct):
    from chalicelib.bedrock import plausible_formats
    from chalicelib.records import ImportedModel
    from local.simulator import accepted_formats

    first = plausible_formats(ImportedModel(architecture, created, instruct))[0][0]
    assert first in accepted_formats(architecture, created)


def test_a_failing_container_is_a_model_error_not_a_server_error(simulator, invoker, clock):
    from chalicelib.planner import MODEL_ERROR

    simulator.add_model(ARN_LLAMA, load_seconds=0, model_error=True)
    assert invoker.invoke(CONFIG, "chat").outcome == NOT_READY
    result = invoker.invoke(CONFIG, "chat")
    assert (result.outcome, result.code) == (MODEL_ERROR, "ModelErrorException") and result.message
