"""The fleet at a glance: filters over the model list, counts by status, the models in
error, the month's projected cost, and each model's day as spans and instants (what the
fleet page, ``chalicelib/fleetpage.py``, draws). Read-only: nothing here writes."""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping, Optional

from chalicelib.api import MAX_PAGE, RequestError, query_int, schedule_cost, view
from chalicelib.budget import PlanningOverrun, budget
from chalicelib.planner import MODEL_ERROR, PLANNING_ERRORS, READY, release_in_force
from chalicelib.records import Model, iso, parse_iso
from chalicelib.settings import Settings
from chalicelib.store import Store, encode_token
from chalicelib.timeline import window_intervals

STATUSES = ("cold", "warming", "warm", "error")
LIST_PARAMS = ("limit", "next_token", "status", "paused", "window_open")
# A filtered page looks at this many models at most, then answers with what it found and
# a next_token, so a filter that matches little never reads the whole fleet in one request.
MAX_SCANNED = 500
# The events read for a model's day: a busy day is ~100 keep-alives plus cold-start polls.
DAY_EVENTS = 500

Span = tuple[datetime, datetime]


# -- GET /models filters --------------------------------------------------------------------
def flag(params: Mapping[str, str], name: str) -> Optional[bool]:
    """A true/false query parameter; None when absent."""
    raw = params.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise RequestError(name, f"must be true or false, got {raw[:40]!r}")


@dataclass(frozen=True)
class ModelFilter:
    """Which models a listing keeps: any of ``statuses`` (as the model's view shows its
    status now), paused or not, inside an open window or not. None: any."""

    statuses: Optional[frozenset[str]] = None
    paused: Optional[bool] = None
    window_open: Optional[bool] = None

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> "ModelFilter":
        statuses = None
        raw = params.get("status")
        if raw is not None:
            asked = raw.split(",")
            unknown = [s for s in asked if s not in STATUSES]
            if unknown:
                named = ", ".join(repr(s[:40]) for s in unknown)
                raise RequestError("status", f"{named} is not a status; use one or more of "
                                             f"{', '.join(STATUSES)} (repeated or comma-separated)")
            statuses = frozenset(asked)
        return cls(statuses, flag(params, "paused"), flag(params, "window_open"))

    @property
    def active(self) -> bool:
        return self != ModelFilter()

    def matches(self, shown: dict[str, Any]) -> bool:
        state = shown["state"]
        return ((self.statuses is None or state["status"] in self.statuses)
                and (self.paused is None or self.paused == (not shown["enabled"]))
                and (self.window_open is None or self.window_open == state["window_open"]))


def list_models(store: Store, settings: Settings, params: Mapping[str, str], now: datetime,
                max_scanned: int = MAX_SCANNED) -> dict[str, Any]:
    """``GET /models``: a page of models in name order, those the filters keep.

    A filtered page may hold fewer than ``limit`` models (none, even) and still have a
    ``next_token``: it stops after looking at ``MAX_SCANNED`` models. Only a null
    ``next_token`` says the listing is complete."""
    unknown = sorted(set(params) - set(LIST_PARAMS))
    if unknown:
        raise RequestError("query", f"unknown parameter {', '.join(repr(u[:40]) for u in unknown)}; "
                                    f"accepted: {', '.join(LIST_PARAMS)}")
    limit = query_int(params, "limit", 50, 1, MAX_PAGE)
    chosen = ModelFilter.from_query(params)
    token = params.get("next_token")
    found: list[dict[str, Any]] = []
    scanned = 0
    while True:
        page, next_token = store.list(MAX_PAGE if chosen.active else limit, token)
        for model in page:
            scanned += 1
            shown = view(model, now, settings)
            if chosen.matches(shown):
                found.append(shown)
            if len(found) == limit or (chosen.active and scanned >= max_scanned):
                more = model is not page[-1] or next_token is not None
                return {"models": found, "next_token": encode_token(model.name) if more else None}
        if next_token is None:
            return {"models": found, "next_token": None}
        token = next_token


# -- the fleet --------------------------------------------------------------------------------
def month_of(now: datetime) -> tuple[datetime, int]:
    """The calendar month (UTC) holding ``now``: its first instant and its length in days."""
    start = now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, calendar.monthrange(start.year, start.month)[1]


@dataclass(frozen=True)
class FleetModel:
    model: Model
    shown: dict[str, Any]  # the model as GET /models/{model} shows it
    month_cost: Optional[float]  # the schedule's cost over the calendar month, USD
    cost_note: Optional[str]  # why month_cost is None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def status(self) -> str:
        return self.shown["state"]["status"]


def month_cost(model: Model, now: datetime, settings: Settings) -> tuple[Optional[float], Optional[str]]:
    """The schedule's cost over this calendar month (UTC), from its CMUs (the setting, else
    what Bedrock said at verification) and its region's price (0 while paused); or None
    and why not."""
    config, state = model.config, model.state
    if not config.enabled:
        return 0.0, None  # paused: projects nothing (api.held_windows), whatever its CMUs
    cmus = config.custom_model_units or (state.imported.custom_model_units if state.imported else None)
    if not cmus:
        return None, "CMUs unknown (set custom_model_units)"
    start, days = month_of(now)
    try:
        with budget(settings.plan_budget_seconds):
            estimate = schedule_cost(config, state, start, days, cmus, settings)
    except (PlanningOverrun, *PLANNING_ERRORS) as err:
        return None, f"planning failed ({type(err).__name__})"
    if estimate.cost is None:
        return None, f"no CMU-minute price for {config.region} (KEEPWARM_CMU_PRICES)"
    return estimate.cost, None


def _all_models(store: Store) -> Iterator[Model]:
    token = None
    while True:
        page, token = store.list(MAX_PAGE, token)
        yield from page
        if token is None:
            return


def read_fleet(store: Store, settings: Settings, now: datetime) -> list[FleetModel]:
    """Every model, in name order, as shown now, with its month's projected cost."""
    return [FleetModel(model, view(model, now, settings), *month_cost(model, now, settings))
            for model in _all_models(store)]


def summary(fleet: list[FleetModel], now: datetime) -> dict[str, Any]:
    """``GET /fleet``: counts by status, the models in error and why, and the month's cost."""
    counts = {status: 0 for status in STATUSES}
    for entry in fleet:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    start, days = month_of(now)
    priced = [entry for entry in fleet if entry.month_cost is not None]
    return {
        "at": iso(now),
        "models": len(fleet),
        "counts": counts,
        "paused": sum(1 for entry in fleet if not entry.shown["enabled"]),
        "window_open": sum(1 for entry in fleet if entry.shown["state"]["window_open"]),
        "errors": [{"name": entry.name, "error": entry.shown["state"]["error"],
                    "since": iso(entry.model.state.error_at)}
                   for entry in fleet if entry.status == "error"],
        "cost": {
            "month": start.strftime("%Y-%m"), "from": iso(start), "to": iso(start + timedelta(days=days)),
            "projected": round(sum(entry.month_cost for entry in priced), 2),  # type: ignore[misc]
            "currency": "USD",
            "models_priced": len(priced),
            "unpriced": [{"name": entry.name, "why": entry.cost_note} for entry in fleet
                         if entry.month_cost is None],
        },
    }


# -- one model's day --------------------------------------------------------------------------
@dataclass(frozen=True)
class Day:
    """What happened to a model over [start, end), clipped to it: windows, spans a copy
    was held (a success, until the release time after the last), cold spells (each
    measured cold start, and one in progress), calls with their outcome, and errors."""

    start: datetime
    end: datetime
    now: datetime
    windows: list[Span] = field(default_factory=list)
    warm: list[Span] = field(default_factory=list)
    cold: list[Span] = field(default_factory=list)
    calls: list[tuple[datetime, str]] = field(default_factory=list)
    errors: list[tuple[datetime, str]] = field(default_factory=list)


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _clip(spans: list[Span], start: datetime, end: datetime) -> list[Span]:
    return [(max(a, start), min(b, end)) for a, b in _merged(spans) if b > start and a < end and a < b]


def day_of(model: Model, events: list[dict[str, Any]], start: datetime, end: datetime, now: datetime,
           status: str) -> Day:
    """The model's day from its stored events (any order) and config; ``status`` as shown now."""
    config, state = model.config, model.state
    release = timedelta(minutes=release_in_force(config, state))
    until = min(end, now)
    warm, cold, calls, errors = [], [], [], []
    for event in events:
        at = parse_iso(event.get("at"))
        if at is None:
            continue
        kind = event.get("kind")
        if kind == "call":
            outcome = str(event.get("outcome"))
            calls.append((at, outcome))
            if outcome in (READY, MODEL_ERROR):
                warm.append((at, at + release))
        elif kind == "cold_start" and isinstance(event.get("seconds"), (int, float)):
            cold.append((at - timedelta(seconds=float(event["seconds"])), at))
        elif kind in ("error", "dead_lettered"):
            errors.append((at, str(event.get("reason") or kind)))
    if status == "warming" and state.warming_since is not None:
        cold.append((state.warming_since, now))
    try:
        windows = [(i.open, i.close) for i in window_intervals(config, start, end)]
    except PLANNING_ERRORS:
        windows = []
    return Day(start, end, now, windows=_clip(windows, start, end), warm=_clip(warm, start, until),
               cold=_clip(cold, start, until),
               calls=sorted(c for c in calls if start <= c[0] < end),
               errors=sorted(e for e in errors if start <= e[0] < end))


def day_events(store: Store, name: str, start: datetime, incarnation: Optional[str] = None) -> list[dict[str, Any]]:
    """The model's recent events back to a little before ``start`` (a copy held over
    midnight shows from the day's first instant)."""
    since = start - timedelta(hours=3)
    return [e for e in store.events(name, DAY_EVENTS, incarnation) if (parse_iso(e.get("at")) or since) >= since]
