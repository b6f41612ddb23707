"""The OpenAPI document against the service as ``make run`` serves it: schemathesis reads
``GET /openapi.json`` from ``chalice local`` and sends what the document allows, and what it
forbids, to every operation, while the tick and the worker run on real time.

Every answer must be one the document describes (status code, content type, body), never a
5xx, and quick. A request the document forbids must be refused; a request it allows may be
refused only for a rule the document cannot state (``BEYOND_THE_DOCUMENT``): so the document
and the validators cannot drift apart either way. A refused request must change nothing
stored, and its ``Message`` must start with the field at fault, as the README promises. The
document's links (a new model leads to itself and its leases, a new lease to itself) are
followed statefully; the cases the issue "nothing a user can register may freeze or fool the
loop" names are sent every run; and at the end neither the tick nor the worker may have
failed on anything registered meanwhile.

``tests/test_fuzz.py`` covers what this cannot, in process on a simulated clock: bodies no
schema describes (nesting a hundred thousand deep, lone surrogates, 5,000-digit numbers,
any text as JSON), instants at datetime's limits, and zones, crons and ARNs chosen to reach
deep into validation, a thousand requests in under a minute. This module covers what that
one cannot: the document itself, real HTTP through ``chalice local``, and the loop acting on
what was registered.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from chalicelib.openapi import DOCUMENT
from chalicelib.records import Lease
from chalicelib.store import DynamoStore, StateConflict
from live import request
from local.stack import TABLE

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("openapi-stack")

UTC = timezone.utc
# The README's own model; the document's example lease id is planted on it, expired.
SUPPORT_BOT = {"model_arn": "arn:aws:bedrock:us-west-2:123456789012:imported-model/km5b98xhpqel",
               "name": "support-bot", "timezone": "Asia/Shanghai",
               "windows": [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]}
EXPIRED_LEASE = "l3f9a0c1b2d4e"
OPERATIONS = [f"{verb.upper()} {path}" for path, ops in DOCUMENT["paths"].items() for verb in ops
              if verb != "parameters"]
CHECKS = (checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.negative_data_rejection)
LINK_CHECKS = (*CHECKS, checks.ensure_resource_availability, checks.use_after_free)
# Slower than this is a failure whatever the status: API Gateway gives up at 29 s, and a
# schedule that takes seconds to plan here would take them from every tick too.
QUICK_SECONDS = 3.0
MAX_PAGES = 20
# A 400's Message starts with a path into the request: windows[0].start, body["x-y"].
FIELD = re.compile(r'(?P<field>(body|[A-Za-z_]\w*)(\.[A-Za-z_]\w*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*): ')
# The rules the document cannot state, by the field a refusal names: a request the document
# allows may be refused for one of these and nothing else.
BEYOND_THE_DOCUMENT = re.compile("|".join([
    r"timezone",  # an IANA zone that keeps daylight saving, not a fixed offset
    r"windows(\[\d+\])?",  # a schedule that opens at all, at most 48 times a day, planned in time
    r"windows\[\d+\]\.(days|warm|stop)",  # day lists and cron grammar; a stop that differs from its start
    r"keepalive_minutes|release_minutes",  # the keep-alive below the release time
    r"request_body([.\[].*)?",  # only with request_format custom, and only what DynamoDB stores
    r"holidays\.(country|subdiv)",  # a calendar the holidays package lists
    r"name|model_arn",  # neither changes in a PUT
    r"until",  # in the future, at most 31 days away
    r"from",  # within the years 2000-2200
    r"next_token",  # one this service issued
    r"role_arn|external_id",  # a role the operator's pattern allows, in the model's partition; an id with a role
    r"gaps_minutes",  # a probe's gaps, each longer than the one before
]))
# Schedules the service runs, for most registrations and changes the document allows (see
# make_runnable): it cannot say which zone names and cron expressions exist, so nearly every
# generated one is refused.
SCHEDULES = [
    {"timezone": "UTC", "windows": [{"start": "09:00", "stop": "18:00"}]},
    {"timezone": "Europe/London", "windows": [{"days": "FRI-MON", "start": "22:00", "stop": "06:00"}]},
    {"timezone": "Asia/Kolkata", "windows": [{"warm": "30 8 * * MON-FRI", "stop": "0 17 * * MON-FRI"}]},
    {"timezone": "America/New_York", "windows": [{"start": "00:00", "stop": "24:00"}]},
]


@pytest.fixture(scope="module")
def api(stack: dict[str, str]) -> str:
    """The API's URL, with the README's model registered."""
    status, body = request("POST", f"{stack['api']}/models", SUPPORT_BOT)
    assert status == 201, body
    return stack["api"]


@pytest.fixture(scope="module")
def api_schema(api: str) -> schemathesis.BaseSchema:
    """The document as the running service serves it."""
    config = schemathesis.Config.from_dict({
        # chalice local admits every request; SigV4 is API Gateway's to check.
        "generation": {"with-security-parameters": False},
    })
    return schemathesis.openapi.from_url(f"{api}/openapi.json", config=config)


def plant_expired_lease(dynamodb_url: str) -> None:
    """A lease that expired an hour ago, on support-bot: kept stored until the model's next
    change drops it. Written to the table, as no request can take a lease in the past."""
    store = DynamoStore(TABLE, boto3.client("dynamodb", endpoint_url=dynamodb_url))
    now = datetime.now(UTC)
    lease = Lease(EXPIRED_LEASE, now - timedelta(hours=2), now - timedelta(hours=1), "nightly-etl")
    for _ in range(5):  # the worker may write the model meanwhile
        model = store.get(SUPPORT_BOT["name"])
        try:
            store.save(replace(model, state=replace(model.state, leases=(lease,))), model.state.version)
            return
        except StateConflict:
            continue
    raise AssertionError("support-bot kept changing; no expired lease planted")


# -- what every answer must be --------------------------------------------------------------
Stored = dict[str, dict[str, Any]]


def stored(api: str) -> Stored:
    """Every model as GET /models lists it, by name, less what the loop moves by itself on
    the real clock (status, calls, cold starts, next action): what a request can change."""
    models: Stored = {}
    token: Optional[str] = None
    for _ in range(MAX_PAGES):
        query = f"&next_token={quote(token, safe='')}" if token else ""
        status, page = request("GET", f"{api}/models?limit=100{query}")
        assert status == 200, page
        for model in page["models"]:
            state = model.pop("state")
            models[model["name"]] = {**model, "leases": state["leases"], "override": state["override"]}
        token = page["next_token"]
        if token is None:
            return models
    raise AssertionError(f"more than {MAX_PAGES} pages of models")


def in_force(models: Stored, now: datetime) -> Stored:
    """``models`` less the leases and overrides that have run out by ``now``: the clock
    ends them, not a request."""
    def running(until: str) -> bool:
        return datetime.fromisoformat(until.replace("Z", "+00:00")) > now

    return {name: {**model, "leases": sorted(lease["id"] for lease in model["leases"] if running(lease["expires_at"])),
                   "override": model["override"] if model["override"] and running(model["override"]["until"]) else None}
            for name, model in models.items()}


def forget_new_models(api: str) -> None:
    """Delete every model but support-bot: each one listed slows every later comparison."""
    for name in stored(api):
        if name != SUPPORT_BOT["name"]:
            assert request("DELETE", f"{api}/models/{name}")[0] == 204


def before(case: schemathesis.Case, api: str) -> Optional[Stored]:
    """What is stored before ``case``, if it is a request that may write."""
    return None if case.method.upper() == "GET" else stored(api)


def judge(case: schemathesis.Case, response: schemathesis.Response, was: Optional[Stored], api: str,
          case_checks: tuple = CHECKS, recorder: Any = None) -> None:
    """Everything an answer must be; ``was`` is what was stored before a request that may write."""
    case.validate_response(response, checks=list(case_checks), recorder=recorder)
    assert response.elapsed < QUICK_SECONDS, f"{case.method} {case.formatted_path} took {response.elapsed:.1f} s"
    if response.status_code < 400:
        return
    if was is not None:
        now = datetime.now(UTC)
        assert in_force(stored(api), now) == in_force(was, now), "a refused request changed what is stored"
    message = response.json()["Message"]
    assert message, response.text
    if response.status_code != 400:
        return
    field = FIELD.match(message)
    assert field, f"the Message does not start with the field at fault: {message}"
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        assert BEYOND_THE_DOCUMENT.fullmatch(field["field"]), f"the document allows what was refused: {message}"


def exchange(case: schemathesis.Case, api: str) -> schemathesis.Response:
    was = before(case, api)
    response = case.call(timeout=30)
    judge(case, response, was, api)
    return response


def make_runnable(case: schemathesis.Case, schedule: dict[str, Any]) -> None:
    """Turn a request the document allows into one the service acts on, by rules the
    document cannot state: a schedule it runs, a request_body only with request_format
    custom, a change that keeps the name and ARN, an override ending within 31 days."""
    positive = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
    if not positive or not isinstance(case.body, dict):
        return
    if case.operation.label in ("POST /models", "PUT /models/{model}"):
        case.body.update(schedule)
        if case.body.get("request_format") != "custom":
            case.body.pop("request_body", None)
    if case.operation.label == "PUT /models/{model}":
        case.body.pop("name", None)
        case.body.pop("model_arn", None)
    if case.operation.label == "PUT /models/{model}/override":
        case.body["until"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()


# -- every operation --------------------------------------------------------------------------
@pytest.mark.parametrize("label", OPERATIONS)
def test_document_and_behaviour_agree(api_schema, api, label):
    operation = api_schema.find_operation_by_label(label)
    cases = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases, model=st.sampled_from([SUPPORT_BOT["name"], None]),
           schedule=st.sampled_from([*SCHEDULES, None]))
    def agree(case: schemathesis.Case, model: Optional[str], schedule: Optional[dict[str, Any]]) -> None:
        # Mostly on the model that exists (never deleting it), else on the generated name.
        if model and "model" in (case.path_parameters or {}) and label != "DELETE /models/{model}":
            case.path_parameters["model"] = model
        if schedule:
            make_runnable(case, schedule)
        response = exchange(case, api)
        if label == "POST /models" and response.status_code == 201:
            assert request("DELETE", f"{api}/models/{response.json()['name']}")[0] == 204

    agree()


# -- the named cases ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Named:
    """A request the issue names, and what it must get: a status and how its Message starts."""

    label: str
    body: Any  # sent as JSON (NaN and Infinity as Python's json writes them), or as is if bytes
    status: int
    message: Optional[str] = None
    lease: Optional[str] = None


def registration(number: int, **fields: Any) -> dict[str, Any]:
    """A registration of a model of its own (``named-<number>``), valid but for ``fields``."""
    return {"model_arn": f"arn:aws:bedrock:us-west-2:123456789012:imported-model/named{number:07d}",
            "name": f"named-{number}", "windows": [{"start": "09:00", "stop": "18:00"}], **fields}


def custom_body(value: Any) -> dict[str, Any]:
    return {"request_format": "custom", "request_body": {"messages": [{"role": "user"}], "temperature": value}}


# Each is sent as a registration and as a change of support-bot: (what, fields, status, Message).
NASTY_FIELDS: list[tuple[str, dict[str, Any], int, Optional[str]]] = [
    ("NaN", custom_body(float("nan")), 400, "request_body.temperature: NaN"),
    ("Infinity", custom_body(float("inf")), 400, "request_body.temperature: Infinity"),
    ("40 digits", custom_body(1234567890123456789012345678901234567890), 400, "request_body.temperature: "),
    ("holidays __class__", {"holidays": {"country": "__class__"}}, 400, "holidays.country: "),
    ("holidays __dict__", {"holidays": {"country": "__dict__"}}, 400, "holidays.country: "),
    ("holidays HolidayBase", {"holidays": {"country": "HolidayBase"}}, 400, "holidays.country: "),
    ("name with a newline", {"name": "support-bot\n"}, 400, "name: "),
    ("ARN with a newline", {"model_arn": SUPPORT_BOT["model_arn"] + "\n"}, 400, "model_arn: "),
    ("EST", {"timezone": "EST"}, 400, "timezone: "),
    ("Etc/GMT+5", {"timezone": "Etc/GMT+5"}, 400, "timezone: "),
    ("all day to 23:59", {"windows": [{"days": "MON-SUN", "start": "00:00", "stop": "23:59"}]}, 200, None),
    ("all day to 24:00", {"windows": [{"start": "00:00", "stop": "24:00"}]}, 200, None),
    ("a year open now", {"windows": [{"warm": "0 0 1 1 *", "stop": "0 0 31 12 *"}]}, 200, None),
    ("720 openings a day", {"windows": [{"warm": "*/2 * * * *", "stop": "1-59/2 * * * *"}]}, 400, "windows[0]: "),
    ("a week date", {"exclude_dates": ["2026-W10-1"]}, 400, "exclude_dates[0]: '2026-W10-1' is not a date (YYYY-MM-DD)"),
    ("a place for a zone", {"timezone": "Berlin"}, 400,
     "timezone: 'Berlin' is not an IANA time zone name; did you mean 'Europe/Berlin'?"),
]
BODY_ROUTES = ["POST /models", "PUT /models/{model}", "POST /models/{model}/leases", "PUT /models/{model}/override"]
EXPIRED = f"lease {EXPIRED_LEASE} of {SUPPORT_BOT['name']} expired at "
NAMED = {
    **{f"register, {what}": Named("POST /models", registration(n, **fields), 201 if status == 200 else status, message)
       for n, (what, fields, status, message) in enumerate(NASTY_FIELDS)},
    **{f"change, {what}": Named("PUT /models/{model}", fields, status, message)
       for what, fields, status, message in NASTY_FIELDS},
    "an expired lease, shown": Named("GET /models/{model}/leases/{lease}", None, 404, EXPIRED, EXPIRED_LEASE),
    "an expired lease, released": Named("DELETE /models/{model}/leases/{lease}", None, 404, EXPIRED, EXPIRED_LEASE),
    "an override past 31 days": Named("PUT /models/{model}/override", {
        "state": "warm", "until": (datetime.now(UTC) + timedelta(days=32)).isoformat()}, 400,
        "until: must be at most 31 days away"),
    "a lease without minutes": Named("POST /models/{model}/leases", {}, 400, "minutes: is required"),
    "an override until a week date": Named("PUT /models/{model}/override", {
        "state": "warm", "until": "2026-W10-1T09:00:00Z"}, 400, "until: "),
    "a foundation model's ARN": Named("POST /models", registration(
        90, model_arn="arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"), 400,
        "model_arn: 'arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0' is not "
        "an imported-model ARN: it names a foundation-model"),
    "the README model's ARN again": Named("POST /models", registration(91, model_arn=SUPPORT_BOT["model_arn"]), 409,
                                          f"model_arn: a model with model_arn {SUPPORT_BOT['model_arn']!r} is "
                                          "already registered as model 'support-bot'"),
    **{f"{label}, malformed JSON": Named(label, b'{"minutes": 5,}', 400, "body: is not valid JSON")
       for label in BODY_ROUTES},
    **{f"{label}, empty body": Named(label, b"", 400, "body: is required") for label in BODY_ROUTES},
}


@pytest.mark.parametrize("named", NAMED.values(), ids=NAMED.keys())
def test_the_named_cases(api_schema, api, stack, named):
    if named.lease:
        plant_expired_lease(stack["dynamodb_sqs"])
    operation = api_schema.find_operation_by_label(named.label)
    path = {"model": SUPPORT_BOT["name"], **({"lease": named.lease} if named.lease else {})}
    body = {} if named.body is None else {
        "body": named.body if isinstance(named.body, bytes) else json.dumps(named.body).encode(),
        "media_type": "application/json"}
    case = operation.Case(path_parameters=path if "{model}" in operation.path else None, **body)
    response = exchange(case, api)
    assert response.status_code == named.status, response.text
    if named.message:
        assert response.json()["Message"].startswith(named.message), response.text
    if named.status == 201:
        assert request("DELETE", f"{api}/models/{response.json()['name']}")[0] == 204


# -- links ----------------------------------------------------------------------------------------
def test_links_lead_where_the_document_says(api_schema, api):
    """From new models and leases, follow the document's links: each must lead to what was
    just made (ensure_resource_availability), and a removed model stays gone (use_after_free)."""

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        was: Optional[Stored] = None

        def before_call(self, case: schemathesis.Case) -> None:
            make_runnable(case, SCHEDULES[0])
            self.was = before(case, api)

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            judge(case, response, self.was, api, LINK_CHECKS, self.recorder)

        def teardown(self) -> None:
            forget_new_models(api)

    # Not shrunk: a scenario replayed on a store its first run changed takes other paths,
    # which Hypothesis would report instead of the failure.
    Workflow.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None, derandomize=True,
                                   database=None, suppress_health_check=list(HealthCheck),
                                   phases=[Phase.explicit, Phase.generate]))


# -- the loop ---------------------------------------------------------------------------------------
def json_tail(line: str) -> Optional[dict]:
    """The structured event a log line ends with, if it is one of the service's own."""
    start = line.find("{")
    try:
        event = json.loads(line[start:]) if start >= 0 else None
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def test_the_loop_ran_all_along(api, stack_dir: Path):
    """Everything registered above was planned by the tick and called by the worker as it
    came: neither may have failed on any of it."""
    log = (stack_dir / "stack.log").read_text() + (stack_dir / "service.log").read_text()
    # Only the service's own JSON lines: a fuzzed URL may well name a model "planning_failed".
    events = [event for event in map(json_tail, log.splitlines()) if event is not None]
    ticks = [event for event in events if event["event"] == "tick"]
    assert ticks, "the tick never ran"
    assert "tick failed" not in log and "worker failed" not in log, log[-5000:]
    assert [tick for tick in ticks if tick["failed"]] == []
    assert [event for event in events if event.get("reason") == "planning_failed"] == []
