"""Warm-up schedules: when a model should be kept warm.

This module owns schedules: an IANA time zone plus one or more windows, each a pair of
5-field cron expressions evaluated in that zone, ``warm`` opening the window and
``stop`` closing it. It validates untrusted schedule input, compiles the simple
``{"days", "start", "stop"}`` form to cron, and answers "is it open at t", "which
interval holds t or opens next" and "which intervals fall in a range". It is pure: no
AWS, no environment, no clock (except ``Schedule.from_dict``'s default ``at``).

A window is open at instant t when its latest warm firing at or before t is strictly
later than its latest stop firing at or before t (a tie is closed). The schedule is
open when any window is; intervals of different windows that overlap or touch merge.

DST rule: cron firings are computed in local wall-clock time, then each wall time is
placed on the timeline. A wall time that does not exist (spring-forward gap) is moved
forward by the gap's length, as if the clock had not changed: New York 2026-03-08
02:30 fires at 03:30 EDT (07:30 UTC). A wall time that happens twice (fall-back)
fires once, at its first occurrence, the daylight-time one: New York 2026-11-01 01:30
fires at 01:30 EDT (05:30 UTC) and not again at 01:30 EST. Firings that land on the
same instant count once.

Datetimes taken must be timezone-aware (naive ones raise ValueError); datetimes
returned are aware UTC.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Iterable, Optional

import pytz
from croniter import CroniterBadDateError, croniter

UTC = timezone.utc
MAX_WINDOWS = 20
# How far ahead a schedule is searched for an opening.
HORIZON = timedelta(days=400)
# How far an interval is merged with touching or overlapping intervals of other windows.
# Following such a run costs a few cron searches per window interval, and a schedule
# whose windows chain for ever (00:00-12:00 plus 12:00-00:00) would otherwise be walked
# for the whole horizon on every call; past this its interval is reported cut at a window edge.
MERGE_LIMIT = timedelta(days=8)

DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Letters are month and day names only: that shuts out croniter's extensions (H, L, R, W).
_CRON_NAMES: tuple[frozenset[str], ...] = (
    frozenset(), frozenset(), frozenset(), frozenset(MONTH_NAMES), frozenset(DAY_NAMES),
)
_CRON_CHARS = re.compile(r"[0-9A-Za-z*/,-]+")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")

# Longer than any DST gap or repeated hour: placing wall times on the timeline can
# reorder firings only within this distance of a transition, so searches look this far
# past the obvious stopping point.
_MARGIN = timedelta(hours=3)
_TICK = timedelta(microseconds=1)
# A warm firing that coincides with a stop opens nothing (a tie is closed); skipping such
# firings one by one is bounded so that equivalent warm/stop crons cannot spin for long.
_MAX_TIES = 1000


class ScheduleError(ValueError):
    """Bad schedule input. str(err) names the field and the problem, e.g.
    "windows[1].start: '25:00' is not a time of day (HH:MM)"; err.field holds "windows[1].start"."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Interval:
    open: datetime  # aware, UTC
    close: datetime  # aware, UTC


@dataclass(frozen=True)
class Window:
    warm: str  # 5-field cron, evaluated in the schedule's zone
    stop: str  # 5-field cron
    # Normalized input form, for display and storage. Left out of the hash (a dict has
    # none); equal windows still hash equal because the crons are derived from it.
    spec: dict = field(hash=False)

    def _is_open(self, zone: str, at: datetime) -> bool:
        warm = _latest(zone, self.warm, at)
        if warm is None:
            return False
        stop = _latest(zone, self.stop, at)
        return stop is None or warm > stop

    def _next(self, zone: str, at: datetime) -> Optional[Interval]:
        """This window's interval holding `at`, else the next one opening within HORIZON."""
        warm = _latest(zone, self.warm, at)
        stop = _latest(zone, self.stop, at)
        if warm is not None and (stop is None or warm > stop):
            # Later warms only kept it open: it opened at the first warm after the last stop.
            # With no stop ever (possible only for unvalidated input) the history is unknown.
            opened = warm if stop is None else _earliest_after(zone, self.warm, stop)
        else:
            opened = at
            for _ in range(_MAX_TIES):
                opened = _earliest_after(zone, self.warm, opened)
                if opened is None or opened > at + HORIZON:
                    return None
                if _latest(zone, self.stop, opened) != opened:
                    break
            else:
                return None
        closed = _earliest_after(zone, self.stop, opened)
        return None if opened is None or closed is None else Interval(opened, closed)

    def _opens_within(self, zone: str, at: datetime) -> bool:
        """Whether a whole interval opens at or after `at` and closes within HORIZON of it."""
        if self.warm == self.stop:
            return False
        interval = self._next(zone, at)
        if interval is not None and interval.open < at:
            interval = self._next(zone, interval.close)
        return interval is not None and interval.close <= at + HORIZON


@dataclass(frozen=True)
class Schedule:
    timezone: str  # canonical pytz name
    windows: tuple[Window, ...]

    @classmethod
    def from_dict(cls, timezone: object, windows: object, *, at: Optional[datetime] = None) -> Schedule:
        """Validate untrusted JSON-ish input (types may be anything) and build a Schedule.
        `at` is the reference instant for the 'window never opens' check (default: now in UTC)."""
        at = datetime.now(UTC) if at is None else _utc(at, "at")
        zone = _parse_zone(timezone)
        if not isinstance(windows, (list, tuple)):
            raise ScheduleError("windows", f"must be a list of windows, got {type(windows).__name__}")
        if not windows:
            raise ScheduleError("windows", "must list at least one window")
        if len(windows) > MAX_WINDOWS:
            raise ScheduleError("windows", f"at most {MAX_WINDOWS} windows are allowed, got {len(windows)}")
        parsed = []
        for i, raw in enumerate(windows):
            window = _parse_window(raw, f"windows[{i}]")
            if not window._opens_within(zone, at):
                raise ScheduleError(
                    f"windows[{i}]", "never opens (no whole warm-to-stop interval within 400 days)"
                )
            parsed.append(window)
        return cls(zone, tuple(parsed))

    def to_dict(self) -> dict:
        return {"timezone": self.timezone, "windows": [dict(w.spec) for w in self.windows]}

    def is_open(self, at: datetime) -> bool:
        at = _utc(at)
        return any(w._is_open(self.timezone, at) for w in self.windows)

    def next_interval(self, at: datetime) -> Optional[Interval]:
        """The merged open interval containing `at` (open <= at < close), else the earliest one
        opening after `at`; None if nothing opens within 400 days after `at`."""
        at = _utc(at)
        found = [iv for iv in (w._next(self.timezone, at) for w in self.windows) if iv is not None]
        if not found:
            return None
        holding = [iv for iv in found if iv.open <= at]
        if holding:
            seed = Interval(min(iv.open for iv in holding), max(iv.close for iv in holding))
        else:
            seed = min(found, key=lambda iv: iv.open)
        return self._grow(seed)

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """Merged open intervals overlapping [start, end), in time order, NOT clipped to the range."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return []  # an empty range overlaps nothing
        found = []
        for window in self.windows:
            interval = window._next(self.timezone, start)
            while interval is not None and interval.open < end:
                found.append(interval)
                interval = window._next(self.timezone, interval.close)
        merged = _merge(found)
        if merged:
            # Only the end intervals can be touched by window intervals outside the range.
            merged[0] = self._grow(merged[0])
            merged[-1] = self._grow(merged[-1])
        return _merge(merged)

    def _grow(self, interval: Interval) -> Interval:
        """Extend `interval` through other windows' intervals that overlap or touch it."""
        # One window's intervals never touch: reopening takes a warm strictly after the stop.
        if len(self.windows) < 2:
            return interval
        earliest, latest = interval.open - MERGE_LIMIT, interval.close + MERGE_LIMIT
        opened, closed = interval.open, interval.close
        while True:
            before = (opened, closed)
            for window in self.windows:
                after = window._next(self.timezone, closed)
                if after is not None and after.open <= closed:
                    closed = after.close
                # Holding the instant just before `opened` means reaching or touching it.
                prior = window._next(self.timezone, opened - _TICK)
                if prior is not None and prior.open < opened:
                    opened = prior.open
            if (opened, closed) == before or opened < earliest or closed > latest:
                return Interval(opened, closed)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for iv in sorted(intervals, key=lambda iv: (iv.open, iv.close)):
        if merged and iv.open <= merged[-1].close:
            if iv.close > merged[-1].close:
                merged[-1] = Interval(merged[-1].open, iv.close)
        else:
            merged.append(iv)
    return merged


def _utc(at: datetime, name: str = "at") -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at!r}")
    return at.astimezone(UTC)


# --- firings ---------------------------------------------------------------------------
# Both caches are keyed on whole-minute (or whole-hour) wall times, so the scheduler's
# repeated questions about the same days are answered without croniter or pytz.


@lru_cache(maxsize=16384)
def _step(expr: str, wall: datetime, forward: bool) -> Optional[datetime]:
    """The firing strictly after (forward) or before `wall`, as naive wall time.

    Naive datetimes keep croniter's own DST handling out of it; None when croniter's
    search range holds no firing."""
    # Parsing dominates croniter's cost: copy a parsed iterator rather than build one.
    it = copy.copy(_parsed(expr))
    it.set_current(wall, force=True)
    try:
        return it.get_next(datetime) if forward else it.get_prev(datetime)
    except CroniterBadDateError:
        return None


@lru_cache(maxsize=1024)
def _parsed(expr: str) -> croniter:
    return croniter(expr, datetime(2000, 1, 1))


@lru_cache(maxsize=16384)
def _place(zone: str, wall: datetime) -> datetime:
    """The UTC instant at which a firing at naive local `wall` happens (the DST rule)."""
    tz = pytz.timezone(zone)
    try:
        local = tz.localize(wall, is_dst=None)
    except pytz.NonExistentTimeError:
        # pytz then applies the offset from before the gap: moved forward by its length.
        local = tz.localize(wall, is_dst=False)
    except pytz.AmbiguousTimeError:
        # Aware datetimes compare as instants: this is the first occurrence.
        local = min(tz.localize(wall, is_dst=True), tz.localize(wall, is_dst=False))
    return local.astimezone(UTC)


def _hour(zone: str, at: datetime) -> datetime:
    """The naive local wall time of `at`, floored to the hour so that cache keys repeat."""
    return at.astimezone(pytz.timezone(zone)).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def _latest(zone: str, expr: str, at: datetime) -> Optional[datetime]:
    """The latest firing at or before `at`."""
    # Placement is monotonic except within _MARGIN of a DST transition, so walk back
    # from _MARGIN past `at` and stop only once _MARGIN before the best candidate.
    wall: Optional[datetime] = _hour(zone, at) + timedelta(hours=1) + _MARGIN
    best = best_wall = None
    while True:
        wall = _step(expr, wall, False)
        if wall is None or (best_wall is not None and wall < best_wall - _MARGIN):
            return best
        placed = _place(zone, wall)
        if placed <= at and (best is None or placed > best):
            best, best_wall = placed, wall


def _earliest_after(zone: str, expr: str, after: datetime) -> Optional[datetime]:
    """The earliest firing strictly after `after`."""
    wall: Optional[datetime] = _hour(zone, after) - _MARGIN
    best = best_wall = None
    while True:
        wall = _step(expr, wall, True)
        if wall is None or (best_wall is not None and wall > best_wall + _MARGIN):
            return best
        placed = _place(zone, wall)
        if placed > after and (best is None or placed < best):
            best, best_wall = placed, wall


# --- input -----------------------------------------------------------------------------


def _parse_zone(value: object) -> str:
    if not isinstance(value, str):
        raise ScheduleError("timezone", f"must be a string, got {type(value).__name__}")
    try:
        return pytz.timezone(value).zone  # pytz looks names up case-insensitively
    except (pytz.UnknownTimeZoneError, ValueError):
        problem = f"{value!r} is not an IANA time zone name (e.g. 'Europe/London')"
        raise ScheduleError("timezone", problem) from None


def _parse_window(raw: object, where: str) -> Window:
    if not isinstance(raw, dict):
        raise ScheduleError(where, f"must be an object, got {type(raw).__name__}")
    keys = set(raw)
    unknown = keys - {"days", "start", "stop", "warm"}
    if unknown:
        names = ", ".join(sorted(repr(k) for k in unknown))
        raise ScheduleError(
            where, f"unknown key(s) {names}; a window is {{days, start, stop}} or {{warm, stop}}"
        )
    if "warm" in keys and keys & {"days", "start"}:
        raise ScheduleError(
            where, "mixes the cron form {warm, stop} with the simple form {days, start, stop}"
        )
    for key in ("warm", "stop") if "warm" in keys else ("start", "stop"):
        if key not in raw:
            raise ScheduleError(f"{where}.{key}", "is required")
    if "warm" in keys:
        warm, stop = _parse_cron(raw["warm"], f"{where}.warm"), _parse_cron(raw["stop"], f"{where}.stop")
        return Window(warm, stop, {"warm": warm, "stop": stop})
    text, days = _parse_days(raw.get("days", "*"), f"{where}.days")
    start = _parse_hhmm(raw["start"], f"{where}.start")
    stop = _parse_hhmm(raw["stop"], f"{where}.stop")
    if start == stop:
        raise ScheduleError(f"{where}.stop", f"must differ from start ({raw['start']})")
    # An overnight window closes the morning after each day it opens.
    stop_days = days if stop > start else frozenset((d + 1) % 7 for d in days)
    return Window(
        f"{start[1]} {start[0]} * * {_dow_field(days)}",
        f"{stop[1]} {stop[0]} * * {_dow_field(stop_days)}",
        {"days": text, "start": raw["start"], "stop": raw["stop"]},
    )


def _parse_hhmm(value: object, where: str) -> tuple[int, int]:
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ScheduleError(where, f"{value!r} is not a time of day (HH:MM)")
    return int(match[1]), int(match[2])


def _parse_days(value: object, where: str) -> tuple[str, frozenset[int]]:
    """The normalized text and day numbers (SUN=0) of a list like 'mon-fri,sun'."""
    if not isinstance(value, str):
        raise ScheduleError(where, f"must be a string like 'MON-FRI', got {type(value).__name__}")
    parts = [part.strip() for part in value.upper().split(",")]
    if parts == ["*"]:
        return "*", frozenset(range(7))
    days: set[int] = set()
    normal = []
    for part in parts:
        ends = [end.strip() for end in part.split("-")]
        if len(ends) > 2 or not all(end in DAY_NAMES for end in ends):
            raise ScheduleError(
                where, f"{part!r} is not a day name or range (SUN MON TUE WED THU FRI SAT, or '*')"
            )
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))  # FRI-MON wraps
        normal.append("-".join(ends))
    return ",".join(normal), frozenset(days)


def _dow_field(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "*"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day - 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return ",".join(DAY_NAMES[a] if a == b else f"{DAY_NAMES[a]}-{DAY_NAMES[b]}" for a, b in runs)


def _parse_cron(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ScheduleError(where, f"must be a cron expression string, got {type(value).__name__}")
    fields = value.split()
    if len(fields) != 5:
        raise ScheduleError(
            where, f"{value!r} must have exactly 5 fields (minute hour day-of-month month day-of-week)"
        )
    for name, text, names in zip(_CRON_FIELDS, fields, _CRON_NAMES):
        if not _CRON_CHARS.fullmatch(text):
            raise ScheduleError(
                where, f"{value!r}: the {name} field {text!r} may use only digits, names and * / , -"
            )
        for word in re.findall(r"[A-Za-z]+", text):
            if word.upper() not in names:
                raise ScheduleError(where, f"{value!r}: {word!r} is not allowed in the {name} field")
    expr = " ".join(fields)
    if not _cron_is_valid(expr):
        raise ScheduleError(where, f"{value!r} is not a valid cron expression")
    return expr


@lru_cache(maxsize=1024)
def _cron_is_valid(expr: str) -> bool:
    return bool(croniter.is_valid(expr))
