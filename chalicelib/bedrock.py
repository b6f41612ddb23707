"""Calling an imported model: the minimal request, and what its answer means; and what
Bedrock's control plane (GetImportedModel) says about the model.

The SDK's own retries are off: botocore would retry ModelNotReadyException a few times
within seconds, which is useless for a cold start measured in minutes and would hide
throttling from us. The worker owns every retry (through delayed queue messages).

Clients are built per region of the model's ARN (an imported model is only reachable in
its own region); ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and ``AWS_ENDPOINT_URL_BEDROCK``
override the endpoints for all of them, which is how the local simulator is reached.
"""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Optional

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError, ReadTimeoutError

from chalicelib.answers import FATAL, MODEL_ERROR, NOT_READY, READY, THROTTLED, TRANSIENT, CallResult
from chalicelib.clients import AssumeRoleError, Clients
from chalicelib.costs import CostError
from chalicelib.records import ImportedModel, ModelConfig, ModelState, Role
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
    "ModelErrorException": MODEL_ERROR,
    "AccessDeniedException": FATAL,
    "ResourceNotFoundException": FATAL,
    "ValidationException": FATAL,
}


def request_body(config: ModelConfig, request_format: str) -> bytes:
    """The smallest request in ``request_format`` (chat, completion, llama, or custom:
    the model's own ``request_body``): one output token."""
    if request_format == "custom" and config.request_body is not None:
        body: dict[str, Any] = config.request_body
    elif request_format == "llama":
        body = {"prompt": PING, "max_gen_len": 1}
    elif request_format == "completion":
        body = {"prompt": PING, "max_tokens": 1}
    else:
        body = {"messages": [{"role": "user", "content": PING}], "max_tokens": 1}
    return json.dumps(body).encode()


# -- choosing the body: request_format auto --------------------------------------------------
# AWS's "Invoke your imported model" (Amazon Bedrock user guide): from 17 November 2025 the
# OpenAI-compatible completion and chat formats are supported for models imported after
# 11 November 2025; older imports take their architecture's own body. The first instant
# after that day in UTC (AWS names no zone): an import on the day itself counts as older.
OPENAI_BODIES_SINCE = datetime(2025, 11, 12, tzinfo=timezone.utc)
# Architectures (GetImportedModel's modelArchitecture, lower case, letters and digits
# only) by their own body. Llama's (any name with llama in it: mllama, codellama) is
# prompt + max_gen_len; Qwen's and GPT-OSS's are OpenAI-style (the seeds' Qwen2.5-VL and
# GPT-OSS walkthroughs send messages, and AWS's code samples say GPT-OSS needs the OpenAI
# schema); Mistral, Mixtral, Flan, GPTBigCode and the rest take prompt + max_tokens, the
# completion body.
OPENAI_ARCHITECTURES = ("qwen", "gptoss")
# Before GetImportedModel has answered: every body, the most widely taken first.
UNVERIFIED_FORMATS = ("chat", "completion", "llama")


def plausible_formats(imported: Optional[ImportedModel]) -> tuple[tuple[str, ...], str]:
    """The bodies an imported model may take, best first, and why (docs/api.md, "The request body"):
    the first is sent, and a ValidationException for it moves to the next."""
    if imported is None:
        return UNVERIFIED_FORMATS, "not verified yet: architecture and import date unknown, every body in turn"
    family = re.sub(r"[^a-z0-9]", "", (imported.architecture or "").lower())
    llama = "llama" in family
    instruct = imported.instruct_supported is not False  # unknown: assume a chat template
    shown = imported.architecture or "unknown architecture"
    if imported.created_at is not None and imported.created_at >= OPENAI_BODIES_SINCE:
        own = "llama" if llama else "completion"
        first = "chat" if instruct else "completion"
        then = own if own != first else "chat"
        told = "instructSupported" if instruct else "instructSupported false: no chat template"
        return (first, then), (f"{shown} imported {imported.created_at:%Y-%m-%d}, after 11 November 2025: "
                               f"OpenAI-style {first} ({told})")
    when = f"imported {imported.created_at:%Y-%m-%d}" if imported.created_at else "import date unknown"
    if llama:
        return ("llama", "completion"), f"{shown} {when}, before OpenAI-style bodies: Llama's own"
    if family.startswith(OPENAI_ARCHITECTURES):
        order = ("chat", "completion") if instruct else ("completion", "chat")
        return order, f"{shown} {when}: its own OpenAI-style {order[0]}"
    return ("completion", "llama"), f"{shown} {when}, before OpenAI-style bodies: prompt + max_tokens"


def format_in_use(config: ModelConfig, state: ModelState) -> tuple[str, str]:
    """The body the next call sends, and why."""
    if config.request_format != "auto":
        return config.request_format, "request_format"
    candidates, why = plausible_formats(state.imported)
    if state.format_confirmed is not None:
        return state.format_confirmed, f"accepted by the model ({why})"
    left = [f for f in candidates if f not in state.formats_refused]
    return (left[0] if left else candidates[0]), why


def next_format(state: ModelState, refused: str) -> Optional[str]:
    """The body to try after ``refused`` was answered ValidationException; None if every
    plausible one has been."""
    candidates, _ = plausible_formats(state.imported)
    tried = (*state.formats_refused, refused)
    return next((f for f in candidates if f not in tried), None)


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

    def __init__(self, settings: Settings, clients: Optional[Clients] = None):
        self._config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=settings.invoke_connect_timeout_seconds,
            read_timeout=settings.invoke_read_timeout_seconds,
        )
        self._clients = clients or Clients()

    def client_for(self, region: str, role: Optional[Role] = None) -> Any:
        return self._clients.client("bedrock-runtime", region, self._config, role)

    def invoke(self, config: ModelConfig, request_format: str) -> CallResult:
        try:
            client = self.client_for(config.region, config.role)
        except AssumeRoleError as err:
            # A role that does not trust us will not start to in this hold; STS being
            # unreachable passes.
            return CallResult(TRANSIENT if err.reason == "unreachable" else FATAL, err.code, str(err))
        started = time.monotonic()
        try:
            response = client.invoke_model(
                modelId=config.model_arn,
                body=request_body(config, request_format),
                contentType="application/json",
                accept="application/json",
            )
            response["body"].read()
            result = CallResult(READY)
        except ClientError as err:
            result = classify(err)
        except ReadTimeoutError as err:
            # A cold model may hold a request while a copy loads (AWS documents it): no answer
            # within the read timeout is a model still loading, not a server fault to back off.
            result = CallResult(NOT_READY, type(err).__name__,
                                f"no answer within {self._config.read_timeout} s, as when a cold model holds "
                                f"the call while a copy loads; counted as still loading ({err})")
        except (BotoConnectionError, HTTPClientError) as err:
            # Refused connections and connect timeouts: the service may be fine a moment later.
            result = CallResult(TRANSIENT, type(err).__name__, str(err))
        latency = int((time.monotonic() - started) * 1000)
        return CallResult(result.outcome, result.code, result.message, latency)


# -- the control plane --------------------------------------------------------------------
# One attempt and short timeouts: registration waits on this inside API Gateway's 29 s,
# and a control plane that does not answer promptly is checked again later, not waited on.
CONTROL_PLANE_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                              connect_timeout=3, read_timeout=5)


class ControlPlaneError(Exception):
    """GetImportedModel gave no answer about the model.

    ``reason`` says what a caller can do about it: ``not_found`` (no such model),
    ``access_denied`` (our role, or the model's, may not read it), ``role`` (the model's
    role_arn could not be assumed), ``unreachable`` (no answer: the network, throttling or a
    server error; worth asking again later) or ``refused`` (any other error answer)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def describe_imported_model(client: Any, model_arn: str) -> ImportedModel:
    """GetImportedModel for ``model_arn`` through a bedrock client; ControlPlaneError naming
    the cause if Bedrock does not describe it."""
    try:
        response = client.get_imported_model(modelIdentifier=model_arn)
    except ClientError as err:
        error = err.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", "")
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "ResourceNotFoundException":
            raise ControlPlaneError(f"imported model {model_arn} not found by GetImportedModel: {message}",
                                    "not_found") from None
        if code == "AccessDeniedException":
            raise ControlPlaneError(f"access denied reading imported model {model_arn} "
                                    f"(bedrock:GetImportedModel): {message}", "access_denied") from None
        passing = code == "ThrottlingException" or status >= 500
        raise ControlPlaneError(f"GetImportedModel failed for {model_arn}: {code}: {message}",
                                "unreachable" if passing else "refused") from None
    except BotoCoreError as err:
        raise ControlPlaneError(f"GetImportedModel could not reach Bedrock for {model_arn}: {err}",
                                "unreachable") from None
    units = (response.get("customModelUnits") or {}).get("customModelUnitsPerModelCopy")
    instruct = response.get("instructSupported")
    return ImportedModel(
        architecture=response.get("modelArchitecture") or None,
        created_at=response.get("creationTime"),
        instruct_supported=instruct if isinstance(instruct, bool) else None,
        custom_model_units=units if isinstance(units, int) and not isinstance(units, bool) and units >= 1 else None,
    )


# -- custom model units (what costs are multiplied by) --------------------------------------------------------------------
def custom_model_units(bedrock_client: Any, model_arn: str) -> int:
    """CMUs per model copy, from ``GetImportedModel`` (``customModelUnits.
    customModelUnitsPerModelCopy``). Raises CostError naming the cause when the model is
    not found, access is denied, Bedrock cannot be reached, or the field is missing."""
    try:
        units = describe_imported_model(bedrock_client, model_arn).custom_model_units
    except ControlPlaneError as err:
        reason = err.reason if err.reason in ("not_found", "access_denied") else "upstream"
        raise CostError(str(err), reason) from None
    if units is None:
        raise CostError(f"GetImportedModel gave no custom model units per copy for {model_arn}; "
                        "set custom_model_units on the model", "missing_units")
    return units


class ControlPlane:
    """Reads imported models from Bedrock's control plane in their own regions, through
    each model's role_arn where it has one."""

    def __init__(self, clients: Optional[Clients] = None):
        self._clients = clients or Clients()

    def client(self, config: ModelConfig) -> Any:
        try:
            return self._clients.client("bedrock", config.region, CONTROL_PLANE_CONFIG, config.role)
        except AssumeRoleError as err:
            raise ControlPlaneError(str(err), "unreachable" if err.reason == "unreachable" else "role") from None

    def describe(self, config: ModelConfig) -> ImportedModel:
        return describe_imported_model(self.client(config), config.model_arn)
