"""Calling a model: a real boto3 client over HTTP to the simulator, each answer classified."""
from __future__ import annotations

import json
from dataclasses import replace

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
    config = replace(CONFIG, request_format=fmt)
    assert json.loads(request_body(config)) == body
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    assert invoker.invoke(config).outcome == NOT_READY
    clock.advance(61)
    assert invoker.invoke(config).outcome == READY


def test_custom_body_is_sent_as_given(simulator, invoker, clock):
    config = replace(CONFIG, request_format="custom",
                     request_body={"prompt": "hello", "max_gen_len": 1, "temperature": 0})
    assert json.loads(request_body(config)) == config.request_body
    simulator.add_model(ARN_LLAMA, load_seconds=0)
    invoker.invoke(config)
    assert invoker.invoke(config).outcome == READY


@pytest.mark.parametrize("faults, outcome, code", [
    ({"throttle_rate": 1.0}, THROTTLED, "ThrottlingException"),
    ({"error_rate": 1.0}, TRANSIENT, None),
    ({"denied": True}, FATAL, "AccessDeniedException"),
])
def test_faults_are_classified(simulator, invoker, faults, outcome, code):
    simulator.add_model(ARN_LLAMA, load_seconds=0, **faults)
    result = invoker.invoke(CONFIG)
    assert result.outcome == outcome
    if code:
        assert result.code == code
    else:
        assert result.code in ("InternalServerException", "ServiceUnavailableException")
    assert result.message


def test_a_deleted_model_is_fatal(simulator, invoker):
    simulator.add_model(ARN_LLAMA)
    simulator.remove_model(ARN_LLAMA)
    result = invoker.invoke(CONFIG)
    assert (result.outcome, result.code) == (FATAL, "ResourceNotFoundException")


def test_malformed_custom_body_is_fatal(simulator, invoker):
    simulator.add_model(ARN_LLAMA, load_seconds=0)
    config = replace(CONFIG, request_format="custom", request_body={"nonsense": True})
    assert invoker.invoke(config).code == "ValidationException"
    assert invoker.invoke(config).outcome == FATAL


def test_a_slow_answer_is_a_timeout_and_transient(simulator, invoker):
    simulator.add_model(ARN_LLAMA, load_seconds=0, slow_seconds=2)
    result = invoker.invoke(CONFIG)
    assert result.outcome == TRANSIENT and result.code == "ReadTimeoutError"
    # The SDK made exactly one attempt: no hidden retries.
    assert len(simulator.inspect(ARN_LLAMA)["calls"]) == 1


def test_no_endpoint_is_transient(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    result = Invoker(SETTINGS).invoke(CONFIG)
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
