"""Calling an imported model: the minimal request, and what its answer means.

The SDK's own retries are off: botocore would retry ModelNotReadyException a few times
within seconds, which is useless for a cold start measured in minutes and would hide
throttling from us. The worker owns every retry (through delayed queue messages).

The client is built per region of the model's ARN (an imported model is only reachable
in its own region); ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` overrides the endpoint for all of
them, which is how the local simulator is reached.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
)

from chalicelib.planner import FATAL, NOT_READY, READY, THROTTLED, TRANSIENT, CallResult
from chalicelib.records import ModelConfig
from chalicelib.settings import Settings

PING = "ping"

# Error code -> outcome. Codes not listed: 5xx are transient, other 4xx fatal.
OUTCOME_BY_CODE = {
    "ModelNotReadyException": NOT_READY,
    "ThrottlingException": THROTTLED,
    "ServiceQuotaExceededException": THROTTLED,
    "TooManyRequestsException": THROTTLED,
    "InternalServerException": TRANSIENT,
    "ServiceUnavailableException": TRANSIENT,
    "ModelTimeoutException": TRANSIENT,
    "ModelErrorException": TRANSIENT,
    "AccessDeniedException": FATAL,
    "ResourceNotFoundException": FATAL,
    "ValidationException": FATAL,
}


def request_body(config: ModelConfig) -> bytes:
    """The smallest request the model's format accepts: one output token."""
    if config.request_format == "custom" and config.request_body is not None:
        body: dict[str, Any] = config.request_body
    elif config.request_format == "llama":
        body = {"prompt": PING, "max_gen_len": 1}
    elif config.request_format == "completion":
        body = {"prompt": PING, "max_tokens": 1}
    else:
        body = {"messages": [{"role": "user", "content": PING}], "max_tokens": 1}
    return json.dumps(body).encode()


def classify(err: ClientError) -> CallResult:
    error = err.response.get("Error", {})
    code = error.get("Code") or "Unknown"
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    outcome = OUTCOME_BY_CODE.get(code)
    if outcome is None:
        outcome = TRANSIENT if status >= 500 or status == 0 else FATAL
    return CallResult(outcome, code, error.get("Message") or str(err))


class Invoker:
    """Invokes models with minimal requests; one bedrock-runtime client per region."""

    def __init__(self, settings: Settings, client_factory: Optional[Callable[[str], Any]] = None):
        self._config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=settings.invoke_connect_timeout_seconds,
            read_timeout=settings.invoke_read_timeout_seconds,
        )
        self._factory = client_factory or self._client
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        return boto3.client("bedrock-runtime", region_name=region, config=self._config)

    def client_for(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._factory(region)
            return self._clients[region]

    def invoke(self, config: ModelConfig) -> CallResult:
        client = self.client_for(config.region)
        started = time.monotonic()
        try:
            response = client.invoke_model(
                modelId=config.model_arn,
                body=request_body(config),
                contentType="application/json",
                accept="application/json",
            )
            response["body"].read()
            result = CallResult(READY)
        except ClientError as err:
            result = classify(err)
        except (BotoConnectionError, HTTPClientError) as err:
            # Timeouts and refused connections: the service may be fine a moment later.
            result = CallResult(TRANSIENT, type(err).__name__, str(err))
        latency = int((time.monotonic() - started) * 1000)
        return CallResult(result.outcome, result.code, result.message, latency)
