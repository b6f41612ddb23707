"""The storage contract: what the service needs from a store, and the errors it raises.

:class:`Store` is the interface both stores implement (:mod:`chalicelib.dynamo` in
production, :mod:`chalicelib.memstore` in tests and simulations), with the domain errors
they raise instead of DynamoDB's, the page tokens of a model listing, the time keys that
order due times and events, and the rule that a record belongs to its model's incarnation.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Optional, Sequence

from chalicelib.leads import FleetLoads
from chalicelib.records import Event, Model, WarmSpan, require_aware


class StoreError(Exception):
    """Base of the domain errors a store raises instead of ClientError."""


class ModelNotFound(StoreError):
    def __init__(self, key: str):
        super().__init__(f"no model named or with ARN {key!r}")
        self.key = key


class ModelAlreadyExists(StoreError):
    def __init__(self, field: str, value: str, holder: Optional[str] = None):
        # An ARN is registered once, under a name the caller may not know: say which.
        held = f" as model {holder!r} (GET /models/{holder})" if holder and holder != value else ""
        super().__init__(f"{field}: a model with {field} {value!r} is already registered{held}")
        self.field = field
        self.holder = holder


class StateConflict(StoreError):
    """The model changed (or vanished) since it was read."""


class BadPageToken(StoreError):
    pass


# The fleet view reads models a hundred a request.
FLEET_PAGE = 100


def due_key(at: datetime) -> str:
    """Fixed-width UTC text, so that string order in the index is time order."""
    at = require_aware(at).astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        name = ""
    if not name or encode_token(name) != token:
        raise BadPageToken(f"next_token: {token[:100]!r} is not a token this service issued")
    return name


class Store(ABC):
    """What the service needs from storage; one contract test runs on every implementation."""

    # What the fleet view needs of a model (chalicelib.fleet.glance), computed from it at
    # each write and kept with it, so that the view reads it instead of planning the model
    # again. Set by the runtime; None keeps none (the view then plans every model).
    # Called with the model and the glance last read with it (or None).
    glance: Optional[Callable[[Model, Optional[dict[str, Any]]], dict[str, Any]]] = None

    def _previous_glance(self, name: str) -> Optional[str]:
        """The glance last read or written with this model, if this store remembers it."""
        return None

    def _glance_text(self, model: Model) -> Optional[str]:
        if self.glance is None:
            return None
        try:
            previous = self._previous_glance(model.name)
            return json.dumps(self.glance(model, json.loads(previous) if previous else None), separators=(",", ":"))
        except Exception:  # noqa: BLE001 - a view's shortcut never costs a state write
            logging.getLogger("keepwarm").exception("glance_failed", extra={"model": model.name})
            return None

    def fleet(self) -> Iterator[tuple[str, Optional[dict[str, Any]], Callable[[], Optional[Model]]]]:
        """Every model in name order: its name, its glance (None when none is kept), and how
        to read the model itself."""
        token = None
        while True:
            page, token = self.list(FLEET_PAGE, token)
            for model in page:
                yield model.name, None, (lambda m=model: m)
            if token is None:
                return

    @abstractmethod
    def create(self, model: Model) -> Model:
        """Store a new model (version 1). Raises ModelAlreadyExists naming the field."""

    @abstractmethod
    def find(self, key: str) -> Optional[Model]:
        """The model with this name or ARN, or None."""

    def find_many(self, names: Sequence[str]) -> dict[str, Model]:
        """The models with these names that exist, by name."""
        return {model.name: model for model in map(self.find, names) if model is not None}

    def get(self, key: str) -> Model:
        model = self.find(key)
        if model is None:
            raise ModelNotFound(key)
        return model

    @abstractmethod
    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        """A page of models in name order and the token of the next page (None at the end)."""

    @abstractmethod
    def save(self, model: Model, expected_version: int) -> Model:
        """Write config and state if the stored version is still ``expected_version``.

        Returns the model with its new version; raises StateConflict otherwise."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove the model, its ARN guard and its events. Raises ModelNotFound."""

    @abstractmethod
    def due(self, until: datetime) -> Iterator[Model]:
        """Models whose next due time is at or before ``until``, earliest first."""

    def earliest_due(self) -> Optional[datetime]:
        """The earliest next-due time of any model (for simulations that skip idle ticks)."""
        first = next(self.due(datetime.max.replace(tzinfo=timezone.utc)), None)
        return first.state.next_due_at if first else None

    # Events and warm spans are written with the incarnation of the model that wrote them
    # (Model.incarnation), and read back with the reader's: only those of the same
    # registration, and those written before incarnations were (None), are its own.
    @abstractmethod
    def add_event(self, name: str, event: Event, ttl_days: int, incarnation: Optional[str] = None) -> None: ...

    @abstractmethod
    def events(self, name: str, limit: int = 50, incarnation: Optional[str] = None) -> list[dict[str, Any]]:
        """The model's events, newest first."""

    @abstractmethod
    def events_since(self, name: str, since: datetime, limit: int = 500,
                     incarnation: Optional[str] = None) -> list[dict[str, Any]]:
        """The model's events at or after ``since``, newest first, at most ``limit``."""

    @abstractmethod
    def put_warm_span(self, name: str, span: WarmSpan, incarnation: Optional[str] = None) -> None:
        """Record a warm span, or move the end of the one that starts at the same instant
        (each success of a held copy takes its assumed release further)."""

    @abstractmethod
    def warm_spans(self, name: str, start: datetime, end: datetime,
                   incarnation: Optional[str] = None) -> list[WarmSpan]:
        """The model's warm spans overlapping [start, end), earliest first."""

    @abstractmethod
    def error_count(self) -> int:
        """How many models are in status ``error`` (read without reading every model)."""

    @abstractmethod
    def add_fleet_load(self, groups: Sequence[str], log_seconds: float) -> None:
        """Count one exact cold start (the natural log of its seconds) in each group's
        running totals, atomically: the fleet's prior for models with few of their own."""

    @abstractmethod
    def fleet_loads(self) -> dict[str, FleetLoads]:
        """Every group's running totals."""

    @abstractmethod
    def add_region_release(self, region: str, gap_minutes: float) -> None:
        """A model of ``region`` was found cold ``gap_minutes`` after its last success:
        keep the shortest such gap of the region (atomically)."""

    @abstractmethod
    def region_releases(self) -> dict[str, float]:
        """Every region's shortest idle gap found cold, in minutes."""


def _next_version(model: Model, expected_version: int) -> Model:
    return replace(model, state=replace(model.state, version=expected_version + 1))


def _own(written: Optional[str], reader: Optional[str]) -> bool:
    """Whether a record written by incarnation ``written`` belongs to the reader's: the
    same registration, or either side from before incarnations were recorded."""
    return written is None or reader is None or written == reader
