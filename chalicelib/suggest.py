"""Suggesting a schedule from a model's real traffic.

Pure: hourly request counts in, windows out; no AWS, no clock, no environment (reading
the counts from CloudWatch is chalicelib.traffic's, pricing them chalicelib.costs').

The counts are per UTC hour. Each hour is placed in the model's time zone as a cell:
its local weekday and its local hour of the day (at the minute the zone's offset puts UTC
hours on: :00, or :30 in Asia/Kolkata). Summed over the weeks read, the cells say when in
the week the model is used. The suggestion opens the busiest cells first, as few as cover
``coverage`` of the requests, which is the fewest open hours that can; each day's cells
become simple windows, and days with the same hours share them (``MON-FRI`` 08:00-19:00,
nothing on the weekend). Then the windows are checked the way keepwarm will follow them:
their intervals (the DST rule of chalicelib.schedule included) are laid over the hours
read, and a request counts as covered only when its whole hour lies inside an open
interval. If a DST change left the share short, the next busiest cell is added and the
windows are checked again; if nothing else is left, the answer is always-on.

The model's exclusions (``exclude_dates`` and public holidays) are laid over the counts
as the planner lays them: no window opens on an excluded local date, so the requests of
those days are not covered (they would meet a cold model) whatever the windows. The
cells are built from the other days' requests, and the share asked for is of those
(``reachable``); the share claimed is of all requests.

So the share claimed is the share the windows really cover on the counts read, and it
is at least the share asked for, of the requests on days a window may open, whenever
``enough_data`` is true.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Mapping, Optional

import pytz

from chalicelib.schedule import DAY_NAMES, MAX_WINDOWS, Excluded, Schedule

UTC = timezone.utc
HOUR = timedelta(hours=1)
# Fewer requests than this, or traffic seen over less than a week, shows no weekly pattern.
MIN_REQUESTS = 50
MIN_SPAN = timedelta(days=7)
# Windows leaving fewer hours than this a week closed are not worth their cold starts.
MIN_CLOSED_HOURS = 7
ALWAYS_ON = [{"days": "MON-SUN", "start": "00:00", "stop": "24:00"}]
# Monday first, as people write weeks (day numbers are SUN=0, as chalicelib.schedule's).
_WEEK = (1, 2, 3, 4, 5, 6, 0)

Cell = tuple[int, int]  # (local weekday SUN=0, local hour slot 0-23)


@dataclass(frozen=True)
class Suggestion:
    enough_data: bool
    reason: Optional[str]  # why there is no suggestion (enough_data false), or a note
    windows: Optional[list[dict[str, str]]]  # None without enough data
    requests: int  # requests read, keepwarm's own calls taken out
    covered_requests: int  # inside the windows, whole hours only
    always_on: bool = False
    excluded_requests: int = 0  # in hours of excluded local dates: no window covers them

    @property
    def cold_requests(self) -> int:
        return self.requests - self.covered_requests

    @property
    def covered_share(self) -> Optional[float]:
        """covered / requests, rounded down to 4 decimals: never more than the truth."""
        if not self.requests:
            return None
        return (Fraction(self.covered_requests) * 10_000 // self.requests) / 10_000


def suggest(counts: Mapping[datetime, int], zone: str, start: datetime, end: datetime,
            coverage: float, excluded: Excluded = None) -> Suggestion:
    """Windows covering at least ``coverage`` (0 < coverage <= 1) of the requests in
    ``counts`` (UTC hour start -> requests; hours outside [start, end) and counts of 0 or
    less are ignored) that fall on local dates ``excluded`` leaves alone, in ``zone``."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    hours = {h.astimezone(UTC): int(c) for h, c in counts.items() if c > 0 and start <= h < end}
    total = sum(hours.values())
    tz = pytz.timezone(zone)
    off = {h for h in hours if excluded is not None and excluded(h.astimezone(tz).date())}
    left_out = sum(hours[h] for h in off)
    if total == 0:
        return Suggestion(False, "no requests in the period read: nothing to keep warm for (a model "
                                 "nobody calls needs no windows)", None, 0, 0)
    if total < MIN_REQUESTS:
        return Suggestion(False, f"only {total} requests in the period read; at least {MIN_REQUESTS} "
                                 "are needed to see a pattern", None, total, 0)
    first = min(hours)
    if end - first < MIN_SPAN:
        return Suggestion(False, f"requests only since {first.isoformat().replace('+00:00', 'Z')}: "
                                 "less than a week of traffic shows no weekly pattern", None, total, 0)

    minute = _slot_minute(hours, tz)
    cells: dict[Cell, int] = {}
    for hour, count in hours.items():
        if hour not in off:
            cell = _cell(hour, tz, minute)
            cells[cell] = cells.get(cell, 0) + count
    if not cells:
        return Suggestion(False, "every request read fell on an excluded date (exclude_dates or a holiday), "
                                 "when no window opens", None, total, 0, excluded_requests=left_out)
    # Busiest first; ties in week order, so the answer does not depend on dict order.
    order = sorted(cells, key=lambda c: (-cells[c], _WEEK.index(c[0]), c[1]))
    target = Fraction(coverage) * (total - left_out)
    chosen: set[Cell] = set()
    taken = 0
    rest = iter(order)
    for cell in rest:
        chosen.add(cell)
        taken += cells[cell]
        if taken >= target:
            break
    while True:
        if 7 * 24 - len(chosen) < MIN_CLOSED_HOURS:
            break
        windows = _windows(chosen, minute)
        covered = covered_requests(windows, zone, hours, start, end, excluded)
        if covered >= target:
            return Suggestion(True, None, windows, total, covered, excluded_requests=left_out)
        cell = next(rest, None)  # a DST change moved some hours out: open the next busiest
        if cell is None:
            break
        chosen.add(cell)
    covered = covered_requests(ALWAYS_ON, zone, hours, start, end, excluded)
    return Suggestion(True, "requests come around the clock: keep it warm always", ALWAYS_ON, total,
                      covered, always_on=True, excluded_requests=left_out)


def always_on(found: Suggestion, reason: str, covered: int) -> Suggestion:
    """``found`` turned into keeping the model warm always, which covers ``covered`` of its
    requests (all but those of excluded dates)."""
    return Suggestion(True, reason, ALWAYS_ON, found.requests, covered, always_on=True,
                      excluded_requests=found.excluded_requests)


def covered_requests(windows: list[dict[str, Any]], zone: str, hours: Mapping[datetime, int],
                     start: datetime, end: datetime, excluded: Excluded = None) -> int:
    """The requests in ``hours`` whose whole UTC hour lies inside the windows' intervals
    (none opening on a local date ``excluded`` leaves out)."""
    intervals = Schedule.from_stored(zone, windows).intervals(start - timedelta(days=2), end + timedelta(days=2),
                                                              excluded)
    opens = [iv.open for iv in intervals]
    covered = 0
    for hour, count in hours.items():
        i = bisect.bisect_right(opens, hour) - 1
        if i >= 0 and intervals[i].close >= hour + HOUR:
            covered += count
    return covered


def _slot_minute(hours: Mapping[datetime, int], tz: Any) -> int:
    """The local minute most requests' hours start at (0, or 30 or 45 in some zones)."""
    weight: dict[int, int] = {}
    for hour, count in hours.items():
        m = hour.astimezone(tz).minute
        weight[m] = weight.get(m, 0) + count
    return max(sorted(weight), key=lambda m: weight[m])


def _cell(hour: datetime, tz: Any, minute: int) -> Cell:
    local = hour.astimezone(tz)
    # The slot (a day's slots start at HH:minute) holding the hour's local start.
    slot = local.replace(tzinfo=None) - timedelta(minutes=minute)
    return slot.isoweekday() % 7, slot.hour


def _runs(hours: list[int]) -> list[tuple[int, int]]:
    """Sorted hours -> (first, count) of each run of consecutive hours."""
    runs: list[tuple[int, int]] = []
    for h in hours:
        if runs and runs[-1][0] + runs[-1][1] == h:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((h, 1))
    return runs


def _windows(chosen: set[Cell], minute: int) -> list[dict[str, str]]:
    """The chosen cells as simple windows, one per run of hours with the days that have it
    (MON-SUN 02:00-04:00 and MON-FRI 09:00-18:00), at most MAX_WINDOWS (the shortest gaps
    in a day are opened until they fit)."""
    days = {d: sorted(h for dd, h in chosen if dd == d) for d in range(7)}
    while True:
        runs: dict[tuple[int, int], list[int]] = {}
        for d in _WEEK:
            for run in _runs(days[d]):
                runs.setdefault(run, []).append(d)
        if len(runs) <= MAX_WINDOWS:
            break
        # Open the shortest gap of any day: more hours warm, fewer windows.
        gaps = [(nxt[0] - (run[0] + run[1]), _WEEK.index(d), d, run[0] + run[1], nxt[0])
                for d in range(7) for run, nxt in zip(_runs(days[d]), _runs(days[d])[1:])]
        _, _, d, first, last = min(gaps)
        days[d] = sorted(set(days[d]) | set(range(first, last)))
    return [{"days": _days_text(group), **_span(first, count, minute)}
            for (first, count), group in sorted(runs.items())]


def _span(first: int, count: int, minute: int) -> dict[str, str]:
    if count >= 24:
        return {"start": "00:00", "stop": "24:00"}
    stop = first + count
    return {"start": f"{first:02d}:{minute:02d}",
            "stop": "24:00" if stop == 24 and minute == 0 else f"{stop % 24:02d}:{minute:02d}"}


def _days_text(days: list[int]) -> str:
    """Day numbers (SUN=0) as the schedule's day list, Monday first: MON-FRI, SAT-SUN, TUE,THU."""
    places = sorted(_WEEK.index(d) for d in days)
    parts = []
    for first, count in _runs(places):
        a, b = DAY_NAMES[_WEEK[first]], DAY_NAMES[_WEEK[first + count - 1]]
        parts.append(a if count == 1 else f"{a}-{b}")
    return ",".join(parts)
