"""The schedule suggestion's core (chalicelib.suggest) over random hourly traffic.

The share it claims is checked against an independent reckoning: the windows' intervals
sampled at instants through each hour, in zones with daylight saving in both hemispheres,
half-hour and 45-minute offsets, over periods holding their DST changes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytz
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.schedule import Schedule
from chalicelib.suggest import ALWAYS_ON, MIN_REQUESTS, suggest

UTC = timezone.utc
HOUR = timedelta(hours=1)
ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Asia/Shanghai", "UTC"]
# Four weeks ending after the US (8 March) and European (29 March) spring changes, and after
# Sydney's autumn change (5 April), and four weeks around the autumn ones.
ENDS = [datetime(2026, 4, 13, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC)]
SAMPLES = [timedelta(minutes=m) for m in (0, 10, 20, 30, 40, 50)] + [HOUR - timedelta(seconds=1)]


def truly_covered(windows, zone, counts, start, end, excluded=None) -> int:
    """Requests whose whole hour the windows hold, sampled instant by instant."""
    intervals = Schedule.from_stored(zone, windows).intervals(start - timedelta(days=3), end + timedelta(days=3),
                                                              excluded)
    def open_at(t):
        return any(iv.open <= t < iv.close for iv in intervals)
    return sum(c for h, c in counts.items() if c > 0 and start <= h < end and all(open_at(h + s) for s in SAMPLES))


def pattern(zone: str, start: datetime, end: datetime, days: set[int], first: int, last: int, per_hour: int,
            noise: dict[int, int]) -> dict[datetime, int]:
    """``per_hour`` requests in each local hour first..last-1 on local weekdays ``days`` (Mon=1),
    plus ``noise`` (hour index -> requests) anywhere."""
    tz, counts, hour = pytz.timezone(zone), {}, start
    while hour < end:
        local = hour.astimezone(tz)
        if local.isoweekday() in days and first <= local.hour < last:
            counts[hour] = per_hour
        hour += HOUR
    for index, n in noise.items():
        at = start + index * HOUR
        counts[at] = counts.get(at, 0) + n
    return counts


@st.composite
def traffic(draw):
    zone, end = draw(st.sampled_from(ZONES)), draw(st.sampled_from(ENDS))
    weeks = draw(st.integers(1, 4))
    start = end - timedelta(weeks=weeks)
    hours = weeks * 7 * 24
    noise = draw(st.dictionaries(st.integers(0, hours - 1), st.integers(1, 40), max_size=60))
    if draw(st.booleans()):
        first = draw(st.integers(0, 22))
        counts = pattern(zone, start, end, set(draw(st.sets(st.integers(1, 7), min_size=1))), first,
                         draw(st.integers(first + 1, 24)), draw(st.integers(1, 30)), noise)
    else:
        counts = {start + i * HOUR: n for i, n in noise.items()}
    # Local dates no window opens on (holidays, exclude_dates), as the planner leaves them out.
    days_off = draw(st.sets(st.integers(-1, weeks * 7), max_size=4))
    return zone, start, end, counts, frozenset(start.date() + timedelta(days=d) for d in days_off)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(traffic(), st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0]) | st.floats(0.01, 1.0))
def test_the_share_claimed_is_never_more_than_the_windows_cover(case, coverage):
    zone, start, end, counts, days_off = case
    excluded = days_off.__contains__ if days_off else None
    got = suggest(counts, zone, start, end, coverage, excluded)
    total = sum(counts.values())
    assert got.requests == total
    tz = pytz.timezone(zone)
    off = sum(c for h, c in counts.items() if h.astimezone(tz).date() in days_off)
    if not got.enough_data:
        assert got.windows is None and got.covered_requests == 0
        return
    assert got.excluded_requests == off
    true = truly_covered(got.windows, zone, counts, start, end, excluded)
    assert got.covered_requests <= true
    # At least what was asked for, of the requests on days a window may open.
    assert Fraction(true) >= Fraction(coverage) * (total - off)
    assert got.covered_share is not None and got.covered_share <= true / total
    assert got.cold_requests == total - got.covered_requests
    # Windows a PUT takes as they are.
    Schedule.from_dict(zone, got.windows, at=end)


def test_office_hours_in_new_york_across_the_spring_change_and_no_weekend():
    end = datetime(2026, 3, 23, tzinfo=UTC)  # four weeks with 8 March inside
    start = end - timedelta(weeks=4)
    counts = pattern("America/New_York", start, end, {1, 2, 3, 4, 5}, 8, 19, 30, {})
    got = suggest(counts, "America/New_York", start, end, 0.99)
    assert got.windows == [{"days": "MON-FRI", "start": "08:00", "stop": "19:00"}]
    assert got.covered_requests == got.requests and got.cold_requests == 0


def test_a_nightly_batch_in_kolkata_and_office_hours_apart_on_weekdays():
    end = datetime(2026, 3, 23, tzinfo=UTC)
    start = end - timedelta(weeks=2)
    office = pattern("Asia/Kolkata", start, end, {1, 2, 3, 4, 5}, 9, 18, 10, {})
    batch = pattern("Asia/Kolkata", start, end, set(range(1, 8)), 2, 4, 50, {})
    counts = {h: office.get(h, 0) + batch.get(h, 0) for h in office.keys() | batch.keys()}
    got = suggest(counts, "Asia/Kolkata", start, end, 1.0)
    # UTC hours fall on :30 in Kolkata, so the windows do too.
    assert got.windows == [{"days": "MON-SUN", "start": "02:30", "stop": "04:30"},
                           {"days": "MON-FRI", "start": "09:30", "stop": "18:30"}]
    assert got.covered_requests == got.requests == 2 * (7 * 2 * 50 + 5 * 9 * 10)


def test_traffic_around_the_clock_suggests_always_on():
    end = datetime(2026, 3, 23, tzinfo=UTC)
    start = end - timedelta(weeks=2)
    counts = {start + i * HOUR: 5 + i % 3 for i in range(14 * 24)}
    got = suggest(counts, "Europe/London", start, end, 0.99)
    assert got.always_on and got.windows == ALWAYS_ON and got.covered_requests == got.requests


def test_too_little_data_says_so_and_suggests_nothing():
    end = datetime(2026, 3, 23, tzinfo=UTC)
    start = end - timedelta(weeks=4)
    nothing = suggest({}, "UTC", start, end, 0.99)
    assert not nothing.enough_data and nothing.windows is None and "no requests" in nothing.reason
    few = suggest({start + HOUR: MIN_REQUESTS - 1}, "UTC", start, end, 0.99)
    assert not few.enough_data and f"only {MIN_REQUESTS - 1} requests" in few.reason
    recent = suggest({end - 2 * 24 * HOUR + i * HOUR: 100 for i in range(10)}, "UTC", start, end, 0.99)
    assert not recent.enough_data and "less than a week" in recent.reason
