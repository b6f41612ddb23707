"""When a model must be warm: its *holds*, from every source that asks for it.

A hold is a span over which the model is kept loaded:
- each window of its schedule, starting ``lead`` before the window opens so the model is
  ready when it does. Excluded dates and public holidays remove the window intervals
  that open on them (judged per window interval, in the model's zone, before anything
  merges: one holiday never removes the days it touches);
- each active lease (a batch job's "warm from now for N minutes");
- a ``warm`` override, until it ends.
Holds that overlap or touch merge. A ``cold`` override suppresses everything until it
ends; whatever is due then resumes by itself. Pure: config, state and instants in.

Merging is followed for ``PLAN_HORIZON`` past the instant asked about (and at most
``MAX_MERGES`` steps): a hold that goes on beyond that, such as an always-open schedule's,
is reported ``cut`` there, and asked about again later it goes on from where it was cut.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Callable, Optional

import holidays

from chalicelib.budget import check
from chalicelib.records import ModelConfig, ModelState, require_aware
from chalicelib.schedule import Interval, Schedule

# A call is never planned more than a keep-alive interval ahead; a day of merged hold is
# plenty to plan it, and bounds the work for schedules that never close.
PLAN_HORIZON = timedelta(days=1)
MAX_MERGES = 200


@dataclass(frozen=True)
class Hold:
    start: datetime  # the first call may go out from here
    open: datetime   # the model should be ready from here
    close: datetime  # no call at or after this
    source: str      # window | lease | override
    # True when the hold goes on past ``close`` (merging stopped at the planning horizon).
    cut: bool = False


@lru_cache(maxsize=4096)
def _schedule(zone: str, windows_json: str) -> Schedule:
    return Schedule.from_stored(zone, json.loads(windows_json))


def _windows_key(config: ModelConfig) -> str:
    return json.dumps(config.windows, sort_keys=True)


def schedule_of(config: ModelConfig) -> Schedule:
    return _schedule(config.timezone, _windows_key(config))


@lru_cache(maxsize=256)
def holiday_calendar(country: str, subdiv: Optional[str]) -> Any:
    """A public-holiday calendar from the ``holidays`` package (years fill in lazily)."""
    return holidays.country_holidays(country, subdiv=subdiv)


def _calendar_key(config: ModelConfig) -> Optional[tuple[str, Optional[str]]]:
    return (config.holidays["country"], config.holidays.get("subdiv")) if config.holidays else None


def exclusions(config: ModelConfig) -> Optional[Callable[[date], bool]]:
    """Whether a local date is excluded (an ``exclude_dates`` entry or a public holiday);
    None when the model excludes nothing."""
    return _exclusions(tuple(config.exclude_dates), _calendar_key(config))


@lru_cache(maxsize=4096)
def _exclusions(exclude_dates: tuple[str, ...],
                calendar_key: Optional[tuple[str, Optional[str]]]) -> Optional[Callable[[date], bool]]:
    if not (exclude_dates or calendar_key):
        return None
    dates = frozenset(exclude_dates)
    calendar = holiday_calendar(*calendar_key) if calendar_key else None
    return lambda day: day.isoformat() in dates or (calendar is not None and day in calendar)


def next_window(config: ModelConfig, at: datetime) -> Optional[Interval]:
    """The schedule's window containing ``at`` or opening next, exclusions applied."""
    return _next_window(*_window_key(config), at)


def _window_key(config: ModelConfig) -> tuple[Any, ...]:
    return config.timezone, _windows_key(config), tuple(config.exclude_dates), _calendar_key(config)


@lru_cache(maxsize=65536)
def _next_window(zone: str, windows_json: str, exclude_dates: tuple[str, ...],
                 calendar_key: Optional[tuple[str, Optional[str]]], at: datetime) -> Optional[Interval]:
    # Cached: a hold's end is asked about again by every plan made inside the hold.
    return _schedule(zone, windows_json).next_interval(at, _exclusions(exclude_dates, calendar_key))


def window_intervals(config: ModelConfig, start: datetime, end: datetime) -> list[Interval]:
    """The schedule's windows overlapping [start, end), exclusions applied."""
    return schedule_of(config).intervals(start, end, exclusions(config))


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
    """The merged hold with ``close > at`` that comes first; None if nothing holds within
    the schedule's horizon."""
    require_aware(at, "at")
    cold = _override(state, at, "cold")
    if cold is not None:
        # Nothing is held before the override ends; what is due then is held from then on.
        hold = next_hold(config, replace(state, override=None), cold.until, lead)
        if hold is None:
            return None
        return replace(hold, start=max(hold.start, cold.until), open=max(hold.open, cold.until))

    key = _window_key(config)

    def window_hold(after: datetime) -> Optional[Hold]:
        # A window whose pre-warm has begun but which opens after ``after`` is found too:
        # next_window returns the next opening.
        w = _next_window(*key, after)
        return Hold(w.open - lead, w.open, w.close, "window", w.cut) if w is not None else None

    pool = _candidates(state, at)
    first_window = window_hold(at)
    if first_window is not None:
        pool.append(first_window)
    pool = sorted((h for h in pool if h.close > at), key=lambda h: h.start)
    if not pool:
        return None
    merged, rest = pool[0], pool[1:]
    for _ in range(MAX_MERGES):
        check()
        for h in [h for h in rest if h.start <= merged.close]:
            merged = _merge(merged, h)
            rest.remove(h)
        if merged.cut and merged.close - at > PLAN_HORIZON:
            return merged  # the schedule's own merging went far enough
        following = window_hold(merged.close)
        continues = following is not None and following.start <= merged.close < following.close
        if not continues and not any(h.start <= merged.close for h in rest):
            return merged
        if merged.close - at > PLAN_HORIZON:
            return replace(merged, cut=True)  # planned again from later on
        if continues:
            merged = _merge(merged, following)  # type: ignore[arg-type]
    return replace(merged, cut=True)


def _merge(a: Hold, b: Hold) -> Hold:
    first = a if a.start <= b.start else b
    last = a if (a.close, a.cut) >= (b.close, b.cut) else b
    return Hold(first.start, min(a.open, b.open), last.close, first.source, last.cut)


def in_hold(config: ModelConfig, state: ModelState, at: datetime, lead: timedelta) -> bool:
    hold = next_hold(config, state, at, lead)
    return hold is not None and hold.start <= at
