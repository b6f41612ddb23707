"""The fleet at a glance: filters over the model list, counts by status, the models in
error, the month's projected cost, and each model's day as spans and instants (what the
fleet page, ``chalicelib/fleetpage.py``, draws).

Read-only, and fast at any size: each write of a model keeps its *glance* (what the fleet
view needs of it, computed here, stored by the store beside the model), so ``GET /fleet``,
the page and the widget read glances rather than planning every model again."""
from __future__ import annotations

import calendar
import hashlib
from decimal import ROUND_HALF_UP, Decimal
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterator, Mapping, Optional

from chalicelib import costs, readiness
from chalicelib.budget import PlanningOverrun, budget
from chalicelib.inputs import MAX_PAGE, RequestError, query_int
from chalicelib.planner import (MODEL_ERROR, PLANNING_ERRORS, READY, chain_end, model_cmus, next_action,
                                release_in_force)
from chalicelib.records import Model, WindowRecord, iso, parse_iso
from chalicelib.settings import Settings, parse_price_overrides
from chalicelib.storage import Store, encode_token
from chalicelib.timeline import next_window, window_intervals
from chalicelib.views import schedule_cost, view

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
    """What the fleet view shows of a model now: as ``GET /models/{model}`` would show its
    status, window and error, and the month's projected cost."""

    name: str
    status: str
    enabled: bool
    window_open: bool
    error: Optional[str]  # as the model's view shows it
    error_at: Optional[datetime]
    month_cost: Optional[float]  # the schedule's cost over the calendar month, USD
    cost_note: Optional[str]  # why month_cost is None
    # The readiness summary of the model's recent windows, when something recorded them.
    readiness: Optional[dict[str, Any]] = None


def _cents(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@lru_cache(maxsize=256)
def _price(region: str, cmu_prices: str) -> Optional[costs.Price]:
    return costs.price_for(region, parse_price_overrides(cmu_prices))


def _priced(minutes: Optional[int], cmus: Optional[int], config_note: Optional[str], region: str,
            settings: Settings, enabled: bool = True) -> tuple[Optional[float], Optional[str]]:
    """The month's cost from its billed CMU-minutes, priced now (the price is the operator's
    setting, so it is never part of what is kept with the model); 0 while paused."""
    if not enabled:
        return 0.0, None  # paused: never called, so never billed
    if config_note is not None:
        return None, config_note
    if minutes is None or cmus is None:
        return None, "CMUs unknown (set custom_model_units)"
    price = _price(region, settings.cmu_prices)
    if price is None:
        return None, f"no CMU-minute price for {region} (KEEPWARM_CMU_PRICES)"
    return _cents(Decimal(repr(price.per_cmu_minute)) * cmus * minutes), None


def _month_minutes(model: Model, month: datetime, settings: Settings) -> tuple[Optional[int], Optional[str]]:
    """CMU-minutes per CMU the schedule bills over the calendar month starting at ``month``
    (0 while paused); or None and why not."""
    config, state = model.config, model.state
    if not config.enabled:
        return 0, None  # paused: never called, so never billed
    if not model_cmus(config, state):
        return None, "CMUs unknown (set custom_model_units)"
    days = calendar.monthrange(month.year, month.month)[1]
    try:
        with budget(settings.plan_budget_seconds):
            estimate = schedule_cost(config, state, month, days, 1, settings)
    except (PlanningOverrun, *PLANNING_ERRORS) as err:
        return None, f"planning failed ({type(err).__name__})"
    return estimate.billed_minutes, None


def month_cost(model: Model, now: datetime, settings: Settings) -> tuple[Optional[float], Optional[str]]:
    """The schedule's cost over this calendar month (UTC), from its CMUs (the setting, else
    what Bedrock said at verification) and its region's price (0 while paused); or None
    and why not."""
    config = model.config
    if not config.enabled:
        return 0.0, None
    minutes, note = _month_minutes(model, month_of(now)[0], settings)
    return _priced(minutes, model_cmus(config, model.state), note, config.region, settings)


def planned(model: Model, now: datetime, settings: Settings) -> FleetModel:
    """The model as the fleet shows it, planned from its config and state now."""
    shown = view(model, now, settings)
    state = shown["state"]
    return FleetModel(model.name, state["status"], shown["enabled"], state["window_open"], state["error"],
                      model.state.error_at, *month_cost(model, now, settings),
                      readiness=shown["readiness"]["summary"])


# -- the glance: what the fleet view needs of a model, kept with it --------------------------
# A glance is written with the model's item at each save (the store calls ``glance`` through
# its hook): the fleet view reads glances instead of planning each model again (about 2 ms
# a model), and plans only a model whose glance is missing or does not cover ``now``.
GLANCE_VERSION = 1
# How far ahead a glance knows the model's windows: a week and a day, so that a model saved
# only at its weekly window's pre-warm keeps a glance that covers the week.
GLANCE_DAYS = 8
# It knows that many windows at most; past the last one it is stale. A model is saved at
# least as each of its holds starts, so it rarely needs more than the next two.
GLANCE_WINDOWS = 4


def _ts(at: Optional[datetime]) -> Optional[float]:
    """An instant as seconds since the epoch, to the millisecond: compared as numbers when read."""
    return round(at.timestamp(), 3) if at is not None else None


def _month_key(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m")


def _basis(model: Model, settings: Settings) -> str:
    """A digest of everything a month's billed minutes depend on: the schedule, the timings
    and what the lead is learned from. Equal digests, equal minutes."""
    config, state = model.config, model.state
    facts = (sorted(config.to_item().items(), key=lambda kv: kv[0]), state.cold_starts, state.cold_start_bounds,
             state.cold_starts_unpolled, state.lead_prior, state.learned_keepalive_minutes,
             state.learned_release_minutes, state.release_found_cold_minutes, state.release_proven_minutes,
             state.region_release_minutes, state.region_prior_waived, model_cmus(config, state), settings)
    return hashlib.blake2b(repr(facts).encode(), digest_size=12).hexdigest()


def glance(model: Model, now: datetime, settings: Settings,
           previous: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """What the fleet view needs of ``model`` at any instant of [now, until): its stored
    status and when that decays, its error, its next windows, and the CMU-minutes its
    schedule bills in each calendar month the span touches (taken from ``previous``, the
    glance stored before, while what they depend on is unchanged: a month's plan costs
    about a millisecond, and the tick saves thousands of models a minute)."""
    config, state = model.config, model.state
    until = now + timedelta(days=GLANCE_DAYS)
    facts: dict[str, Any] = {
        "v": GLANCE_VERSION, "at": _ts(now), "enabled": config.enabled, "region": config.region,
        "status": state.status, "error": state.error, "error_kind": state.error_kind,
        "error_at": iso(state.error_at), "cmus": model_cmus(config, state),
        # When the stored status stops holding (planner.display_status): a copy's assumed
        # release, the end of a cold start's polling.
        "warm_until": _ts(state.last_success_at + timedelta(minutes=release_in_force(config, state)))
        if state.status == "warm" and state.last_success_at else None,
        "warming_until": _ts(chain_end(state, settings)),
        # The latest windows' readiness, summed over the last days when read.
        "readiness": [record.to_item() for record in state.readiness],
    }
    windows: list[list[float]] = []
    try:
        with budget(settings.plan_budget_seconds):
            after = now
            while config.enabled:
                window = next_window(config, after)
                if window is None or window.open >= until:
                    break
                if len(windows) == GLANCE_WINDOWS:
                    until = window.open  # nothing else opens before it
                    break
                windows.append([_ts(window.open), _ts(window.close)])
                after = window.close
    except PLANNING_ERRORS as err:
        facts["planning_error"] = f"planning failed ({type(err).__name__}: {str(err)[:300]})"
    basis = _basis(model, settings)
    kept = previous if previous and previous.get("v") == GLANCE_VERSION and previous.get("basis") == basis else {}
    months: dict[str, Optional[int]] = {}
    notes: dict[str, str] = {}
    month = month_of(now)[0]
    while month < until:
        key = _month_key(month)
        if key in kept.get("months", {}):
            months[key] = kept["months"][key]
            if key in kept.get("notes", {}):
                notes[key] = kept["notes"][key]
        else:
            months[key], note = _month_minutes(model, month, settings)
            if note:
                notes[key] = note
        month = (month + timedelta(days=32)).replace(day=1)
    facts.update(until=_ts(until), windows=windows, basis=basis, months=months, notes=notes)
    return facts


def from_glance(name: str, facts: Mapping[str, Any], now: datetime, settings: Settings) -> Optional[FleetModel]:
    """The model as the fleet shows it now, from its glance; None when the glance does not
    cover ``now`` (then the model is planned)."""
    t = now.timestamp()
    month = _month_key(now)
    if facts.get("v") != GLANCE_VERSION or not facts["at"] <= t < facts["until"] or month not in facts["months"]:
        return None
    status = facts["status"]
    warm_until, warming_until = facts["warm_until"], facts["warming_until"]
    if status == "warm" and (warm_until is None or t >= warm_until):
        status = "cold"
    elif status == "warming" and (warming_until is None or t > warming_until):
        status = "cold"
    error = facts["error"] if status == "error" or facts["error_kind"] == MODEL_ERROR else None
    window_open = facts["enabled"] and any(o <= t < c for o, c in facts["windows"])
    if facts.get("planning_error"):
        status, error, window_open = "error", facts["planning_error"], False
    cost, note = _priced(facts["months"][month], facts["cmus"], facts["notes"].get(month), facts["region"],
                         settings, facts["enabled"])
    records = [WindowRecord.from_item(item) for item in facts.get("readiness") or ()]
    return FleetModel(name, status, facts["enabled"], bool(window_open), error, parse_iso(facts["error_at"]),
                      cost, note, readiness=readiness.summary(records, now))


def read_fleet(store: Store, settings: Settings, now: datetime) -> list[FleetModel]:
    """Every model, in name order, as shown now, with its month's projected cost: from the
    glances kept with the models, planning only those without one that covers now."""
    fleet = []
    for name, facts, load in store.fleet():
        entry = from_glance(name, facts, now, settings) if facts is not None else None
        if entry is None:
            model = load()
            if model is None:
                continue  # deleted meanwhile
            entry = planned(model, now, settings)
        fleet.append(entry)
    return fleet


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
        "paused": sum(1 for entry in fleet if not entry.enabled),
        "window_open": sum(1 for entry in fleet if entry.window_open),
        "errors": [{"name": entry.name, "error": entry.error, "since": iso(entry.error_at)}
                   for entry in fleet if entry.status == "error"],
        "cost": {
            "month": start.strftime("%Y-%m"), "from": iso(start), "to": iso(start + timedelta(days=days)),
            "projected": round(sum(entry.month_cost for entry in priced), 2),  # type: ignore[misc]
            "currency": "USD",
            "models_priced": len(priced),
            "unpriced": [{"name": entry.name, "why": entry.cost_note} for entry in fleet
                         if entry.month_cost is None],
        },
        **readiness_total(fleet),
    }


def readiness_total(fleet: list[FleetModel]) -> dict[str, Any]:
    """The fleet's window openings in the last 7 days and how many were ready, summed over
    the models whose readiness is recorded; nothing when no window was judged yet."""
    recorded = [entry.readiness for entry in fleet if isinstance(entry.readiness, dict)
                and isinstance(entry.readiness.get("openings"), int) and entry.readiness["openings"]]
    if not recorded:
        return {}
    return {"readiness": readiness.fleet_totals(recorded)}


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
    leases: list[Span] = field(default_factory=list)  # the model's leases (still kept)
    overrides: list[Span] = field(default_factory=list)  # a warm override


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
    leases = [(lease.created_at, lease.expires_at) for lease in state.leases]
    override = state.override
    overrides = [(override.set_at, override.until)] if override is not None and override.state == "warm" else []
    return Day(start, end, now, windows=_clip(windows, start, end), warm=_clip(warm, start, until),
               cold=_clip(cold, start, until), leases=_clip(leases, start, end),
               overrides=_clip(overrides, start, end),
               calls=sorted(c for c in calls if start <= c[0] < end),
               errors=sorted(e for e in errors if start <= e[0] < end))


def day_events(store: Store, name: str, start: datetime, incarnation: Optional[str] = None) -> list[dict[str, Any]]:
    """The model's recent events back to a little before ``start`` (a copy held over
    midnight shows from the day's first instant)."""
    since = start - timedelta(hours=3)
    return [e for e in store.events(name, DAY_EVENTS, incarnation) if (parse_iso(e.get("at")) or since) >= since]
