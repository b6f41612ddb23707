"""When a model must be warm: its *holds*, from every source that asks for it.

A hold is a span over which the model is kept loaded:
- each window of its schedule, minus excluded dates and public holidays (a window is
  skipped when the local date of its opening is one), starting ``lead`` before the window
  opens so the model is ready when it does;
- each active lease (a batch job's "warm from now for N minutes");
- a ``warm`` override, until it ends.
Holds that overlap or touch merge. A ``cold`` override suppresses everything until it
ends; whatever is due then resumes by itself. Pure: config, state and instants in.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable, Optional

import holidays
import pytz

from chalicelib.records import ModelConfig, ModelState, require_aware
from chalicelib.schedule import Interval, Schedule

UTC = timezone.utc
# Stored schedules were validated on the way in; rebuilding them must not depend on the
# clock, so the "never opens" check is anchored to a fixed instant here.
_VALIDATION_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# How many excluded days in a row are skipped before giving up (a schedule whose every
# window is excluded never holds).
_MAX_SKIPPED = 400


@dataclass(frozen=True)
class Hold:
    start: datetime  # the first call may go out from here
    open: datetime   # the model should be ready from here
    close: datetime  # no call at or after this
    source: str      # window | lease | override


@lru_cache(maxsize=4096)
def _schedule(zone: str, windows_json: str) -> Schedule:
    return Schedule.from_dict(zone, json.loads(windows_json), at=_VALIDATION_EPOCH)


def schedule_of(config: ModelConfig) -> Schedule:
    return _schedule(config.timezone, json.dumps(config.windows, sort_keys=True))


@lru_cache(maxsize=256)
def holiday_calendar(country: str, subdiv: Optional[str]) -> Any:
    """A public-holiday calendar from the ``holidays`` package (years fill in lazily)."""
    return holidays.country_holidays(country, subdiv=subdiv)


def is_excluded(config: ModelConfig, day: date) -> bool:
    if day.isoformat() in config.exclude_dates:
        return True
    if config.holidays:
        return day in holiday_calendar(config.holidays["country"], config.holidays.get("subdiv"))
    return False


def _local_date(config: ModelConfig, at: datetime) -> date:
    return at.astimezone(pytz.timezone(config.timezone)).date()


def _kept(config: ModelConfig, interval: Interval) -> bool:
    return not (config.exclude_dates or config.holidays) or not is_excluded(
        config, _local_date(config, interval.open))


def next_window(config: ModelConfig, at: datetime) -> Optional[Interval]:
    """The schedule's window containing ``at`` or opening next, exclusions applied."""
    schedule = schedule_of(config)
    interval = schedule.next_interval(at)
    for _ in range(_MAX_SKIPPED):
        if interval is None or _kept(config, interval):
            return interval
        # Skip the whole excluded day at once: a day of hourly windows is one step.
        interval = schedule.next_interval(max(interval.close, _next_midnight(config, interval.open)))
    return None


def _next_midnight(config: ModelConfig, at: datetime) -> datetime:
    zone = pytz.timezone(config.timezone)
    day = at.astimezone(zone).date() + timedelta(days=1)
    return zone.localize(datetime.combine(day, time()), is_dst=False).astimezone(UTC)


def window_intervals(config: ModelConfig, start: datetime, end: datetime) -> list[Interval]:
    """The schedule's windows overlapping [start, end), exclusions applied."""
    return [i for i in schedule_of(config).intervals(start, end) if _kept(config, i)]


def current_window(config: ModelConfig, at: datetime) -> Optional[Interval]:
    interval = next_window(config, at)
    return interval if interval is not None and interval.open <= at else None


def _override(state: ModelState, at: datetime, kind: str) -> Optional[Any]:
    o = state.override
    return o if o is not None and o.state == kind and at < o.until else None


def _candidates(state: ModelState, at: datetime) -> list[Hold]:
    holds = [Hold(lease.created_at, lease.created_at, lease.expires_at, "lease")
             for lease in state.leases if lease.expires_at > at]
    warm = _override(state, at, "warm")
    if warm is not None:
        holds.append(Hold(warm.set_at, warm.set_at, warm.until, "override"))
    return holds


def next_hold(config: ModelConfig, state: ModelState, at: datetime, lead: timedelta) -> Optional[Hold]:
    """The merged hold with ``close > at`` that comes first; None if nothing ever holds."""
    require_aware(at, "at")
    cold = _override(state, at, "cold")
    if cold is not None:
        # Nothing is held before the override ends; what is due then is held from then on.
        hold = next_hold(config, _without_override(state), cold.until, lead)
        if hold is None:
            return None
        return Hold(max(hold.start, cold.until), max(hold.open, cold.until), hold.close, hold.source)

    def window_hold(after: datetime) -> Optional[Hold]:
        # A window whose pre-warm has begun but which opens after ``after`` is found too:
        # next_window returns the next opening.
        w = next_window(config, after)
        return Hold(w.open - lead, w.open, w.close, "window") if w is not None else None

    pool = _candidates(state, at)
    first_window = window_hold(at)
    if first_window is not None:
        pool.append(first_window)
    pool = [h for h in pool if h.close > at]
    if not pool:
        return None
    pool.sort(key=lambda h: h.start)
    merged = pool[0]
    rest = pool[1:]
    while True:
        grew = False
        for h in list(rest):
            if h.start <= merged.close:
                merged = _merge(merged, h)
                rest.remove(h)
                grew = True
        following = window_hold(merged.close)
        if following is not None and following.start <= merged.close and following.close > merged.close:
            merged = _merge(merged, following)
            grew = True
        if not grew:
            return merged


def _merge(a: Hold, b: Hold) -> Hold:
    first = a if a.start <= b.start else b
    return Hold(first.start, min(a.open, b.open), max(a.close, b.close), first.source)


def _without_override(state: ModelState) -> ModelState:
    return replace(state, override=None)


def in_hold(config: ModelConfig, state: ModelState, at: datetime, lead: timedelta) -> bool:
    hold = next_hold(config, state, at, lead)
    return hold is not None and hold.start <= at


def holds_between(config: ModelConfig, state: ModelState, start: datetime, end: datetime,
                  lead: timedelta) -> Iterable[Hold]:
    at = start
    while at < end:
        hold = next_hold(config, state, at, lead)
        if hold is None or hold.start >= end:
            return
        yield hold
        at = hold.close

