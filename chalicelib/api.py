"""The REST API's logic: validate requests, act on the store, shape responses.

Routes in app.py only read the request and call in here. Domain errors become HTTP errors
in exactly one place, :func:`http_errors`. A request is validated whole before anything
is written, so a rejected request changes nothing stored.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional
from urllib.parse import unquote

from chalice import BadRequestError, ConflictError, NotFoundError

from chalicelib.planner import (
    current_interval,
    display_status,
    is_warm,
    next_action,
    percentile,
    schedule_of,
    with_next_due,
)
from chalicelib.records import (
    ARN_RE,
    NAME_RE,
    REQUEST_FORMATS,
    Event,
    Model,
    ModelConfig,
    ModelState,
    iso,
    parse_iso,
)
from chalicelib.schedule import Schedule, ScheduleError
from chalicelib.settings import Settings
from chalicelib.store import BadPageToken, ModelAlreadyExists, ModelNotFound, StateConflict, Store

MAX_KEEPALIVE_MINUTES = 14
MAX_RELEASE_MINUTES = 120
MAX_REQUEST_BODY_BYTES = 4096
MAX_PAGE = 100
MAX_PREVIEW_DAYS = 92
FIELDS = {"model_arn", "name", "timezone", "windows", "keepalive_minutes", "release_minutes",
          "enabled", "request_format", "request_body"}
UPDATE_TRIES = 3


class RequestError(ValueError):
    """Bad input; the message names the field and the problem."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


@contextmanager
def http_errors() -> Iterator[None]:
    """Map domain errors to Chalice's HTTP errors (the only place that does)."""
    try:
        yield
    except (RequestError, ScheduleError, BadPageToken) as err:
        raise BadRequestError(str(err)) from None
    except ModelNotFound as err:
        raise NotFoundError(str(err)) from None
    except ModelAlreadyExists as err:
        raise ConflictError(str(err)) from None
    except StateConflict as err:
        raise ConflictError(f"the model changed while this request ran, try again ({err})") from None


# -- validation ---------------------------------------------------------------------------
def _int(body: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(field, f"must be a whole number of minutes from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise RequestError(field, f"must be from {low} to {high}, got {value}")
    return value


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError("body", "must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise RequestError(unknown[0], f"unknown field (known: {', '.join(sorted(FIELDS))})")
    return body


def _config(body: dict[str, Any], defaults: ModelConfig, now: datetime) -> ModelConfig:
    """Validate every field of ``body`` over ``defaults``; the result is what is stored."""
    schedule = Schedule.from_dict(body.get("timezone", defaults.timezone),
                                  body.get("windows", defaults.windows), at=now)
    release = _int(body, "release_minutes", defaults.release_minutes, 2, MAX_RELEASE_MINUTES)
    keepalive = _int(body, "keepalive_minutes", defaults.keepalive_minutes, 1,
                     min(MAX_KEEPALIVE_MINUTES, release - 1))
    enabled = body.get("enabled", defaults.enabled)
    if not isinstance(enabled, bool):
        raise RequestError("enabled", f"must be true or false, got {enabled!r}")
    request_format = body.get("request_format", defaults.request_format)
    if request_format not in REQUEST_FORMATS:
        raise RequestError("request_format", f"must be one of {', '.join(REQUEST_FORMATS)}, got {request_format!r}")
    request_body = body.get("request_body", defaults.request_body)
    if request_format == "custom":
        if not isinstance(request_body, dict) or not request_body:
            raise RequestError("request_body", "must be a non-empty JSON object when request_format is custom")
        if len(json.dumps(request_body)) > MAX_REQUEST_BODY_BYTES:
            raise RequestError("request_body", f"must be at most {MAX_REQUEST_BODY_BYTES} bytes as JSON")
    elif "request_body" in body and request_body is not None:
        raise RequestError("request_body", "is only used with request_format custom")
    else:
        request_body = None
    spec = schedule.to_dict()
    return replace(defaults, timezone=spec["timezone"], windows=spec["windows"],
                   keepalive_minutes=keepalive, release_minutes=release, enabled=enabled,
                   request_format=request_format, request_body=request_body)


def new_config(body: Any, now: datetime, settings: Settings) -> ModelConfig:
    body = _object(body)
    arn = body.get("model_arn")
    if arn is None:
        raise RequestError("model_arn", "is required")
    match = ARN_RE.match(arn) if isinstance(arn, str) else None
    if match is None:
        raise RequestError("model_arn", f"{str(arn)[:300]!r} is not an imported-model ARN "
                                        "(arn:aws:bedrock:<region>:<account>:imported-model/<id>)")
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
    return _config(body, defaults, now)


def changed_config(current: ModelConfig, body: Any, now: datetime) -> ModelConfig:
    body = _object(body)
    for field in ("model_arn", "name"):
        if field in body and body[field] != getattr(current, field):
            raise RequestError(field, "cannot be changed; delete the model and register it again")
    return replace(_config(body, current, now), updated_at=now)


def model_key(raw: str) -> str:
    """The ``{model}`` path parameter: a name or a URL-encoded ARN."""
    return unquote(raw)


def _query_int(params: Optional[dict[str, str]], field: str, default: int, low: int, high: int) -> int:
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
def view(model: Model, now: datetime, settings: Settings) -> dict[str, Any]:
    config, state = model.config, model.state
    action = next_action(config, state, now, settings)
    samples = state.cold_starts
    status = display_status(config, state, now)
    return {
        **config.to_item(),
        "state": {
            "status": status,
            "ready": is_warm(config, state, now),
            "window_open": current_interval(config, now) is not None if config.enabled else False,
            "last_success_at": iso(state.last_success_at),
            "last_call_at": iso(state.last_call_at),
            "warming_since": iso(state.warming_since),
            "next_action": {"kind": action.kind, "at": iso(action.at)} if action else None,
            "error": state.error if status == "error" else None,
            "cold_starts": {
                "count": state.cold_start_count,
                "last_seconds": samples[-1] if samples else None,
                "p50_seconds": percentile(samples, 50),
                "p95_seconds": percentile(samples, 95),
            },
        },
    }


# -- operations ---------------------------------------------------------------------------
class Api:
    def __init__(self, store: Store, settings: Settings):
        self.store, self.settings = store, settings

    def _event(self, name: str, at: datetime, kind: str, **detail: Any) -> None:
        self.store.add_event(name, Event(at, kind, detail), self.settings.event_ttl_days)

    def register(self, body: Any, now: datetime) -> dict[str, Any]:
        config = new_config(body, now, self.settings)
        state = with_next_due(config, ModelState(), now, self.settings)
        model = self.store.create(Model(config, state))
        self._event(model.name, now, "registered", model_arn=config.model_arn)
        return view(model, now, self.settings)

    def show(self, key: str, now: datetime) -> dict[str, Any]:
        return view(self.store.get(model_key(key)), now, self.settings)

    def list(self, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        limit = _query_int(params, "limit", 50, 1, MAX_PAGE)
        models, token = self.store.list(limit, (params or {}).get("next_token"))
        return {"models": [view(m, now, self.settings) for m in models], "next_token": token}

    def update(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        for attempt in range(UPDATE_TRIES):
            config = changed_config(model.config, body, now)
            state = model.state
            # A new schedule re-plans from scratch: in-flight calls become stale, and an
            # error the operator may just have fixed is tried again at once.
            if state.status == "error":
                state = replace(state, status="cold", error=None, error_kind=None, error_at=None)
            state = with_next_due(config, replace(state, pending=None), now, self.settings)
            try:
                saved = self.store.save(Model(config, state), model.state.version)
                break
            except StateConflict:
                if attempt == UPDATE_TRIES - 1:
                    raise
                model = self.store.get(model.name)
        self._event(saved.name, now, "updated", fields=sorted(body))
        return view(saved, now, self.settings)

    def delete(self, key: str) -> None:
        model = self.store.get(model_key(key))
        self.store.delete(model.name)

    def windows(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        raw_from = (params or {}).get("from")
        start = now
        if raw_from is not None:
            try:
                start = parse_iso(raw_from)  # type: ignore[assignment]
            except ValueError:
                raise RequestError("from", f"{raw_from[:60]!r} is not an ISO 8601 instant with a "
                                           "zone, e.g. 2026-03-09T00:00:00Z") from None
        days = _query_int(params, "days", 7, 1, MAX_PREVIEW_DAYS)
        end = start + timedelta(days=days)
        intervals = schedule_of(model.config).intervals(start, end)
        return {
            "timezone": model.config.timezone,
            "from": iso(start),
            "to": iso(end),
            "windows": [{"open": iso(i.open), "close": iso(i.close)} for i in intervals],
        }

    def events(self, key: str, params: Optional[dict[str, str]]) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        limit = _query_int(params, "limit", 50, 1, 200)
        return {"events": self.store.events(model.name, limit)}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
