"""The REST API's logic: validate requests, act on the store, shape responses.

Routes in app.py only read the request and call in here. Domain errors become HTTP errors
in exactly one place, :func:`http_errors`. A request is validated whole before anything
is written, so a rejected request changes nothing stored.
"""
from __future__ import annotations

import json
import math
import re
import secrets
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Iterator, Optional, Protocol, Union
from urllib.parse import unquote

import holidays
from chalice import BadRequestError, ChaliceViewError, ConflictError, NotFoundError

from chalicelib import costs, readiness, suggest, traffic
from chalicelib import probe as probing
from chalicelib.bedrock import ControlPlane, ControlPlaneError, custom_model_units, format_in_use
from chalicelib.budget import PlanningOverrun, budget
from chalicelib.loop import fleet_priors
from chalicelib.planner import (
    MODEL_ERROR,
    PLANNING_ERRORS,
    Action,
    cold_answer_seconds,
    display_status,
    drop_claim,
    is_warm,
    keepalive_in_force,
    load_samples,
    model_cmus,
    next_action,
    percentile,
    prewarm_lead,
    prior_of,
    ready_check_at,
    release_in_force,
    typical_load,
    warm_latency_ms,
    with_next_due,
)
from chalicelib.records import (
    ARN_PARTS,
    ROLE_NAME,
    ARN_RE,
    NAME_RE,
    REQUEST_FORMATS,
    Event,
    ImportedModel,
    Lease,
    Model,
    ModelConfig,
    ModelState,
    Override,
    arn_account,
    arn_partition,
    expire_leases,
    iso,
    parse_iso,
)
from chalicelib.schedule import Interval, Schedule, ScheduleError
from chalicelib.settings import Settings
from chalicelib.store import BadPageToken, ModelAlreadyExists, ModelNotFound, StateConflict, Store
from chalicelib.telemetry import Journal
from chalicelib.timeline import current_window, exclusions, holiday_calendar, next_hold, window_intervals

MAX_KEEPALIVE_MINUTES = 14
MAX_RELEASE_MINUTES = 120
MAX_REQUEST_BODY_BYTES = 4096
# DynamoDB nests at most 32 levels in an item, and the stored config holds request_body a
# level or two down: 16 leaves room and is deeper than any model's request needs.
MAX_REQUEST_BODY_DEPTH = 16
# DynamoDB numbers: 38 digits of precision, magnitude from 1e-130. The store reads a whole
# number back as an int, which it must be able to write again, so whole numbers (and floats
# from 1e38, which are all whole) stop below 1e38.
MAX_STORED_DIGITS = 38
MIN_STORED_MAGNITUDE = 1e-130
MAX_PAGE = 100
MAX_PREVIEW_DAYS = 92
FIELDS = {"model_arn", "name", "timezone", "windows", "keepalive_minutes", "release_minutes",
          "enabled", "request_format", "request_body", "exclude_dates", "holidays",
          "custom_model_units", "role_arn", "external_id", "billing_aware_prewarm"}
UPDATE_TRIES = 3
MAX_EXCLUDE_DATES = 366
MAX_LISTED_SUBDIVISIONS = 12
MAX_LEASE_MINUTES = 720
MAX_ACTIVE_LEASES = 20
# How long an ended lease (expired or released) is remembered, and how many at most: a
# batch job's cleanup releasing it late is told it is over (not that it never existed).
LEASE_MEMORY = timedelta(days=7)
MAX_ENDED_LEASES = 50
MAX_OVERRIDE_DAYS = 31
MAX_COST_DAYS = 366
# A suggestion reads at most this many weeks of hourly counts (CloudWatch keeps hourly data
# 455 days; keepwarm's own calls are known for KEEPWARM_EVENT_TTL_DAYS), and prices its
# windows, today's and always-on over the COST_DAYS ahead, as GET .../cost does by default.
MAX_SUGGEST_WEEKS = 8
MAX_SUGGEST_EVENTS = 50_000
COST_DAYS = 30
# Well under API Gateway's 29 s; every schedule the API accepts plans in far less.
API_PLANNING_BUDGET_SECONDS = 10


class UpstreamError(ChaliceViewError):
    """A service keepwarm depends on (Bedrock's control plane) refused or failed."""

    STATUS_CODE = 502


class RequestError(ValueError):
    """Bad input; the message names the field and the problem."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


@contextmanager
def http_errors() -> Iterator[None]:
    """Map domain errors to Chalice's HTTP errors (the only place that does). Every route
    runs in here, so this is also where a request's planning gets its time budget."""
    try:
        with budget(API_PLANNING_BUDGET_SECONDS):
            yield
    except (RequestError, ScheduleError, BadPageToken) as err:
        raise BadRequestError(str(err)) from None
    except PlanningOverrun:
        raise BadRequestError(f"windows: planning this schedule took over {API_PLANNING_BUDGET_SECONDS} s; "
                              "use fewer windows or fewer openings a day (or ask for fewer days)") from None
    except LeaseGone as err:
        raise LeaseEnded(str(err)) from None
    except (ModelNotFound, LeaseNotFound) as err:
        raise NotFoundError(str(err)) from None
    except ModelAlreadyExists as err:
        raise ConflictError(str(err)) from None
    except StateConflict as err:
        raise ConflictError(f"the model changed while this request ran, try again ({err})") from None
    except (LeaseRefused, ProbeRefused) as err:
        raise ConflictError(str(err)) from None
    except (costs.CostError, ControlPlaneError, traffic.TrafficError) as err:
        raise UpstreamError(str(err)) from None


class LeaseRefused(Exception):
    """The model cannot take a lease now: too many already, paused, or held cold."""


class ProbeRefused(Exception):
    """A probe cannot run now; the message says why."""


class LeaseNotFound(Exception):
    """No such lease was taken on the model (within LEASE_MEMORY)."""


class LeaseGone(LeaseNotFound):
    """The lease existed and is over: it expired, or was released."""


class LeaseEnded(NotFoundError):
    """404 for a lease that existed and is over, with its own code (``LeaseEnded``), so
    that a client can tell it from an id that never named a lease (``NotFoundError``)."""


# As create_lease mints them ("l" + secrets.token_hex(6)); anything else names no lease.
LEASE_ID_RE = re.compile(r"^l[0-9a-f]{12}\Z")


# -- the body -----------------------------------------------------------------------------
class _NotFinite:
    """A number Python would read as NaN or as infinite (``NaN``, ``-Infinity``, ``1e400``),
    kept as its text until its place in the body is known, then refused."""

    def __init__(self, text: str):
        self.text = text


def _finite_float(text: str) -> Union[float, _NotFinite]:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def parse_body(raw: Union[str, bytes, None]) -> Any:
    """A request's body as strict JSON (UTF-8, finite numbers), whatever its Content-Type
    says: curl sends ``-d`` data as a form unless told otherwise.

    Python's json reads NaN and Infinity, which no model accepts and DynamoDB cannot
    store, so they are refused here, by the path to them."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else (raw or "")
    except UnicodeDecodeError as err:
        raise RequestError("body", f"is not valid JSON (not UTF-8 text: {err.reason} at byte {err.start})") from None
    if not text.strip():
        raise RequestError("body", "is required (a JSON object)")
    try:
        body = json.loads(text, parse_constant=_NotFinite, parse_float=_finite_float)
    except json.JSONDecodeError as err:
        raise RequestError("body", f"is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise RequestError("body", "is not valid JSON (nested too deeply)") from None
    except ValueError:  # Python reads no integer of more than 4300 digits
        raise RequestError("body", "is not valid JSON (a number has more than 4300 digits)") from None
    for path, value, _ in _json_nodes(body):
        problem = _wire_problem(value)
        if problem:
            raise RequestError(path, problem)
    return body


def _json_nodes(value: Any, path: str = "") -> Iterator[tuple[str, Any, int]]:
    """Every value in a JSON document, in document order, with its path
    (``request_body.messages[0].role``) and depth (the root is 1). Iterative: a body
    nested a thousand deep is walked, not a RecursionError."""
    stack = [(path, value, 1)]
    while stack:
        path, value, depth = stack.pop()
        yield path or "body", value, depth
        if isinstance(value, dict):
            children = [(_child_path(path, key), item, depth + 1) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(_child_path(path, i), item, depth + 1) for i, item in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))


def _child_path(path: str, key: Union[str, int]) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path or 'body'}[{key if isinstance(key, int) else json.dumps(key)}]"


def _wire_problem(value: Any) -> Optional[str]:
    """Why ``value`` cannot be stored or sent as strict JSON; None if it can."""
    if isinstance(value, _NotFinite):
        return f"{value.text} is not allowed; numbers must be finite"
    if isinstance(value, float) and not math.isfinite(value):
        spelled = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"{spelled} is not allowed; numbers must be finite"
    if isinstance(value, str) and not _is_unicode(value):
        return f"is not valid Unicode text ({_LONE_SURROGATE})"
    if isinstance(value, dict) and not all(_is_unicode(key) for key in value):
        return f"has a key that is not valid Unicode text ({_LONE_SURROGATE})"
    return None


# JSON can escape half of a UTF-16 pair on its own ("\\ud800"); UTF-8 cannot hold it.
_LONE_SURROGATE = "a lone surrogate such as \\ud800; characters beyond U+FFFF are escaped as pairs"


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- validation ---------------------------------------------------------------------------
def _int(body: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(field, f"must be a whole number from {low} to {high}, got {str(value)[:40]!r}")
    if not low <= value <= high:
        raise RequestError(field, f"must be from {low} to {high}, got {value}")
    return value


def _bool(body: dict[str, Any], field: str, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise RequestError(field, f"must be true or false, got {str(value)[:40]!r}")
    return value


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError("body", "must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        # Spelled as a path, like every other field: a raw key ("", "windows: x") would
        # make the message start with nothing, or with a field that is not at fault.
        raise RequestError(_child_path("", unknown[0]), f"unknown field (known: {', '.join(sorted(FIELDS))})")
    return body


def _config(body: dict[str, Any], defaults: ModelConfig, now: datetime, settings: Settings) -> ModelConfig:
    """Validate every field of ``body`` over ``defaults``; the result is what is stored."""
    schedule = _schedule(body, defaults, now)
    release = _int(body, "release_minutes", defaults.release_minutes, 2, MAX_RELEASE_MINUTES)
    keepalive = _int(body, "keepalive_minutes", defaults.keepalive_minutes, 1, MAX_KEEPALIVE_MINUTES)
    if keepalive >= release:
        field = "keepalive_minutes" if "keepalive_minutes" in body else "release_minutes"
        raise RequestError(field, f"keepalive_minutes ({keepalive}) must be below release_minutes "
                                  f"({release}): a copy must not be released between keep-alives")
    enabled = _bool(body, "enabled", defaults.enabled)
    billing_aware = _bool(body, "billing_aware_prewarm", defaults.billing_aware_prewarm)
    request_format = body.get("request_format", defaults.request_format)
    if request_format not in REQUEST_FORMATS:
        raise RequestError("request_format", f"must be one of {', '.join(REQUEST_FORMATS)}, got {request_format!r}")
    request_body = body.get("request_body", defaults.request_body)
    if request_format == "custom":
        _request_body(request_body)
    elif "request_body" in body and request_body is not None:
        raise RequestError("request_body", "is only used with request_format custom")
    else:
        request_body = None
    role_arn, external_id = _role(body, defaults, settings)
    spec = schedule.to_dict()
    return replace(defaults, timezone=spec["timezone"], windows=spec["windows"],
                   role_arn=role_arn, external_id=external_id,
                   keepalive_minutes=keepalive, release_minutes=release, enabled=enabled,
                   billing_aware_prewarm=billing_aware,
                   request_format=request_format, request_body=request_body,
                   exclude_dates=_exclude_dates(body.get("exclude_dates", list(defaults.exclude_dates))),
                   holidays=_holidays(body.get("holidays", defaults.holidays)),
                   custom_model_units=_optional_int(body, "custom_model_units",
                                                    defaults.custom_model_units, 1, 1000))


def _schedule(body: dict[str, Any], defaults: ModelConfig, now: datetime) -> Schedule:
    """The schedule the request asks for. Only a schedule the request changes is checked
    against ``now`` (it must open): a stored one was checked when it was stored, and a
    window that opened then but never again (``0 9 29 2 *`` after its last leap day) must
    not stop the model from being paused or edited, nor a fleet file that repeats it."""
    zone, windows = body.get("timezone", defaults.timezone), body.get("windows", defaults.windows)
    if defaults.windows:  # a change, not a registration
        asked = Schedule.from_stored(zone, windows)
        if asked.to_dict() == Schedule.from_stored(defaults.timezone, defaults.windows).to_dict():
            return asked
    return Schedule.from_dict(zone, windows, at=now)


# IAM's role ARN (a path of /-separated names, then the name) and STS's external id.
ROLE_RE = re.compile(rf"^arn:(?P<partition>{ARN_PARTS['partition']}):iam::{ARN_PARTS['account']}:"
                     rf"role/{ROLE_NAME}\Z")
ROLE_RULE = "arn:<partition>:iam::<12-digit account>:role/<name>"
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}\Z")


def _role(body: dict[str, Any], defaults: ModelConfig, settings: Settings) -> tuple[Optional[str], Optional[str]]:
    """The role (and external id) the model is reached through: an IAM role ARN in the
    model's partition that the operator's KEEPWARM_ASSUME_ROLE_PATTERN allows."""
    role_arn = body.get("role_arn", defaults.role_arn)
    dropped = "role_arn" in body and role_arn is None and "external_id" not in body
    external_id = None if dropped else body.get("external_id", defaults.external_id)
    if role_arn is None:
        if external_id is not None:
            raise RequestError("external_id", "is only used with role_arn")
        return None, None
    match = ROLE_RE.match(role_arn) if isinstance(role_arn, str) else None
    if match is None:
        raise RequestError("role_arn", f"{str(role_arn)[:300]!r} is not an IAM role ARN; expected {ROLE_RULE}")
    partition = arn_partition(defaults.model_arn)
    if match.group("partition") != partition:
        raise RequestError("role_arn", f"is in partition {match.group('partition')} and the model in {partition}; "
                                       "a role is assumed in the model's own partition")
    pattern = settings.assume_role_pattern
    if not pattern:
        raise RequestError("role_arn", f"this keepwarm assumes no roles: its operator sets "
                                       f"{Settings.env_name('assume_role_pattern')} (e.g. "
                                       "arn:aws:iam::*:role/keepwarm-*) and grants sts:AssumeRole on the same roles")
    if not _iam_match(pattern, role_arn):
        raise RequestError("role_arn", f"{role_arn!r} is not a role this keepwarm may assume: "
                                       f"they match {pattern}")
    if external_id is not None and not (isinstance(external_id, str) and EXTERNAL_ID_RE.match(external_id)):
        raise RequestError("external_id", "must be 2-1224 letters, digits or the characters _+=,.@:/- "
                                          "(what STS takes)")
    return role_arn, external_id


def _iam_match(pattern: str, arn: str) -> bool:
    """Whether ``arn`` matches an IAM resource pattern (``*``: any run, ``?``: one character)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def _request_body(value: Any) -> None:
    """A custom body must be storable in DynamoDB as it is and sendable as strict JSON."""
    if not isinstance(value, dict) or not value:
        raise RequestError("request_body", "must be a non-empty JSON object when request_format is custom")
    for path, node, depth in _json_nodes(value, "request_body"):
        if isinstance(node, (dict, list)) and depth > MAX_REQUEST_BODY_DEPTH:
            raise RequestError(path, f"is nested {depth} levels deep; request_body may nest at most "
                                     f"{MAX_REQUEST_BODY_DEPTH} levels of objects and lists")
        problem = _wire_problem(node) or _stored_number_problem(node)
        if isinstance(node, dict) and "" in node:  # DynamoDB keeps no empty map key
            problem = problem or 'has an empty key ""; object keys must not be empty'
        if problem:
            raise RequestError(path, problem)
    if len(json.dumps(value)) > MAX_REQUEST_BODY_BYTES:
        raise RequestError("request_body", f"must be at most {MAX_REQUEST_BODY_BYTES} bytes as JSON")


def _stored_number_problem(value: Any) -> Optional[str]:
    """Why DynamoDB (through this store) cannot keep the number ``value``; None if it can."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
        return None
    if isinstance(value, int):
        digits = len(str(abs(value)))
        if digits <= MAX_STORED_DIGITS:
            return None
        shown = str(value) if digits <= 60 else f"{str(value)[:40]}..."
        return f"{shown} has {digits} digits; whole numbers may have at most {MAX_STORED_DIGITS} (DynamoDB's precision)"
    if abs(value) >= 10.0 ** MAX_STORED_DIGITS:
        return (f"{value!r} is too large; numbers must be below 1e{MAX_STORED_DIGITS} in magnitude "
                f"(DynamoDB keeps {MAX_STORED_DIGITS} digits)")
    if abs(value) < MIN_STORED_MAGNITUDE:
        return (f"{value!r} is too small; numbers other than 0 must be at least {MIN_STORED_MAGNITUDE!r} "
                "in magnitude (DynamoDB's range)")
    return None


# Dates and instants as the API takes them: ISO 8601's calendar dates, extended form only.
# Python's fromisoformat also reads week dates ("2026-W10-1" is 2 March) and the basic
# form ("20260309"), which nobody typing a date means and which would be kept as another day.
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
                        r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})\Z")


def calendar_date(text: Any) -> date:
    """A date written YYYY-MM-DD; ValueError for anything else."""
    if not isinstance(text, str) or not DATE_RE.match(text):
        raise ValueError(f"{str(text)[:40]!r} is not a date (YYYY-MM-DD)")
    return date.fromisoformat(text)


def _exclude_dates(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_EXCLUDE_DATES:
        raise RequestError("exclude_dates", f"must be a list of at most {MAX_EXCLUDE_DATES} dates (YYYY-MM-DD)")
    days = set()
    for i, text in enumerate(value):
        try:
            days.add(calendar_date(text).isoformat())
        except ValueError:
            raise RequestError(f"exclude_dates[{i}]", f"{str(text)[:40]!r} is not a date (YYYY-MM-DD)") from None
    return tuple(sorted(days))


def _holidays(value: Any) -> Optional[dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"country", "subdiv"} or "country" not in value:
        raise RequestError("holidays", 'must be null or {"country": "GB", "subdiv": "ENG"} (subdiv optional)')
    country, subdiv = value["country"], value.get("subdiv")
    for field, text in (("country", country), ("subdiv", subdiv)):
        if text is not None and not isinstance(text, str):
            raise RequestError(f"holidays.{field}", f"must be a string, got {str(text)[:40]!r}")
    # Checked against the package's own list before it is asked for a calendar: it looks
    # the code up as an attribute, so "__class__" would otherwise reach its internals.
    countries = _holiday_countries()
    if country not in countries:
        hint = (f"did you mean {country.upper()!r}?" if country.upper() in countries
                else "use its ISO 3166 alpha-2 code in capitals, e.g. GB, US, DE")
        raise RequestError("holidays.country", f"{country[:40]!r} is not a country the holidays package knows; {hint}")
    subdivisions = countries[country]
    if subdiv is not None and subdiv not in subdivisions:
        if not subdivisions:
            raise RequestError("holidays.subdiv", f"{country} has no subdivisions; leave subdiv out")
        shown = ", ".join(subdivisions[:MAX_LISTED_SUBDIVISIONS])
        if len(subdivisions) > MAX_LISTED_SUBDIVISIONS:
            shown += f", ... ({len(subdivisions)} in all)"
        raise RequestError("holidays.subdiv", f"{subdiv[:40]!r} is not a subdivision of {country}; use one of {shown}")
    holiday_calendar(country, subdiv)  # built (and cached) now, not by the first tick
    return {"country": country, "subdiv": subdiv} if subdiv else {"country": country}


@lru_cache(maxsize=1)
def _holiday_countries() -> dict[str, list[str]]:
    """Country codes (alpha-2, alpha-3 and a few aliases such as UK) -> their subdivisions."""
    return holidays.list_supported_countries()


def _optional_int(body: dict[str, Any], field: str, default: Optional[int], low: int, high: int) -> Optional[int]:
    if body.get(field, default) is None:
        return None
    return _int(body, field, default or low, low, high)


ARN_RULE = ("arn:aws[-cn|-us-gov]:bedrock:<region>:<12-digit account>:imported-model/"
            "<id of exactly 12 lowercase letters and digits>")


def _arn_problem(arn: str) -> str:
    """Which part keeps ``arn`` (which ARN_RE refused) from being an imported-model ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return "an ARN has six parts separated by ':', starting with arn"
    _, partition, service, region, account, resource = parts
    kind, _, model_id = resource.partition("/")
    if not re.fullmatch(ARN_PARTS["partition"], partition):
        return f"the partition {partition[:40]!r} is not aws, aws-cn or aws-us-gov"
    if service != "bedrock":
        return f"the service is {service[:40]!r}, not bedrock"
    if not re.fullmatch(ARN_PARTS["region"], region):
        return f"the region {region[:40]!r} is not an AWS region name such as us-west-2"
    if kind in ("foundation-model", "inference-profile", "application-inference-profile", "provisioned-model",
                "prompt-router", "default-prompt-router"):
        # Checked before the account: a foundation model's ARN has none, which is not the point.
        return (f"it names a {kind} ({resource[:80]!r}); keepwarm keeps imported models warm (Custom Model "
                "Import), whose ARN names an imported-model in your account")
    if not re.fullmatch(ARN_PARTS["account"], account):
        return f"the account {account[:40]!r} is not 12 digits"
    if kind != "imported-model":
        return f"the resource type is {kind[:40]!r}, not imported-model"
    if len(model_id) != 12:
        return f"the model id {model_id[:40]!r} has {len(model_id)} characters"
    return f"the model id {model_id!r} is not lowercase letters and digits"


def new_config(body: Any, now: datetime, settings: Settings) -> ModelConfig:
    body = _object(body)
    arn = body.get("model_arn")
    if arn is None:
        raise RequestError("model_arn", "is required")
    if not isinstance(arn, str):
        raise RequestError("model_arn", f"must be a string, got {str(arn)[:40]!r}; expected {ARN_RULE}")
    match = ARN_RE.match(arn)
    if match is None:
        raise RequestError("model_arn", f"{arn[:300]!r} is not an imported-model ARN: {_arn_problem(arn)}; "
                                        f"expected {ARN_RULE}")
    name = body.get("name", match.group("model_id"))
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RequestError("name", f"{str(name)[:100]!r} must be 1-63 lowercase letters, digits "
                                   "or hyphens, starting with a letter or digit")
    if "windows" not in body:
        raise RequestError("windows", "is required (at least one window)")
    defaults = ModelConfig(name=name, model_arn=arn, timezone="UTC", windows=[],
                           keepalive_minutes=settings.default_keepalive_minutes,
                           release_minutes=settings.default_release_minutes,
                           created_at=now, updated_at=now)
    return _config(body, defaults, now, settings)


def changed_config(current: ModelConfig, body: Any, now: datetime, settings: Settings) -> ModelConfig:
    body = _object(body)
    for field in ("model_arn", "name"):
        if field in body and body[field] != getattr(current, field):
            raise RequestError(field, "cannot be changed; delete the model and register it again")
    return replace(_config(body, current, now, settings), updated_at=now)


def model_key(raw: str) -> str:
    """The ``{model}`` path parameter: a name or a URL-encoded ARN. Anything else names no
    model (and must not reach the store: a key has a size limit)."""
    key = unquote(raw)
    if not (NAME_RE.match(key) or ARN_RE.match(key)):
        raise ModelNotFound(key[:100])
    return key


def lease_key(raw: str) -> str:
    """The ``{lease}`` path parameter; anything not shaped like a lease id names no lease."""
    lease_id = unquote(raw)
    if not LEASE_ID_RE.match(lease_id):
        raise LeaseNotFound(f"no lease {lease_id[:40]!r} (a lease id is l and 12 hex digits)")
    return lease_id


def query_share(params: Optional[dict[str, str]], field: str, default: float) -> float:
    """A share above 0 and at most 1, such as 0.99."""
    raw = (params or {}).get(field)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= 1:
        raise RequestError(field, f"must be a number above 0 and at most 1 (0.99 is 99%), got {raw[:40]!r}")
    return value


def query_int(params: Optional[dict[str, str]], field: str, default: int, low: int, high: int) -> int:
    raw = (params or {}).get(field)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(field, f"must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise RequestError(field, f"must be from {low} to {high}, got {value}")
    return value


# -- views --------------------------------------------------------------------------------
def expected_ready_at(model: Model, now: datetime, settings: Settings) -> datetime:
    """When a call made now is expected to find the model ready, from its cold starts."""
    config, state = model.config, model.state
    if is_warm(config, state, now):
        return now
    typical = typical_load(config, state, settings)
    if state.status == "warming" and state.warming_since is not None:
        return max(now + timedelta(seconds=settings.poll_seconds), state.warming_since + typical)
    return now + typical


def _override_in_force(state: ModelState, now: datetime) -> Optional[Override]:
    return state.override if state.override is not None and now < state.override.until else None


def lease_blocker(model: Model, now: datetime) -> Optional[str]:
    """Why no lease can warm the model now, and how to lift it; None if a lease can.

    A paused model is never called, and a cold override suppresses every hold until it
    ends: a lease taken then would promise a readiness that never comes."""
    override = _override_in_force(model.state, now)
    if not model.config.enabled:
        return (f"{model.name} is paused (enabled: false); PUT /models/{model.name} with "
                '{"enabled": true} resumes it')
    if override is not None and override.state == "cold":
        return (f"a cold override keeps {model.name} cold until {iso(override.until)}; "
                f"DELETE /models/{model.name}/override ends it")
    return None


def lease_view(model: Model, lease: Lease, now: datetime, settings: Settings) -> dict[str, Any]:
    config, state = model.config, model.state
    active = now < lease.expires_at
    blocked = lease_blocker(model, now) if active else None
    promised = active and blocked is None
    status = display_status(config, state, now, settings)
    error = shown_error(state, status)
    return {
        "id": lease.id, "model": model.name, "holder": lease.holder,
        "created_at": iso(lease.created_at), "expires_at": iso(lease.expires_at), "active": active,
        "ready": promised and is_ready(config, state, now), "status": status,
        # A model in error is ready at no time anyone can foresee: none is promised.
        "expected_ready_at": iso(expected_ready_at(model, now, settings)) if promised and status != "error" else None,
        "blocked": blocked,
        "error": error,
        # When the error was last answered, and when a call verifies it again: a waiting
        # batch job gives up once an answer after its lease confirms the error.
        "error_at": iso(state.error_at) if error else None,
        "verify_at": iso(state.verify_requested_at) if error and state.verify_requested_at else None,
    }


def is_ready(config: ModelConfig, state: ModelState, now: datetime) -> bool:
    """A copy is loaded as far as its last answer shows, and its calls succeed."""
    return is_warm(config, state, now) and state.error is None


def shown_error(state: ModelState, status: str) -> Optional[str]:
    """The error a user should see: the model's, in status error; and a failing container's
    (ModelErrorException) while the model is warm, since its calls fail all the same."""
    return state.error if status == "error" or state.error_kind == MODEL_ERROR else None


def view(model: Model, now: datetime, settings: Settings) -> dict[str, Any]:
    config, state = model.config, model.state
    samples, bounds = load_samples(config, state, settings)
    status = display_status(config, state, now, settings)
    error = shown_error(state, status)
    try:
        with budget(settings.plan_budget_seconds):
            action = next_action(config, state, now, settings)
            window_open = config.enabled and current_window(config, now) is not None
            prewarm = prewarm_view(config, state, now, settings)
    except PLANNING_ERRORS as err:
        # A stored model must always be viewable; the planning failure is its error.
        action, window_open, prewarm = None, False, None
        status, error = "error", f"planning failed ({type(err).__name__}: {str(err)[:300]})"
    override = _override_in_force(state, now)
    return {
        **config.to_item(),
        "state": {
            "status": status,
            "ready": is_ready(config, state, now),
            "window_open": window_open,
            "last_success_at": iso(state.last_success_at),
            "last_call_at": iso(state.last_call_at),
            "warming_since": iso(state.warming_since),
            "next_action": {"kind": action.kind, "at": iso(action.at)} if action else None,
            "error": error,
            "keepalive_minutes_in_force": keepalive_in_force(config, state),
            "release_minutes_assumed": release_in_force(config, state),
            "keepalive_reason": state.keepalive_reason,
            "release_learning": {
                "found_cold_after_minutes": state.release_found_cold_minutes,
                "proven_safe_minutes": state.release_proven_minutes,
                "region_found_cold_after_minutes": state.region_release_minutes,
            },
            "warm_latency": warm_latency_view(state),
            "prewarm_lead_seconds": prewarm_lead(config, state, settings).total_seconds(),
            "prewarm": prewarm,
            "cold_starts": {
                "count": state.cold_start_count,
                "exact": len(samples),
                "bounded": len(bounds),
                "last_seconds": samples[-1] if samples else None,
                "p50_seconds": percentile(samples, 50),
                "p95_seconds": percentile(samples, 95),
                "typical_seconds": round(typical_load(config, state, settings).total_seconds(), 1),
                "prior": prior_of(state, settings).source,
            },
            "leases": [lease_view(model, lease, now, settings)
                       for lease in state.leases if lease.expires_at > now],
            "override": override.to_item() if override else None,
            "verification": verification_view(state, action),
            "request_format": request_format_view(config, state),
            "probe": probing.view(state.probe, config),
        },
        "readiness": readiness.view(state, now),
    }


def warm_latency_view(state: ModelState) -> dict[str, Any]:
    """A loaded copy's one-token answer time, learned from recent warm answers, and the
    answer time beyond which an answer is read as a cold copy (planner.evidence_of)."""
    p50, p95 = warm_latency_ms(state)
    return {"p50_ms": p50, "p95_ms": p95, "samples": len(state.warm_latencies_ms),
            "cold_above_ms": round(cold_answer_seconds(state) * 1000)}


def prewarm_view(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> Optional[dict[str, Any]]:
    """The next pre-warm: when the load is triggered, when (if the model is billing-aware)
    the first call that can succeed goes out, and when the window opens; None when the
    next hold is already open, or none comes."""
    lead = prewarm_lead(config, state, settings)
    hold = next_hold(config, state, now, lead) if config.enabled else None
    if hold is None or hold.open <= now:
        return None
    check = ready_check_at(config, state, hold, settings)
    why = ("billing starts at the first successful call: the load is triggered at load_at, and the first "
           "call that can succeed is held until ready_check_at, just before the open: every minute billed "
           "before the open is paid for once users call") if check else (
        "the first call triggers the load and the model is polled until ready")
    return {"billing_aware": config.billing_aware_prewarm, "load_at": iso(hold.start),
            "ready_check_at": iso(check), "opens_at": iso(hold.open), "why": why}


def request_format_view(config: ModelConfig, state: ModelState) -> dict[str, Any]:
    """The body the next call sends and why; with request_format auto, also whether the
    model has accepted it and which bodies it refused."""
    in_use, why = format_in_use(config, state)
    auto = config.request_format == "auto"
    return {"in_use": in_use, "why": why, "accepted": state.format_confirmed is not None if auto else None,
            "refused": list(state.formats_refused)}


def verification_view(state: ModelState, action: Optional[Action]) -> dict[str, Any]:
    """Whether Bedrock confirmed the model exists, what it said about it, and, for a model
    registered while the control plane did not answer, why not and when it is checked
    again: by the worker, just before the model's next call."""
    imported = state.imported or ImportedModel()
    verified = state.verified_at is not None
    return {
        "status": "verified" if verified else "unverified",
        "checked_at": iso(state.verified_at),
        "reason": None if verified else state.unverified_reason,
        "next_check_at": None if verified or action is None else iso(action.at),
        "architecture": imported.architecture,
        "imported_at": iso(imported.created_at),
        "instruct_supported": imported.instruct_supported,
        "custom_model_units": imported.custom_model_units,
    }


# -- operations ---------------------------------------------------------------------------
class Dispatcher(Protocol):
    def dispatch(self, model: Model, now: datetime) -> Model: ...


def _active_leases(state: ModelState, now: datetime) -> tuple[Lease, ...]:
    return tuple(lease for lease in state.leases if lease.expires_at > now)


def _remembered(state: ModelState, now: datetime) -> tuple[Lease, ...]:
    """The active leases and those that ended within LEASE_MEMORY (the latest
    MAX_ENDED_LEASES), in the order they were taken."""
    ended = [lease for lease in state.leases if now - LEASE_MEMORY < lease.expires_at <= now]
    kept = set(id(lease) for lease in sorted(ended, key=lambda lease: lease.expires_at)[-MAX_ENDED_LEASES:])
    return tuple(lease for lease in state.leases if lease.expires_at > now or id(lease) in kept)


def _replanned(state: ModelState, retry_errors: bool, now: datetime) -> ModelState:
    """A changed plan: in-flight calls become stale, and (if asked) an error the operator
    may just have fixed is tried again at once: a call is planned now to verify it. Only
    that call's answer clears the error (or confirms it); a request never does, because
    nothing but an answer says whether the model's calls succeed. A planning error is
    keepwarm's own reading of the schedule, not the model's health: a change re-plans it."""
    if retry_errors and state.error_kind == "planning":
        state = replace(state, status="cold", error=None, error_kind=None, error_at=None)
    elif retry_errors and state.error is not None:
        state = replace(state, verify_requested_at=now)
    return drop_claim(state)


class Api:
    def __init__(self, store: Store, settings: Settings, dispatcher: Optional[Dispatcher] = None,
                 control: Optional[ControlPlane] = None, journal: Optional[Journal] = None,
                 traffic: Optional[traffic.Traffic] = None):
        self.store, self.settings = store, settings
        self.traffic = traffic  # CloudWatch: the model's invocation counts
        self.dispatcher = dispatcher
        self.control = control  # Bedrock's control plane (GetImportedModel)
        self.journal = journal or Journal(store, settings)

    def _event(self, model: Model, at: datetime, kind: str, **detail: Any) -> None:
        self.journal.record(model, [Event(at, kind, detail)])

    def _dispatch(self, model: Model, now: datetime) -> Model:
        """Start a call that is due now at once instead of at the next tick."""
        if self.dispatcher is None:
            return model
        try:
            return self.dispatcher.dispatch(model, now)
        except StateConflict:
            return self.store.get(model.name)  # someone else moved; the tick will plan it

    def _mutate(self, key: str, change: Callable[[Model], Model], now: datetime) -> Model:
        """Apply ``change`` to the stored model with a conditional write, re-reading on a
        conflict; then re-plan. ``change`` validates, so a rejected request writes nothing.
        Leases that ended and an error the change cleared are told."""
        model = self.store.get(model_key(key))
        for attempt in range(UPDATE_TRIES):
            current, expired = expire_leases(model, now)  # told here if the tick has not yet
            changed = change(current)
            state = with_next_due(changed.config, changed.state, now, self.settings)
            try:
                saved = self.store.save(replace(changed, state=state), model.state.version)
                break
            except StateConflict:
                if attempt == UPDATE_TRIES - 1:
                    raise
                model = self.store.get(model.name)
        if model.state.error is not None and saved.state.error is None:
            expired.append(Event(now, "error_cleared", {"error": model.state.error, "by": "request"}))
        expired.extend(probing.ended_events(model.state.probe, saved.state.probe))
        self.journal.record(saved, expired)
        return self._dispatch(saved, now)

    def register(self, body: Any, now: datetime) -> dict[str, Any]:
        config = new_config(body, now, self.settings)
        state = self._verified(config, ModelState(), now)
        state = replace(state, **fleet_priors(self.store, Model(config, state), self.settings))  # type: ignore[arg-type]
        state = with_next_due(config, state, now, self.settings)
        model = self.store.create(Model(config, state))
        self._event(model, now, "registered", model_arn=config.model_arn,
                    verified=state.verified_at is not None, request_format=format_in_use(config, state)[0])
        return view(self._dispatch(model, now), now, self.settings)

    def _verified(self, config: ModelConfig, state: ModelState, now: datetime) -> ModelState:
        """``state`` with what GetImportedModel says about the model. A model Bedrock does
        not know, or will not show us, is refused (RequestError); one the control plane
        could not be asked about is registered unverified, for the worker to check later:
        a registration must not fail because the control plane is briefly unreachable."""
        if self.control is None:
            return replace(state, unverified_reason="no Bedrock control-plane client to check it with")
        try:
            imported = self.control.describe(config)
        except ControlPlaneError as err:
            if err.reason == "not_found":
                raise RequestError("model_arn", f"no imported model {config.model_arn} exists (in account "
                                                f"{arn_account(config.model_arn)}, region {config.region}): "
                                                f"{err}") from None
            if err.reason == "access_denied" and config.role_arn:
                raise RequestError("role_arn", f"the role {config.role_arn} may not read {config.model_arn}: it "
                                               "needs bedrock:GetImportedModel on it (to check it) and "
                                               f"bedrock:InvokeModel (to call it); {err}") from None
            if err.reason == "access_denied":
                raise RequestError("model_arn", f"keepwarm may not read {config.model_arn}: its roles need "
                                                "bedrock:GetImportedModel on it (to check it) and "
                                                "bedrock:InvokeModel (to call it); a model in another account "
                                                f"needs role_arn; {err}") from None
            if err.reason == "role":
                raise RequestError("role_arn", str(err)) from None
            if err.reason == "refused":
                raise RequestError("model_arn", str(err)) from None
            return replace(state, unverified_reason=str(err))
        return replace(state, imported=imported, verified_at=now, unverified_reason=None)

    def check(self, key: Optional[str], body: Any, now: datetime) -> dict[str, Any]:
        """A dry run of a registration (``key`` None) or of a change to the model ``key``:
        the model as it would be stored, or the same 400 the real request would get.
        Writes nothing and does not ask Bedrock (registration still does)."""
        if key is None:
            config = new_config(body, now, self.settings)
            if self.store.find(config.name) is not None:
                raise ModelAlreadyExists("name", config.name)
            holder = self.store.find(config.model_arn)
            if holder is not None:
                raise ModelAlreadyExists("model_arn", config.model_arn, holder.name)
            return view(Model(config, with_next_due(config, ModelState(), now, self.settings)), now, self.settings)
        model = self.store.get(model_key(key))
        config = changed_config(model.config, body, now, self.settings)
        return view(Model(config, with_next_due(config, model.state, now, self.settings)), now, self.settings)

    def show(self, key: str, now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        shown = view(model, now, self.settings)
        # Money only where the units are known without asking Bedrock (GET .../cost asks).
        price = costs.price_for(model.config.region, self.settings.price_overrides)
        shown["state"]["month_to_date"] = self._month_to_date(
            model, now, model.config.custom_model_units, price).to_dict()
        return shown

    def update(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        def change(model: Model) -> Model:
            config = changed_config(model.config, body, now, self.settings)
            state = _replanned(model.state, retry_errors=True, now=now)
            if config.role != model.config.role:
                state = self._verified(config, state, now)  # the model as the new role sees it
            if "keepalive_minutes" in body or "release_minutes" in body:
                # The operator has spoken: what was learned gives way to it.
                state = replace(state, learned_keepalive_minutes=None, learned_release_minutes=None,
                                release_found_cold_minutes=None, keepalive_reason=None, region_prior_waived=True)
            if "request_format" in body or "request_body" in body:
                state = replace(state, format_confirmed=None, formats_refused=())
            if config.enabled and not model.config.enabled:
                # Resumed: the windows of the pause, and one open now, were not warmed.
                state = replace(state, readiness_until=now)
            return Model(config, state)

        saved = self._mutate(key, change, now)
        self._event(saved, now, "updated", fields=sorted(body))
        return view(saved, now, self.settings)

    def delete(self, key: str) -> None:
        model = self.store.get(model_key(key))
        self.store.delete(model.name)

    def windows(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        start = _query_instant(params, "from", now)
        days = query_int(params, "days", 7, 1, MAX_PREVIEW_DAYS)
        end = start + timedelta(days=days)
        return {
            "timezone": model.config.timezone,
            "from": iso(start),
            "to": iso(end),
            "windows": [_interval_view(i, end) for i in window_intervals(model.config, start, end)],
        }

    def events(self, key: str, params: Optional[dict[str, str]]) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        limit = query_int(params, "limit", 50, 1, 200)
        return {"events": self.store.events(model.name, limit, model.incarnation)}

    # -- leases ---------------------------------------------------------------------------
    def create_lease(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        if not isinstance(body, dict) or not set(body) <= {"minutes", "holder"}:
            raise RequestError("body", 'must be {"minutes": N} with an optional "holder"')
        if "minutes" not in body:
            raise RequestError("minutes", f"is required: how long to keep the model warm, 1 to {MAX_LEASE_MINUTES} "
                                          'minutes, e.g. {"minutes": 60}')
        minutes = _int(body, "minutes", 0, 1, MAX_LEASE_MINUTES)
        holder = body.get("holder")
        if holder is not None and (not isinstance(holder, str) or not 0 < len(holder) <= 100):
            raise RequestError("holder", "must be a string of 1-100 characters")
        lease = Lease("l" + secrets.token_hex(6), now, now + timedelta(minutes=minutes), holder)

        def change(model: Model) -> Model:
            active = _active_leases(model.state, now)
            blocked = lease_blocker(model, now)
            if blocked:
                raise LeaseRefused(f"no lease taken: {blocked}")
            if len(active) >= MAX_ACTIVE_LEASES:
                raise LeaseRefused(f"{model.name} already has {len(active)} active leases "
                                   f"(at most {MAX_ACTIVE_LEASES}); release one first")
            state = _replanned(model.state, retry_errors=True, now=now)
            return replace(model, state=replace(state, leases=_remembered(state, now) + (lease,)))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "lease_created", lease=lease.id, minutes=minutes, holder=holder)
        shown = lease_view(saved, lease, now, self.settings)
        if shown["ready"]:  # taken on a warm model: the batch job may start at once
            self._event(saved, now, "lease_ready", lease=lease.id, holder=holder)
        return shown

    def _lease(self, model: Model, lease_id: str, now: datetime) -> Lease:
        """The active lease ``lease_id``; LeaseGone if it expired or was released (ended
        leases are remembered for LEASE_MEMORY), LeaseNotFound if the model never had it."""
        for lease in model.state.leases:
            if lease.id == lease_id:
                if lease.expires_at <= now:
                    how = "was released" if lease.released else "expired"
                    raise LeaseGone(f"lease {lease_id} of {model.name} {how} at {iso(lease.expires_at)}")
                return lease
        days = LEASE_MEMORY.days
        raise LeaseNotFound(f"{model.name} has no lease {lease_id!r}: none with that id was taken on it in the "
                            f"last {days} days (check the model and the id)")

    def lease(self, key: str, lease_id: str, now: datetime) -> dict[str, Any]:
        lease_id = lease_key(lease_id)
        model = self.store.get(model_key(key))
        return lease_view(model, self._lease(model, lease_id, now), now, self.settings)

    def leases(self, key: str, now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        return {"leases": [lease_view(model, lease, now, self.settings)
                           for lease in _active_leases(model.state, now)]}

    def release_lease(self, key: str, lease_id: str, now: datetime) -> None:
        lease_id = lease_key(lease_id)

        def change(model: Model) -> Model:
            self._lease(model, lease_id, now)
            # Kept, ended now, so that releasing it again says it is over.
            kept = tuple(replace(lease, expires_at=now, released=True, expiry_told=True) if lease.id == lease_id
                         else lease for lease in _remembered(model.state, now))
            return replace(model, state=replace(_replanned(model.state, retry_errors=False, now=now), leases=kept))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "lease_released", lease=lease_id)

    # -- overrides --------------------------------------------------------------------------
    def set_override(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"state", "until"}:
            raise RequestError("body", 'must be {"state": "warm" | "cold", "until": <ISO 8601>}')
        if body["state"] not in ("warm", "cold"):
            raise RequestError("state", f"must be warm or cold, got {str(body['state'])[:40]!r}")
        until = _instant(body["until"], "until")
        latest = now + timedelta(days=MAX_OVERRIDE_DAYS)
        if until <= now:
            raise RequestError("until", f"must be in the future (after {iso(now)}), got {iso(until)}")
        if until > latest:
            raise RequestError("until", f"must be at most {MAX_OVERRIDE_DAYS} days away (no later than "
                                        f"{iso(latest)}), got {iso(until)}")
        override = Override(body["state"], until, now)

        def change(model: Model) -> Model:
            state = _replanned(model.state, retry_errors=override.state == "warm", now=now)
            return replace(model, state=replace(state, override=override))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "override_set", state=override.state, until=iso(until))
        return view(saved, now, self.settings)

    def clear_override(self, key: str, now: datetime) -> None:
        def change(model: Model) -> Model:
            return replace(model, state=replace(_replanned(model.state, retry_errors=False, now=now), override=None))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "override_cleared")

    # -- probe --------------------------------------------------------------------------------
    def probe(self, key: str, body: Any, now: datetime) -> tuple[dict[str, Any], bool]:
        """Start measuring the model's release, cold answer, load and warm latency (or, with
        ``dry_run``, only say what that would do and cost): the answer, and whether it
        started. Refused (409, naming why) while anything else holds the model or would
        before the probe can finish."""
        body = {} if body is None else body
        if not isinstance(body, dict) or not set(body) <= {"dry_run", "gaps_minutes"}:
            raise RequestError("body", 'must be {} or {"dry_run": true, "gaps_minutes": [4, 8, 16, 32, 64]} '
                                       "(both optional)")
        dry_run = _bool(body, "dry_run", False)
        gaps = _gaps(body.get("gaps_minutes", list(probing.DEFAULT_GAPS_MINUTES)))
        model = self.store.get(model_key(key))

        def refusal(current: Model) -> Optional[str]:
            lead = prewarm_lead(current.config, current.state, self.settings)
            return probing.blocker(current.config, current.state, now, lead, gaps, self.settings)

        price = costs.price_for(model.config.region, self.settings.price_overrides)
        plan = probing.plan(model.config, gaps, model_cmus(model.config, model.state),
                            price.per_cmu_minute if price else None, now, self.settings)
        why = refusal(model)
        if why is not None:
            raise ProbeRefused(f"no probe started: {why}")
        if dry_run:
            return {"model": model.name, "dry_run": True, "plan": plan, "probe": None}, False

        def change(current: Model) -> Model:
            blocked = refusal(current)
            if blocked is not None:
                raise ProbeRefused(f"no probe started: {blocked}")
            return replace(current, state=replace(drop_claim(current.state), probe=probing.started(gaps, now)))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "probe_started", **plan)
        return {"model": saved.name, "dry_run": False, "plan": plan,
                "probe": probing.view(saved.state.probe, saved.config)}, True

    # -- cost ---------------------------------------------------------------------------------
    def cost(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        config, state = model.config, model.state
        days = query_int(params, "days", 30, 1, MAX_COST_DAYS)
        start = _query_instant(params, "from", now)
        cmus, source = self._units(config)
        estimate = schedule_cost(config, state, start, days, cmus, self.settings)
        price = estimate.price
        rest = costs.loaded_periods(held_windows(config, now, costs.month_end(now)),
                                    **holding(config, state, self.settings))
        return {"model": model.name, "region": config.region, "custom_model_units_source": source,
                **estimate.to_dict(),
                "month_to_date": self._month_to_date(model, now, cmus, price, rest).to_dict(),
                "paused": not config.enabled,
                "note": (f"{model.name} is paused (enabled: false): keepwarm makes no calls, so its windows "
                         f"project nothing; PUT /models/{model.name} with {{\"enabled\": true}} resumes them"
                         if not config.enabled else None),
                "hint": price_hint(config, price)}

    def _units(self, config: ModelConfig) -> tuple[int, str]:
        """The model's CMUs per copy, and where they come from (its setting, else Bedrock)."""
        if config.custom_model_units is not None:
            return config.custom_model_units, "setting custom_model_units"
        if self.control is None:
            raise costs.CostError("no Bedrock client to read the model's custom model units; "
                                  "set custom_model_units on the model")
        return custom_model_units(self.control.client(config), config.model_arn), "GetImportedModel"

    # -- suggestion -------------------------------------------------------------------------
    def suggestion(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        """Windows that would have covered the model's real requests over the past weeks,
        priced by the rules of ``cost``. Changes nothing."""
        model = self.store.get(model_key(key))
        config, state = model.config, model.state
        weeks = query_int(params, "weeks", 4, 1, MAX_SUGGEST_WEEKS)
        kept = self.settings.event_ttl_days
        if weeks * 7 > kept:
            raise RequestError("weeks", f"at most {kept // 7} with KEEPWARM_EVENT_TTL_DAYS={kept}: keepwarm's own "
                                        f"calls are known for {kept} days, and older ones would count as traffic")
        coverage = query_share(params, "coverage", 0.99)
        if self.traffic is None:
            raise traffic.TrafficError("no CloudWatch client to read the model's invocations", "unreachable")
        end = traffic.hour_of(now)
        start = end - timedelta(weeks=weeks)
        counts, dimension = traffic.read_invocations(self.traffic.client(config), config.model_arn, start, end)
        events = self.store.events_since(model.name, start, limit=MAX_SUGGEST_EVENTS, incarnation=model.incarnation)
        if len(events) >= MAX_SUGGEST_EVENTS:
            raise RequestError("weeks", f"keepwarm recorded over {MAX_SUGGEST_EVENTS} events for the model in "
                                        f"{weeks} weeks; ask for fewer weeks")
        own = traffic.own_calls(events)
        theirs = traffic.less_own_calls(counts, own)
        # The planner's own days: no window opens on an excluded date or a holiday.
        excluded = exclusions(config)
        found = suggest.suggest(theirs, config.timezone, start, end, coverage, excluded)
        cmus, source = self._units(config)
        # Schedules compared as they would run: a paused model's too.
        config = replace(config, enabled=True)
        today = schedule_cost(config, state, now, COST_DAYS, cmus, self.settings)
        proposed = None
        if found.windows is not None:
            proposed = schedule_cost(replace(config, windows=found.windows), state, now, COST_DAYS, cmus, self.settings)
            if not found.always_on and proposed.billed_minutes >= proposed.always_warm_minutes:
                found = suggest.always_on(found, "the windows would cost as much as keeping it warm always",
                                          suggest.covered_requests(suggest.ALWAYS_ON, config.timezone, theirs,
                                                                   start, end, excluded))
                proposed = schedule_cost(replace(config, windows=found.windows), state, now, COST_DAYS, cmus,
                                         self.settings)

        def priced(estimate: Optional[costs.CostEstimate], always: bool = False) -> Optional[dict[str, Any]]:
            if estimate is None:
                return None
            if always:
                return {"billed_minutes": estimate.always_warm_minutes, "cost": estimate.always_warm_cost}
            return {"windows": estimate.windows, "billed_minutes": estimate.billed_minutes, "cost": estimate.cost}

        return {
            "model": model.name, "timezone": config.timezone, "weeks": weeks, "coverage": coverage,
            "from": iso(start), "to": iso(end),
            "metric": {"namespace": traffic.NAMESPACE, "name": traffic.METRIC, "statistic": "Sum",
                       "period_seconds": traffic.PERIOD_SECONDS, "dimension": traffic.DIMENSION,
                       "value": dimension},
            "enough_data": found.enough_data, "reason": found.reason, "always_on": found.always_on,
            "windows": found.windows,
            "requests": found.requests, "own_calls": sum(own.values()),
            "excluded_requests": found.excluded_requests,
            "covered_requests": found.covered_requests if found.enough_data else None,
            "covered_share": found.covered_share if found.enough_data else None,
            "cold_requests": found.cold_requests if found.enough_data else None,
            "cost": {"days": COST_DAYS, "from": iso(now), "custom_model_units": cmus,
                     "custom_model_units_source": source,
                     "price": today.price.to_dict() if today.price is not None else None, "currency": "USD",
                     "suggested": priced(proposed), "current": priced(today), "always_on": priced(today, always=True),
                     "storage_cost": today.storage_cost},
            "hint": price_hint(config, today.price),
        }

    def _month_to_date(self, model: Model, now: datetime, cmus: Optional[int], price: Optional[costs.Price],
                       rest: Optional[list[costs.Period]] = None) -> costs.MonthToDate:
        """The warm spans keepwarm held this month, billed so far (and, given ``rest``, the
        month's projected total)."""
        spans = self.store.warm_spans(model.name, costs.month_start(now), now, model.incarnation)
        return costs.month_to_date([costs.Period(s.start, s.end) for s in spans], now=now,
                                   custom_model_units=cmus, price=price, rest=rest)


def _interval_view(interval: Interval, end: datetime) -> dict[str, Any]:
    """A window as a preview shows it. One that goes on past where the schedule's merging
    stopped (an always-on schedule) has no close to show: that instant is a planning cut
    point, not a close, so it is open-ended and said to be open still at the preview's end."""
    if interval.cut:
        return {"open": iso(interval.open), "close": None, "still_open_at": iso(end)}
    return {"open": iso(interval.open), "close": iso(interval.close)}


def price_hint(config: ModelConfig, price: Optional[costs.Price]) -> Optional[str]:
    """Money is null without a price; the operator is told how to supply one."""
    if price is not None:
        return None
    return (f"no CMU-minute price is known for {config.region}: set KEEPWARM_CMU_PRICES to its USD price "
            "per CMU-minute from the Amazon Bedrock pricing page (Custom Model Import), "
            f"e.g. KEEPWARM_CMU_PRICES='{json.dumps({config.region: 0.0686})}'")


def holding(config: ModelConfig, state: ModelState, settings: Settings) -> dict[str, Any]:
    """How a projection holds the model: its lead, typical cold start and timings, and for
    a billing-aware model the margin its ready-check keeps before the open."""
    lead = prewarm_lead(config, state, settings)
    typical = percentile(load_samples(config, state, settings)[0], 50)
    if config.billing_aware_prewarm:
        # Billed from the held-back check, which the load has typically finished by: its
        # cold starts are mostly bounded by that check, so the fit over them says how long.
        margin: Optional[timedelta] = timedelta(seconds=settings.ready_check_margin_seconds)
        cold_start = timedelta(seconds=typical) if typical is not None else typical_load(config, state, settings)
    else:
        margin, cold_start = None, timedelta(seconds=typical) if typical is not None else lead
    return {"lead": lead, "cold_start": cold_start,
            "keepalive": timedelta(minutes=keepalive_in_force(config, state)),
            "release": timedelta(minutes=release_in_force(config, state)), "ready_check_margin": margin}


def held_windows(config: ModelConfig, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The window intervals keepwarm will hold over [start, end): none while the model is
    paused, which is never called and so never billed. Every projection (a model's cost,
    its month so far, the fleet's month) follows this one rule."""
    if not config.enabled:
        return []
    return [(i.open, i.close) for i in window_intervals(config, start, end)]


def schedule_cost(config: ModelConfig, state: ModelState, start: datetime, days: int, cmus: int,
                  settings: Settings) -> costs.CostEstimate:
    """What the model's schedule implies over ``days`` from ``start``: its windows, each
    held from the pre-warm to the copy's release, priced for its region (nothing while
    it is paused)."""
    price = costs.price_for(config.region, settings.price_overrides)
    return costs.estimate(
        held_windows(config, start, start + timedelta(days=days)),
        start=start, days=days, custom_model_units=cmus, price=price, **holding(config, state, settings))


def _gaps(raw: Any) -> tuple[int, ...]:
    """A probe's idle gaps: 1 to MAX_GAPS whole minutes, each longer than the one before."""
    shape = (f"must be a list of 1 to {probing.MAX_GAPS} whole minutes, each longer than the one before, "
             f"at most {probing.MAX_GAP_MINUTES}")
    if not isinstance(raw, list) or not 1 <= len(raw) <= probing.MAX_GAPS:
        raise RequestError("gaps_minutes", shape)
    if any(isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= probing.MAX_GAP_MINUTES for g in raw):
        raise RequestError("gaps_minutes", f"{shape}; got {json.dumps(raw)[:100]}")
    if any(b <= a for a, b in zip(raw, raw[1:])):
        raise RequestError("gaps_minutes", f"{shape}; got {json.dumps(raw)[:100]}")
    return tuple(raw)


def _instant(raw: Any, field: str) -> datetime:
    try:
        if not isinstance(raw, str) or not INSTANT_RE.match(raw):
            raise ValueError
        at = parse_iso(raw)
        if not 2000 <= at.year <= 2200:  # type: ignore[union-attr]
            raise ValueError  # and keeps date arithmetic away from datetime's limits
        return at  # type: ignore[return-value]
    except (ValueError, OverflowError):  # 0001-01-01T00:00:00+14:00 is before datetime's first UTC instant
        raise RequestError(field, f"{str(raw)[:60]!r} is not an ISO 8601 instant with a zone in the years "
                                  "2000-2200, e.g. 2026-03-09T00:00:00Z") from None


def _query_instant(params: Optional[dict[str, str]], field: str, default: datetime) -> datetime:
    raw = (params or {}).get(field)
    return default if raw is None else _instant(raw, field)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
