"""The in-memory store: the storage contract kept in one process, for tests and simulations.

:class:`MemoryStore` keeps the DynamoDB store's semantics (versioned writes, the ARN guard,
the sparse due and error indexes, events and warm spans by incarnation, the fleet's priors)
in dictionaries behind one lock, so unit tests, soaks and simulations need no table.
"""
from __future__ import annotations

import bisect
import itertools
import json
import threading
from datetime import datetime
from typing import Any, Callable, Iterator, Optional, Sequence

from chalicelib.leads import FleetLoads
from chalicelib.records import Event, Model, ModelConfig, ModelState, WarmSpan, parse_iso
from chalicelib.storage import (ModelAlreadyExists, ModelNotFound, StateConflict, Store, _next_version, _own,
                                decode_token, due_key, encode_token)


class MemoryStore(Store):
    """In-process store with the same semantics, for unit tests and simulations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, Any]] = {}
        self._arns: dict[str, str] = {}
        # Per model, in time order (then in the order written): (time key, sequence,
        # the writer's incarnation, event).
        self._events: dict[str, list[tuple[str, int, Optional[str], dict[str, Any]]]] = {}
        self._written = itertools.count()
        self._spans: dict[str, dict[tuple[Optional[str], datetime], WarmSpan]] = {}
        self._errors: set[str] = set()
        # name -> due key, for the models that have something due: the DynamoDB store's
        # sparse index, so that due() reads only those (simulations tick every minute).
        self._due: dict[str, str] = {}
        self._fleet: dict[str, FleetLoads] = {}
        self._releases: dict[str, float] = {}

    def _put(self, model: Model) -> None:
        # Kept as JSON text, so callers never share mutable state with the store.
        self._models[model.name] = {
            "version": model.state.version, "model_arn": model.config.model_arn,
            "json": json.dumps({"config": model.config.to_item(), "state": model.state.to_item()}),
            "glance": self._glance_text(model),
        }
        if model.state.next_due_at is None:
            self._due.pop(model.name, None)
        else:
            self._due[model.name] = due_key(model.state.next_due_at)
        if model.state.status == "error":
            self._errors.add(model.name)
        else:
            self._errors.discard(model.name)

    @staticmethod
    def _load(item: dict[str, Any]) -> Model:
        stored = json.loads(item["json"])
        return Model(ModelConfig.from_item(stored["config"]), ModelState.from_item(stored["state"]))

    def create(self, model: Model) -> Model:
        with self._lock:
            if model.name in self._models:
                raise ModelAlreadyExists("name", model.name)
            if model.config.model_arn in self._arns:
                raise ModelAlreadyExists("model_arn", model.config.model_arn, self._arns[model.config.model_arn])
            model = _next_version(model, 0)
            self._put(model)
            self._arns[model.config.model_arn] = model.name
            return model

    def find(self, key: str) -> Optional[Model]:
        with self._lock:
            name = self._arns.get(key, key)
            item = self._models.get(name)
            return self._load(item) if item else None

    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        after = decode_token(token) if token else ""
        with self._lock:
            names = sorted(n for n in self._models if n > after)
            page = [self._load(self._models[n]) for n in names[:limit]]
        more = len(names) > limit
        return page, encode_token(page[-1].name) if more and page else None

    def _previous_glance(self, name: str) -> Optional[str]:
        return (self._models.get(name) or {}).get("glance")

    def fleet(self) -> Iterator[tuple[str, Optional[dict[str, Any]], Callable[[], Optional[Model]]]]:
        with self._lock:
            items = sorted(self._models.items())
        for name, item in items:
            yield name, json.loads(item["glance"]) if item["glance"] else None, (lambda i=item: self._load(i))

    def save(self, model: Model, expected_version: int) -> Model:
        with self._lock:
            item = self._models.get(model.name)
            if item is None or item["version"] != expected_version:
                raise StateConflict(f"{model.name}: version is not {expected_version}")
            model = _next_version(model, expected_version)
            self._put(model)
            return model

    def delete(self, name: str) -> None:
        with self._lock:
            item = self._models.pop(name, None)
            if item is None:
                raise ModelNotFound(name)
            self._arns.pop(item["model_arn"], None)
            self._events.pop(name, None)
            self._spans.pop(name, None)
            self._due.pop(name, None)
            self._errors.discard(name)

    def due(self, until: datetime) -> Iterator[Model]:
        limit = due_key(until)
        with self._lock:
            rows = sorted((key, name) for name, key in self._due.items() if key <= limit)
            return iter([self._load(self._models[name]) for _, name in rows])

    def earliest_due(self) -> Optional[datetime]:
        with self._lock:
            return parse_iso(min(self._due.values())) if self._due else None

    def add_event(self, name: str, event: Event, ttl_days: int, incarnation: Optional[str] = None) -> None:
        with self._lock:
            row = (due_key(event.at), next(self._written), incarnation, json.loads(json.dumps(event.to_item())))
            rows = self._events.setdefault(name, [])
            if rows and row < rows[-1]:
                bisect.insort(rows, row)  # written after a later one: a window judged after its close
            else:
                rows.append(row)

    def add_fleet_load(self, groups: Sequence[str], log_seconds: float) -> None:
        with self._lock:
            for group in groups:
                was = self._fleet.get(group, FleetLoads())
                self._fleet[group] = FleetLoads(was.count + 1, was.total + log_seconds,
                                                was.squares + log_seconds * log_seconds)

    def fleet_loads(self) -> dict[str, FleetLoads]:
        with self._lock:
            return dict(self._fleet)

    def add_region_release(self, region: str, gap_minutes: float) -> None:
        with self._lock:
            self._releases[region] = min(gap_minutes, self._releases.get(region, gap_minutes))

    def region_releases(self) -> dict[str, float]:
        with self._lock:
            return dict(self._releases)

    def events(self, name: str, limit: int = 50, incarnation: Optional[str] = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = [row for row in self._events.get(name, []) if _own(row[2], incarnation)]
            # Newest first; events of one instant too.
            return [event for *_, event in rows[:-limit - 1:-1]] if limit > 0 else []

    def events_since(self, name: str, since: datetime, limit: int = 500,
                     incarnation: Optional[str] = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._events.get(name, [])
            first = bisect.bisect_left(rows, (due_key(since),))
            return [event for _, _, written, event in reversed(rows[first:]) if _own(written, incarnation)][:limit]

    def put_warm_span(self, name: str, span: WarmSpan, incarnation: Optional[str] = None) -> None:
        with self._lock:
            self._spans.setdefault(name, {})[(incarnation, span.start)] = span

    def warm_spans(self, name: str, start: datetime, end: datetime,
                   incarnation: Optional[str] = None) -> list[WarmSpan]:
        with self._lock:
            spans = [s for (written, _), s in self._spans.get(name, {}).items() if _own(written, incarnation)]
        return sorted((s for s in spans if s.start < end and s.end > start), key=lambda s: s.start)

    def error_count(self) -> int:
        with self._lock:
            return len(self._errors)
