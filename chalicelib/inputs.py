"""What a request brings in, parsed and checked: the body as strict JSON, a model's
configuration field by field, query parameters and instants, and the limits on each. Every
problem is a :class:`RequestError` whose message starts with the field at fault; nothing
here reads or writes the store, so a request is checked whole before anything is written.
(Named ``inputs``, not ``requests``, so that it is never read as the HTTP library.)
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Iterator, Optional, Union

import holidays

from chalicelib import probe as probing
from chalicelib.records import (
    ARN_PARTS,
    ARN_RE,
    NAME_RE,
    REQUEST_FORMATS,
    ROLE_NAME,
    ModelConfig,
    arn_partition,
    parse_iso,
)
from chalicelib.schedule import Schedule
from chalicelib.settings import Settings
from chalicelib.timeline import holiday_calendar

MAX_KEEPALIVE_MINUTES = 14
# A keep-alive of at least a minute must come before the release.
MIN_RELEASE_MINUTES = 2
MAX_RELEASE_MINUTES = 120
MAX_CUSTOM_MODEL_UNITS = 1000
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
MAX_EXCLUDE_DATES = 366
MAX_LISTED_SUBDIVISIONS = 12
MAX_LEASE_MINUTES = 720
MAX_HOLDER_CHARS = 100
MAX_ACTIVE_LEASES = 20
MAX_OVERRIDE_DAYS = 31
MAX_COST_DAYS = 366
# A suggestion reads at most this many weeks of hourly counts (CloudWatch keeps hourly data
# 455 days; keepwarm's own calls are known for KEEPWARM_EVENT_TTL_DAYS), and prices its
# windows, today's and always-on over the COST_DAYS ahead, as GET .../cost does by default.
MAX_SUGGEST_WEEKS = 8
MAX_SUGGEST_EVENTS = 50_000
COST_DAYS = 30


class RequestError(ValueError):
    """Bad input; the message names the field and the problem."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


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
    release = _int(body, "release_minutes", defaults.release_minutes, MIN_RELEASE_MINUTES, MAX_RELEASE_MINUTES)
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
                                                    defaults.custom_model_units, 1, MAX_CUSTOM_MODEL_UNITS))


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
