"""Warm-up schedules: when a model should be kept warm.

This module owns schedules: an IANA time zone plus one or more windows. It validates
untrusted schedule input and answers "is it open at t", "which interval holds t or opens
next" and "which intervals fall in a range", optionally leaving out the intervals that
open on excluded local dates. It is pure: no AWS, no environment, no clock (except
``Schedule.from_dict``'s default ``at``).

Two kinds of window:

- The simple form ``{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}`` is one
  interval per listed local day, from ``start`` to ``stop`` that day, or to ``stop`` the
  next morning when ``stop`` is not after ``start`` (an overnight window). ``stop`` may be
  ``24:00``, the end of the day: a window from ``00:00`` to ``24:00`` on every day is
  always open, and on ``MON-FRI`` it runs from Monday 00:00 to Saturday 00:00. A day whose
  interval the DST rule makes empty (its start placed at or after its stop) has none.
- The cron form ``{"warm": "<cron>", "stop": "<cron>"}``: two 5-field cron expressions.
  It is open at instant t when its latest warm firing at or before t is strictly later
  than its latest stop firing at or before t (a tie is closed).

The schedule is open when any window is; intervals that overlap or touch merge. An
interval is left out when the local date it opens on is excluded (a holiday), judged per
window interval before merging, so one excluded day never removes the days it touches.

DST rule: wall-clock times are placed on the timeline like this. A wall time that does
not exist (spring-forward gap) is moved forward by the gap's length, as if the clock had
not changed: New York 2026-03-08 02:30 fires at 03:30 EDT (07:30 UTC). A wall time that
happens twice (fall-back) fires once, at its first occurrence, the daylight-time one: New
York 2026-11-01 01:30 fires at 01:30 EDT (05:30 UTC) and not again at 01:30 EST. Firings
that land on the same instant count once.

Every search is bounded: openings are looked for within ``HORIZON``, merging follows
touching intervals for ``MERGE_LIMIT`` (an interval cut there says so: ``cut``), and the
loops check the planning budget (chalicelib.budget). Cron firings are computed from
croniter's parse of each expression by the minute grid below, which a property test
holds equal to croniter's own iteration.

Datetimes taken must be timezone-aware (naive ones raise ValueError); datetimes
returned are aware UTC.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Callable, Iterable, Optional, Union

import pytz
from croniter import croniter

from chalicelib.budget import check

UTC = timezone.utc
MAX_WINDOWS = 20
# How far ahead a schedule is searched for an opening, and the longest an interval may last.
HORIZON = timedelta(days=400)
# How far an interval is merged with touching or overlapping intervals. Following such a
# run costs a few searches per interval, and a schedule whose windows chain for ever
# (always open) would otherwise be walked for the whole horizon on every call; past this
# its interval is reported cut (``Interval.cut``), at a window edge.
MERGE_LIMIT = timedelta(days=2)
# A schedule may open at most this many times a day, all windows together: windows are
# spans to hold a model warm over, and every figure (cost, previews) walks each opening.
MAX_OPENINGS_PER_DAY = 48

DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Letters are month and day names only: that shuts out croniter's extensions (H, L, R, W).
_CRON_NAMES: tuple[frozenset[str], ...] = (
    frozenset(), frozenset(), frozenset(), frozenset(MONTH_NAMES), frozenset(DAY_NAMES),
)
_CRON_CHARS = re.compile(r"[0-9A-Za-z*/,-]+")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
END_OF_DAY = "24:00"
MINUTES_PER_DAY = 1440

# Longer than any DST gap or repeated hour: placing wall times on the timeline can
# reorder firings only within this distance of a transition, so searches near one look
# this far past the obvious stopping point.
_MARGIN = timedelta(hours=3)
_TICK = timedelta(microseconds=1)
# A warm firing that coincides with a stop opens nothing (a tie is closed); skipping such
# firings one by one is bounded so that equivalent warm/stop crons cannot spin for long.
_MAX_TIES = 1000
# How far the minute grid looks for a cron's next firing: past every leap day (2096 to
# 2104 is eight years) and past the horizon with room to spare.
_SEARCH_YEARS = 9
# Excluded openings skipped one after another before giving up.
_MAX_SKIPPED = 1000

Excluded = Optional[Callable[[date], bool]]


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
    # True when merging stopped at MERGE_LIMIT: the schedule stays open past ``close``.
    cut: bool = False


def _kept(excluded: Excluded, day: date) -> bool:
    return excluded is None or not excluded(day)


def _local_date(zone: str, at: datetime) -> date:
    offset = _steady_offset(zone, at.astimezone(UTC).date())
    if offset is not None:  # no transition within days: the day's one offset will do
        return (at.astimezone(UTC) + offset).date()
    return at.astimezone(pytz.timezone(zone)).date()


@dataclass(frozen=True)
class DailyWindow:
    """The simple form: one interval per listed local day (see the module docstring)."""

    days: frozenset[int]  # SUN=0
    start: int  # minute of the day
    stop: int  # minute of the day, 1..1440 (1440: the end of the day)
    # Normalized input form, for display and storage. Left out of the hash (a dict has
    # none); equal windows still hash equal because the fields are derived from it.
    spec: dict = field(hash=False, compare=False)

    @property
    def openings_per_day(self) -> int:
        return 1

    @property
    def self_merging(self) -> bool:
        """Whether its own intervals can touch or overlap: a day's window ends where the
        next begins (00:00-24:00), or nearly, when a DST change shifts one of them."""
        span = self.stop - self.start if self.stop > self.start else self.stop + MINUTES_PER_DAY - self.start
        return span >= MINUTES_PER_DAY - _MARGIN // timedelta(minutes=1)

    def _on(self, zone: str, day: date) -> Optional[Interval]:
        """The interval opening on local ``day``, if the day is listed and not emptied by DST."""
        return _daily_interval(self, zone, day) if (day.isoweekday() % 7) in self.days else None

    def next(self, zone: str, at: datetime, excluded: Excluded = None) -> Optional[Interval]:
        """The interval holding ``at``, else the next one opening within HORIZON."""
        # The day before can still hold `at` (an overnight window, or a day's end at 24:00).
        day = _local_date(zone, at) - timedelta(days=1)
        for _ in range(HORIZON.days + 2):
            check()
            interval = self._on(zone, day)
            if interval is not None and interval.close > at and _kept(excluded, day):
                return interval if interval.open <= at + HORIZON else None
            day += timedelta(days=1)
        return None

    def between(self, zone: str, start: datetime, end: datetime, excluded: Excluded = None) -> list[Interval]:
        """This window's intervals overlapping [start, end), in order."""
        day, last = _local_date(zone, start) - timedelta(days=1), _local_date(zone, end)
        found = []
        while day <= last:
            check()
            interval = self._on(zone, day)
            if interval is not None and interval.close > start and interval.open < end and _kept(excluded, day):
                found.append(interval)
            day += timedelta(days=1)
        return found


@lru_cache(maxsize=65536)
def _daily_interval(window: DailyWindow, zone: str, day: date) -> Optional[Interval]:
    ends = day + timedelta(days=1) if window.stop <= window.start or window.stop == MINUTES_PER_DAY else day
    opened = _place(zone, _wall(day, window.start))
    closed = _place(zone, _wall(ends, window.stop % MINUTES_PER_DAY))
    return Interval(opened, closed) if opened < closed else None


@dataclass(frozen=True)
class CronWindow:
    """The cron form: open while its latest warm firing is later than its latest stop."""

    warm: str  # 5-field cron, evaluated in the schedule's zone
    stop: str  # 5-field cron
    spec: dict = field(hash=False, compare=False)

    @property
    def openings_per_day(self) -> int:
        return len(_grid(self.warm).times)

    # Reopening takes a warm strictly after the stop (a tie is closed): never touching.
    self_merging = False

    def _raw_next(self, zone: str, at: datetime) -> Optional[Interval]:
        """This window's interval holding `at`, else the next one opening within HORIZON;
        an interval that would not close within HORIZON of its opening does not count."""
        if self.warm == self.stop:
            return None  # every warm ties with a stop: never open
        warm = _latest(zone, self.warm, at)
        stop = _latest(zone, self.stop, at)
        opened: Optional[datetime]
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
        if opened is None:
            return None
        closed = _earliest_after(zone, self.stop, opened)
        if closed is None or closed - opened > HORIZON:
            return None
        return Interval(opened, closed)

    def next(self, zone: str, at: datetime, excluded: Excluded = None) -> Optional[Interval]:
        """As ``_raw_next``, leaving out intervals that open on an excluded local date."""
        interval = self._raw_next(zone, at)
        limit = at + HORIZON
        for _ in range(_MAX_SKIPPED):
            if interval is None or interval.open > limit:
                return None
            day = _local_date(zone, interval.open)
            if _kept(excluded, day):
                return interval
            # Skip the whole excluded day at once: a day of hourly windows is one step.
            interval = self._raw_next(zone, max(interval.close, _midnight_after(zone, day)))
        return None

    def between(self, zone: str, start: datetime, end: datetime, excluded: Excluded = None) -> list[Interval]:
        """This window's intervals overlapping [start, end), in order: the one holding
        ``start`` (or opening next) found by search, the rest from the warm firings: each
        warm after the last close opens an interval (unless a stop ties with it), which
        closes at the first stop after it. The stop's firings are never listed, so a stop
        that fires every minute costs no more than one that fires once a day."""
        first = self._raw_next(zone, start)
        if first is None or first.open >= end:
            return []
        found = [first]
        for warm in _firings(zone, self.warm, first.close, end):
            check()
            if warm < found[-1].close:
                continue  # it only kept the interval open
            closed = _earliest_after(zone, self.stop, warm - _TICK)
            if closed == warm:
                continue  # a stop at the same instant: a tie is closed
            if closed is None or closed - warm > HORIZON:
                break
            found.append(Interval(warm, closed))
        return [iv for iv in found if _kept(excluded, _local_date(zone, iv.open))]


Window = Union[DailyWindow, CronWindow]


@dataclass(frozen=True)
class Schedule:
    timezone: str  # canonical pytz name
    windows: tuple[Window, ...]

    @classmethod
    def from_dict(cls, timezone: object, windows: object, *, at: Optional[datetime] = None) -> Schedule:
        """Validate new, untrusted JSON-ish input (types may be anything) and build a Schedule.

        Beyond the syntax: the zone must follow a place's clocks (fixed-offset legacy zones
        such as ``EST`` are refused), every window must be open at ``at`` or open within
        HORIZON after it (default: now), and the schedule may open at most
        MAX_OPENINGS_PER_DAY times a day."""
        at = datetime.now(UTC) if at is None else _utc(at, "at")
        schedule = cls.from_stored(_parse_zone(timezone, strict=True), windows)
        per_day = 0
        for i, window in enumerate(schedule.windows):
            if window.next(schedule.timezone, at) is None:
                raise ScheduleError(f"windows[{i}]", "never opens (no warm-to-stop interval open now or "
                                                     "opening within 400 days, closing within 400 days)")
            per_day += window.openings_per_day
            if per_day > MAX_OPENINGS_PER_DAY:
                raise ScheduleError(
                    f"windows[{i}]", f"the schedule would open up to {per_day} times a day; at most "
                    f"{MAX_OPENINGS_PER_DAY} are allowed (a window is a span to keep the model warm "
                    "over: give each a single warm time, e.g. '0 9 * * MON-FRI')")
        return schedule

    @classmethod
    def from_stored(cls, timezone: object, windows: object) -> Schedule:
        """Rebuild a schedule that was validated when it was stored: syntax only, with no
        clock, so that a stored schedule keeps meaning what it meant."""
        zone = _parse_zone(timezone, strict=False)
        if not isinstance(windows, (list, tuple)):
            raise ScheduleError("windows", f"must be a list of windows, got {type(windows).__name__}")
        if not windows:
            raise ScheduleError("windows", "must list at least one window")
        if len(windows) > MAX_WINDOWS:
            raise ScheduleError("windows", f"at most {MAX_WINDOWS} windows are allowed, got {len(windows)}")
        return cls(zone, tuple(_parse_window(raw, f"windows[{i}]") for i, raw in enumerate(windows)))

    def to_dict(self) -> dict:
        return {"timezone": self.timezone, "windows": [dict(w.spec) for w in self.windows]}

    def is_open(self, at: datetime, excluded: Excluded = None) -> bool:
        interval = self.next_interval(at, excluded)
        return interval is not None and interval.open <= _utc(at)

    def next_interval(self, at: datetime, excluded: Excluded = None) -> Optional[Interval]:
        """The merged open interval containing `at` (open <= at < close), else the earliest one
        opening after `at`; None if nothing opens within HORIZON after `at`."""
        at = _utc(at)
        found = [iv for iv in (w.next(self.timezone, at, excluded) for w in self.windows) if iv is not None]
        if not found:
            return None
        holding = [iv for iv in found if iv.open <= at]
        if holding:
            seed = Interval(min(iv.open for iv in holding), max(iv.close for iv in holding))
        else:
            seed = min(found, key=lambda iv: iv.open)
        return self._grow(seed, excluded)

    def intervals(self, start: datetime, end: datetime, excluded: Excluded = None) -> list[Interval]:
        """Merged open intervals overlapping [start, end), in time order, NOT clipped to the range."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return []  # an empty range overlaps nothing
        found = [iv for window in self.windows for iv in window.between(self.timezone, start, end, excluded)]
        merged = _merge(found)
        if merged:
            # Only the end intervals can be touched by window intervals outside the range.
            merged[0] = self._grow(merged[0], excluded)
            merged[-1] = self._grow(merged[-1], excluded)
        return _merge(merged)

    def _grow(self, interval: Interval, excluded: Excluded) -> Interval:
        """Extend `interval` through window intervals that overlap or touch it, for at most
        MERGE_LIMIT either way; past that forward it is reported ``cut`` (it goes on)."""
        if len(self.windows) == 1 and not self.windows[0].self_merging:
            return interval
        earliest, latest = interval.open - MERGE_LIMIT, interval.close + MERGE_LIMIT
        opened, closed = interval.open, interval.close
        while True:
            check()
            before = (opened, closed)
            for window in self.windows:
                if closed <= latest:
                    after = window.next(self.timezone, closed, excluded)
                    if after is not None and after.open <= closed:
                        closed = after.close
                if opened >= earliest:
                    # Holding the instant just before `opened` means reaching or touching it.
                    prior = window.next(self.timezone, opened - _TICK, excluded)
                    if prior is not None and prior.open < opened:
                        opened = prior.open
            if (opened, closed) == before:
                # Stopped past the limit: cut only if a window goes on from there. A run that
                # ends just past it (weekdays after an excluded Monday) really closes there.
                goes_on = closed > latest and self._goes_on(closed, excluded)
                return Interval(opened, closed, interval.cut or goes_on)

    def _goes_on(self, at: datetime, excluded: Excluded) -> bool:
        """Whether a window interval holds or touches ``at`` (the run does not close there)."""
        return any(after is not None and after.open <= at
                   for after in (window.next(self.timezone, at, excluded) for window in self.windows))


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for iv in sorted(intervals, key=lambda iv: (iv.open, iv.close)):
        if merged and iv.open <= merged[-1].close:
            last = merged[-1]
            if iv.close > last.close or (iv.close == last.close and iv.cut):
                merged[-1] = Interval(last.open, iv.close, iv.cut)
        else:
            merged.append(iv)
    return merged


def _utc(at: datetime, name: str = "at") -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at!r}")
    return at.astimezone(UTC)


def _wall(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60))


def _midnight_after(zone: str, day: date) -> datetime:
    """The instant the local day after ``day`` begins."""
    return _place(zone, datetime.combine(day + timedelta(days=1), time()))


# --- firings ---------------------------------------------------------------------------
# Cron firings on the minute grid: croniter parses an expression once into the sets of
# minutes, hours, days and months it matches, and the next or previous firing is then a
# few set lookups a day, months skipped whole. Naive wall times keep croniter's own DST
# handling out of it; _place applies the DST rule.


@dataclass(frozen=True)
class _Grid:
    times: tuple[int, ...]  # minutes of the day that fire, ascending
    doms: Optional[frozenset[int]]  # None: any day of the month
    months: frozenset[int]
    dows: Optional[frozenset[int]]  # SUN=0; None: any day of the week

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = self.doms is None or day.day in self.doms
        dow = self.dows is None or (day.isoweekday() % 7) in self.dows
        # As cron (and croniter): with both day fields restricted, either one matching will do.
        if self.doms is not None and self.dows is not None:
            return dom or dow
        return dom and dow


def _field(values: list) -> Optional[frozenset[int]]:
    return None if values[0] == "*" else frozenset(int(v) for v in values)


@lru_cache(maxsize=1024)
def _grid(expr: str) -> _Grid:
    minutes, hours, doms, months, dows = croniter.expand(expr)[0][:5]
    minute_set = range(60) if minutes[0] == "*" else sorted(int(m) for m in minutes)
    hour_set = range(24) if hours[0] == "*" else sorted(int(h) for h in hours)
    return _Grid(tuple(h * 60 + m for h in hour_set for m in minute_set), _field(doms),
                 _field(months) or frozenset(range(1, 13)), _field(dows))


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _month_end_before(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


@lru_cache(maxsize=16384)
def _step(expr: str, wall: datetime, forward: bool) -> Optional[datetime]:
    """The firing strictly after (forward) or before `wall`, as naive wall time; None when
    there is none within _SEARCH_YEARS."""
    check()
    grid = _grid(expr)
    day = wall.date()
    minute = wall.hour * 60 + wall.minute
    whole = wall.second == 0 and wall.microsecond == 0
    limit = date(min(9999, max(1, day.year + (_SEARCH_YEARS if forward else -_SEARCH_YEARS))), 1, 1)
    first = True
    while (day <= limit) if forward else (day >= limit):
        if day.month not in grid.months:
            try:
                day = _next_month(day) if forward else _month_end_before(day)
            except (ValueError, OverflowError):
                return None
            first = False
            continue
        if grid.fires_on(day):
            times = grid.times
            if forward:
                i = bisect.bisect_right(times, minute) if first else 0
                if i < len(times):
                    return _wall(day, times[i])
            else:
                # Strictly before: the wall's own minute counts only if the wall is past it.
                i = (bisect.bisect_left(times, minute) if whole else bisect.bisect_right(times, minute)) \
                    if first else len(times)
                if i > 0:
                    return _wall(day, times[i - 1])
        first = False
        try:
            day = day + timedelta(days=1) if forward else day - timedelta(days=1)
        except OverflowError:
            return None
    return None


def _firings(zone: str, expr: str, start: datetime, end: datetime) -> list[datetime]:
    """Every firing in [start, end), placed, in time order."""
    wall: Optional[datetime] = _minute(zone, start) - timedelta(minutes=1) - _MARGIN
    limit = _minute(zone, end) + _MARGIN
    found = []
    while True:
        wall = _step(expr, wall, True)  # type: ignore[arg-type]
        if wall is None or wall > limit:
            return sorted(found)
        placed = _place(zone, wall)
        if start <= placed < end:
            found.append(placed)


def _place(zone: str, wall: datetime) -> datetime:
    """The UTC instant at which a firing at naive local `wall` happens (the DST rule)."""
    offset = _steady_offset(zone, wall.date())
    if offset is not None:
        return (wall - offset).replace(tzinfo=UTC)
    return _place_near_transition(zone, wall)


@lru_cache(maxsize=16384)
def _steady_offset(zone: str, day: date) -> Optional[timedelta]:
    """The zone's UTC offset on local ``day`` when no transition is near it; else None."""
    if _margin(zone, day):
        return None
    return pytz.timezone(zone).localize(datetime.combine(day, time(12))).utcoffset()


@lru_cache(maxsize=16384)
def _place_near_transition(zone: str, wall: datetime) -> datetime:
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


@lru_cache(maxsize=16384)
def _margin(zone: str, day: date) -> timedelta:
    """How far past the obvious a search around local ``day`` must look: _MARGIN if the
    zone's offset changes within two days of it (placement can reorder firings there),
    else nothing."""
    transitions = getattr(pytz.timezone(zone), "_utc_transition_times", None)
    if not transitions:
        return timedelta(0)
    low = datetime.combine(day - timedelta(days=2), time())
    i = bisect.bisect_right(transitions, low)
    near = i < len(transitions) and transitions[i] < low + timedelta(days=5)
    return _MARGIN if near else timedelta(0)


def _minute(zone: str, at: datetime) -> datetime:
    """The naive local wall time of `at`, floored to the minute."""
    return at.astimezone(pytz.timezone(zone)).replace(tzinfo=None, second=0, microsecond=0)


def _latest(zone: str, expr: str, at: datetime) -> Optional[datetime]:
    """The latest firing at or before `at`."""
    # Placement is monotonic except near a DST transition, so walk back from the margin
    # past `at` and stop only once the margin (of the best candidate's day) before it.
    start = _minute(zone, at)
    wall: Optional[datetime] = start + timedelta(minutes=1) + _margin(zone, start.date())
    best = best_wall = None
    while True:
        wall = _step(expr, wall, False)  # type: ignore[arg-type]
        if wall is None or (best_wall is not None and wall < best_wall - _margin(zone, best_wall.date())):
            return best
        placed = _place(zone, wall)
        if placed <= at and (best is None or placed > best):
            best, best_wall = placed, wall


def _earliest_after(zone: str, expr: str, after: datetime) -> Optional[datetime]:
    """The earliest firing strictly after `after`."""
    start = _minute(zone, after)
    wall: Optional[datetime] = start - timedelta(minutes=1) - _margin(zone, start.date())
    best = best_wall = None
    while True:
        wall = _step(expr, wall, True)  # type: ignore[arg-type]
        if wall is None or (best_wall is not None and wall > best_wall + _margin(zone, best_wall.date())):
            return best
        placed = _place(zone, wall)
        if placed > after and (best is None or placed < best):
            best, best_wall = placed, wall


# --- input -----------------------------------------------------------------------------
# Zones that are a fixed offset under a legacy or POSIX name: accepted by pytz, but a team
# typing one means a place, whose clocks change. UTC itself is fine.
_PLACES_FOR = {"EST": "America/New_York", "MST": "America/Denver (or America/Phoenix, no DST)",
               "HST": "Pacific/Honolulu"}


def _parse_zone(value: object, strict: bool) -> str:
    if not isinstance(value, str):
        raise ScheduleError("timezone", f"must be a string, got {type(value).__name__}")
    try:
        zone = pytz.timezone(value).zone  # pytz looks names up case-insensitively
    except (pytz.UnknownTimeZoneError, ValueError):
        places = _zones_named(value)
        hint = (f"did you mean {' or '.join(repr(z) for z in places)}?" if places
                else "use Area/Location, e.g. 'Europe/London'")
        raise ScheduleError("timezone", f"{value[:60]!r} is not an IANA time zone name; {hint}") from None
    if strict and _fixed_offset(zone):
        offset = pytz.timezone(zone).utcoffset(datetime(2026, 1, 1))
        hours = offset.total_seconds() / 3600  # type: ignore[union-attr]
        place = _PLACES_FOR.get(zone, "the place whose clocks you follow, e.g. 'America/New_York'")
        raise ScheduleError("timezone", (
            f"{value!r} is a fixed offset (UTC{hours:+g}) that never follows daylight saving; name "
            f"a place instead: {place}; or 'UTC'"
            + (" (note: POSIX 'Etc/GMT+N' zones are UTC-N)" if zone.startswith("Etc/GMT") else "")))
    return zone


def _zones_named(value: str) -> list[str]:
    """IANA zones whose last part is ``value`` ("Berlin", "new york", "TOKYO"), compared
    without case and with spaces for underscores: the place a team typed, not its zone.
    Current names first (Asia/Kolkata before Asia/Calcutta), at most three."""
    wanted = value.strip().replace(" ", "_").casefold()
    if not wanted or "/" in wanted:
        return []
    found = _zones_by_place().get(wanted, [])
    return found[:3]


@lru_cache(maxsize=1)
def _zones_by_place() -> dict[str, list[str]]:
    common = set(pytz.common_timezones)
    by_place: dict[str, list[str]] = {}
    for zone in sorted(pytz.all_timezones, key=lambda z: (z not in common, z)):
        if "/" in zone:
            by_place.setdefault(zone.rsplit("/", 1)[1].casefold(), []).append(zone)
    return by_place


@lru_cache(maxsize=64)
def _fixed_offset(zone: str) -> bool:
    """A legacy abbreviation (EST, MST, HST) or a POSIX ``Etc/GMT+N`` zone: a constant,
    non-zero offset with no daylight saving, whatever it looks like it stands for."""
    if not re.fullmatch(r"[A-Z]{3}|Etc/GMT[+-][0-9]{1,2}", zone):
        return False
    tz = pytz.timezone(zone)
    winter, summer = (tz.localize(datetime(2026, month, 1)).utcoffset() for month in (1, 7))
    return winter == summer != timedelta(0)


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
        return CronWindow(warm, stop, {"warm": warm, "stop": stop})
    text, days = _parse_days(raw.get("days", "*"), f"{where}.days")
    start = _parse_hhmm(raw["start"], f"{where}.start", end_of_day=False)
    stop = _parse_hhmm(raw["stop"], f"{where}.stop", end_of_day=True)
    if start == stop:
        raise ScheduleError(f"{where}.stop", f"must differ from start ({raw['start']}); for a window "
                                             "open all day use start 00:00 and stop 24:00")
    return DailyWindow(days, start, stop, {"days": text, "start": raw["start"], "stop": raw["stop"]})


def _parse_hhmm(value: object, where: str, end_of_day: bool) -> int:
    """Minutes since midnight; ``24:00`` (1440) only where the end of the day is allowed."""
    if end_of_day and value == END_OF_DAY:
        return MINUTES_PER_DAY
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        accepted = "HH:MM, 00:00 to 24:00" if end_of_day else "HH:MM, 00:00 to 23:59"
        raise ScheduleError(where, f"{str(value)[:40]!r} is not a time of day ({accepted})")
    return int(match[1]) * 60 + int(match[2])


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
                where, f"{part[:40]!r} is not a day name or range (SUN MON TUE WED THU FRI SAT, or '*')"
            )
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))  # FRI-MON wraps
        normal.append("-".join(ends))
    return ",".join(normal), frozenset(days)


def _parse_cron(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ScheduleError(where, f"must be a cron expression string, got {type(value).__name__}")
    fields = value.split()
    shown = value[:60]
    if len(fields) != 5:
        raise ScheduleError(
            where, f"{shown!r} must have exactly 5 fields (minute hour day-of-month month day-of-week)"
        )
    for name, text, names in zip(_CRON_FIELDS, fields, _CRON_NAMES):
        if not _CRON_CHARS.fullmatch(text):
            raise ScheduleError(
                where, f"{shown!r}: the {name} field {text[:20]!r} may use only digits, names and * / , -"
            )
        for word in re.findall(r"[A-Za-z]+", text):
            if word.upper() not in names:
                raise ScheduleError(where, f"{shown!r}: {word[:20]!r} is not allowed in the {name} field")
    expr = " ".join(fields)
    if not _cron_is_valid(expr):
        raise ScheduleError(where, f"{shown!r} is not a valid cron expression")
    return expr


@lru_cache(maxsize=1024)
def _cron_is_valid(expr: str) -> bool:
    try:
        return bool(croniter.is_valid(expr)) and bool(_grid(expr).times)
    except (ValueError, KeyError, TypeError):
        return False
