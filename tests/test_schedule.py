"""Schedules: cron windows in a zone, placed on the UTC timeline by the DST rule.

Every expected instant is written out in UTC by hand from the zone's offsets, so a
change in how firings are placed shows up as a wrong instant, not a shifted test.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.records import ModelConfig
from chalicelib.schedule import DAY_NAMES, MAX_WINDOWS, MONTH_NAMES, Interval, Schedule, ScheduleError
from chalicelib.timeline import current_window, window_intervals

UTC = timezone.utc
# Reference instant for from_dict's "never opens" check: fixed, no clock.
AT = datetime(2026, 1, 1, tzinfo=UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def sched(zone: str, *windows: dict[str, Any], at: datetime = AT) -> Schedule:
    return Schedule.from_dict(zone, list(windows), at=at)


DAILY_9_18 = {"start": "09:00", "stop": "18:00"}


# --- DST: an ordinary 09:00-18:00 window on both sides of each change ---------------------

@pytest.mark.parametrize("zone, at, opens, closes", [
    # London: GMT (+0) until 2026-03-29 01:00, BST (+1) until 2026-10-25 02:00.
    ("Europe/London", utc(2026, 3, 27, 12), utc(2026, 3, 27, 9), utc(2026, 3, 27, 18)),
    ("Europe/London", utc(2026, 3, 29, 12), utc(2026, 3, 29, 8), utc(2026, 3, 29, 17)),
    ("Europe/London", utc(2026, 3, 30, 12), utc(2026, 3, 30, 8), utc(2026, 3, 30, 17)),
    ("Europe/London", utc(2026, 10, 23, 12), utc(2026, 10, 23, 8), utc(2026, 10, 23, 17)),
    ("Europe/London", utc(2026, 10, 25, 12), utc(2026, 10, 25, 9), utc(2026, 10, 25, 18)),
    ("Europe/London", utc(2026, 10, 26, 12), utc(2026, 10, 26, 9), utc(2026, 10, 26, 18)),
    # New York: EST (-5) until 2026-03-08 02:00, EDT (-4) until 2026-11-01 02:00.
    ("America/New_York", utc(2026, 3, 6, 15), utc(2026, 3, 6, 14), utc(2026, 3, 6, 23)),
    ("America/New_York", utc(2026, 3, 8, 15), utc(2026, 3, 8, 13), utc(2026, 3, 8, 22)),
    ("America/New_York", utc(2026, 3, 9, 15), utc(2026, 3, 9, 13), utc(2026, 3, 9, 22)),
    ("America/New_York", utc(2026, 10, 30, 15), utc(2026, 10, 30, 13), utc(2026, 10, 30, 22)),
    ("America/New_York", utc(2026, 11, 1, 15), utc(2026, 11, 1, 14), utc(2026, 11, 1, 23)),
    ("America/New_York", utc(2026, 11, 2, 15), utc(2026, 11, 2, 14), utc(2026, 11, 2, 23)),
    # Sydney: AEDT (+11) until 2026-04-05 03:00, AEST (+10) until 2026-10-04 02:00.
    ("Australia/Sydney", utc(2026, 4, 3, 2), utc(2026, 4, 2, 22), utc(2026, 4, 3, 7)),
    ("Australia/Sydney", utc(2026, 4, 5, 2), utc(2026, 4, 4, 23), utc(2026, 4, 5, 8)),
    ("Australia/Sydney", utc(2026, 4, 6, 2), utc(2026, 4, 5, 23), utc(2026, 4, 6, 8)),
    ("Australia/Sydney", utc(2026, 10, 2, 2), utc(2026, 10, 1, 23), utc(2026, 10, 2, 8)),
    ("Australia/Sydney", utc(2026, 10, 4, 2), utc(2026, 10, 3, 22), utc(2026, 10, 4, 7)),
    ("Australia/Sydney", utc(2026, 10, 5, 2), utc(2026, 10, 4, 22), utc(2026, 10, 5, 7)),
    # Kolkata is +05:30 all year.
    ("Asia/Kolkata", utc(2026, 3, 9, 6), utc(2026, 3, 9, 3, 30), utc(2026, 3, 9, 12, 30)),
    ("Asia/Kolkata", utc(2026, 11, 2, 6), utc(2026, 11, 2, 3, 30), utc(2026, 11, 2, 12, 30)),
    # Shanghai is +08:00 all year: nothing moves when the others change.
    ("Asia/Shanghai", utc(2026, 3, 9, 6), utc(2026, 3, 9, 1), utc(2026, 3, 9, 10)),
    ("Asia/Shanghai", utc(2026, 3, 30, 6), utc(2026, 3, 30, 1), utc(2026, 3, 30, 10)),
    ("Asia/Shanghai", utc(2026, 11, 2, 6), utc(2026, 11, 2, 1), utc(2026, 11, 2, 10)),
])
def test_day_window_either_side_of_dst_changes(zone: str, at: datetime, opens: datetime,
                                               closes: datetime) -> None:
    schedule = sched(zone, DAILY_9_18)
    assert schedule.next_interval(at) == Interval(opens, closes)
    assert schedule.is_open(at)
    assert not schedule.is_open(opens - timedelta(minutes=1))
    assert not schedule.is_open(closes)
    # From just after closing, the next day's window comes next.
    following = schedule.next_interval(closes)
    assert following is not None and opens + timedelta(hours=22) <= following.open <= opens + timedelta(hours=25)


def test_week_across_spring_forward_in_new_york() -> None:
    schedule = sched("America/New_York", {"days": "MON-FRI", **DAILY_9_18})
    assert schedule.intervals(utc(2026, 3, 5), utc(2026, 3, 12)) == [
        Interval(utc(2026, 3, 5, 14), utc(2026, 3, 5, 23)),
        Interval(utc(2026, 3, 6, 14), utc(2026, 3, 6, 23)),
        Interval(utc(2026, 3, 9, 13), utc(2026, 3, 9, 22)),
        Interval(utc(2026, 3, 10, 13), utc(2026, 3, 10, 22)),
        Interval(utc(2026, 3, 11, 13), utc(2026, 3, 11, 22)),
    ]


# --- DST: window edges inside the spring-forward gap move forward by the gap ---------------

@pytest.mark.parametrize("zone, window, start, end, expected", [
    # London 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 happens at 02:30 BST = 01:30Z.
    ("Europe/London", {"start": "01:30", "stop": "04:00"}, utc(2026, 3, 27, 12), utc(2026, 3, 29, 12), [
        Interval(utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 4)),
        Interval(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3)),
    ]),
    ("Europe/London", {"start": "00:00", "stop": "01:30"}, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12), [
        Interval(utc(2026, 3, 29, 0), utc(2026, 3, 29, 1, 30)),
        Interval(utc(2026, 3, 29, 23), utc(2026, 3, 30, 0, 30)),
    ]),
    # New York 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 happens at 03:30 EDT = 07:30Z.
    ("America/New_York", {"start": "02:30", "stop": "05:00"}, utc(2026, 3, 7), utc(2026, 3, 8, 12), [
        Interval(utc(2026, 3, 7, 7, 30), utc(2026, 3, 7, 10)),
        Interval(utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 9)),
    ]),
    ("America/New_York", {"start": "01:00", "stop": "02:30"}, utc(2026, 3, 8), utc(2026, 3, 8, 12), [
        Interval(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 30)),
    ]),
    # Sydney 2026-10-04 02:00 AEST -> 03:00 AEDT: 02:30 happens at 03:30 AEDT = 16:30Z the day before.
    ("Australia/Sydney", {"start": "02:30", "stop": "05:00"}, utc(2026, 10, 2, 12), utc(2026, 10, 4), [
        Interval(utc(2026, 10, 2, 16, 30), utc(2026, 10, 2, 19)),
        Interval(utc(2026, 10, 3, 16, 30), utc(2026, 10, 3, 18)),
    ]),
])
def test_edge_inside_spring_forward_gap(zone: str, window: dict[str, Any], start: datetime,
                                        end: datetime, expected: list[Interval]) -> None:
    assert sched(zone, window).intervals(start, end) == expected


def test_a_day_whose_start_the_gap_rule_puts_after_its_stop_has_no_window() -> None:
    # 02:30 (in the gap) lands at 07:30Z, after 03:15 EDT = 07:15Z: that day's interval is
    # empty, so the window skips the day rather than staying open until the next day's stop.
    schedule = sched("America/New_York", {"start": "02:30", "stop": "03:15"})
    assert schedule.next_interval(utc(2026, 3, 8, 7)) == Interval(utc(2026, 3, 9, 6, 30), utc(2026, 3, 9, 7, 15))
    assert not schedule.is_open(utc(2026, 3, 8, 7, 20))
    assert not schedule.is_open(utc(2026, 3, 8, 12))


def test_gap_start_landing_on_the_stop_is_a_tie() -> None:
    # 02:30 lands at 03:30 EDT = 07:30Z, the very instant of the 03:30 stop: closed all that day.
    schedule = sched("America/New_York", {"start": "02:30", "stop": "03:30"})
    assert schedule.intervals(utc(2026, 3, 7), utc(2026, 3, 10)) == [
        Interval(utc(2026, 3, 7, 7, 30), utc(2026, 3, 7, 8, 30)),
        Interval(utc(2026, 3, 9, 6, 30), utc(2026, 3, 9, 7, 30)),
    ]


def test_firings_of_one_cron_reordered_by_a_half_hour_gap() -> None:
    # Lord Howe 2026-10-04 02:00 (+10:30) -> 02:30 (+11): 02:10 lands at 02:40 = 15:40Z,
    # after 02:35 = 15:35Z, so croniter's order is not time order.
    opens = sched("Australia/Lord_Howe", {"warm": "10,35 2 * * *", "stop": "0 3 * * *"})
    assert opens.next_interval(utc(2026, 10, 3, 15)) == Interval(utc(2026, 10, 3, 15, 35), utc(2026, 10, 3, 16))
    assert opens.next_interval(utc(2026, 10, 2, 15)) == Interval(utc(2026, 10, 2, 15, 40), utc(2026, 10, 2, 16, 30))
    # Open since 02:37 the day before (16:07Z), closed by the earlier-placed 02:35, reopened at
    # 02:37 = 15:37Z and closed again by 02:10 = 15:40Z.
    closes = sched("Australia/Lord_Howe", {"warm": "37 2 * * *", "stop": "10,35 2 * * *"})
    assert closes.next_interval(utc(2026, 10, 3, 15)) == Interval(utc(2026, 10, 2, 16, 7), utc(2026, 10, 3, 15, 35))
    assert not closes.is_open(utc(2026, 10, 3, 15, 36))
    assert closes.is_open(utc(2026, 10, 3, 15, 38))
    assert not closes.is_open(utc(2026, 10, 3, 15, 45))
    assert closes.next_interval(utc(2026, 10, 3, 15, 36)) == Interval(utc(2026, 10, 3, 15, 37), utc(2026, 10, 3, 15, 40))


# --- DST: window edges inside the repeated hour fire once, at the first occurrence ---------

@pytest.mark.parametrize("zone, window, start, end, expected", [
    # London 2026-10-25: 01:00-02:00 runs as BST (00:xxZ) and again as GMT (01:xxZ).
    ("Europe/London", {"start": "01:15", "stop": "01:45"}, utc(2026, 10, 24, 22), utc(2026, 10, 25, 6), [
        Interval(utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45)),
    ]),
    ("Europe/London", {"start": "01:30", "stop": "03:00"}, utc(2026, 10, 24, 22), utc(2026, 10, 25, 6), [
        Interval(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3)),
    ]),
    ("Europe/London", {"start": "00:30", "stop": "01:30"}, utc(2026, 10, 24, 22), utc(2026, 10, 25, 6), [
        Interval(utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30)),
    ]),
    # New York 2026-11-01: 01:00-02:00 runs as EDT (05:xxZ) and again as EST (06:xxZ).
    ("America/New_York", {"start": "01:15", "stop": "01:45"}, utc(2026, 11, 1), utc(2026, 11, 1, 12), [
        Interval(utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 5, 45)),
    ]),
    ("America/New_York", {"start": "22:00", "stop": "01:30"}, utc(2026, 11, 1, 4), utc(2026, 11, 1, 12), [
        Interval(utc(2026, 11, 1, 2), utc(2026, 11, 1, 5, 30)),
    ]),
    # Sydney 2026-04-05: 02:00-03:00 runs as AEDT (15:xxZ) and again as AEST (16:xxZ) on the 4th.
    ("Australia/Sydney", {"start": "02:15", "stop": "02:45"}, utc(2026, 4, 4, 12), utc(2026, 4, 4, 20), [
        Interval(utc(2026, 4, 4, 15, 15), utc(2026, 4, 4, 15, 45)),
    ]),
])
def test_edge_inside_repeated_hour(zone: str, window: dict[str, Any], start: datetime,
                                   end: datetime, expected: list[Interval]) -> None:
    assert sched(zone, window).intervals(start, end) == expected


def test_two_hour_repeat_is_searched_past_the_hour() -> None:
    # Troll falls back two hours on 2026-10-25, 03:00 (+02) -> 01:00 (+00). At 01:10Z the
    # wall clock reads 01:10 for the second time, and 02:30 has already fired (00:30Z).
    schedule = sched("Antarctica/Troll", {"start": "02:30", "stop": "04:00"})
    assert schedule.is_open(utc(2026, 10, 25, 1, 10))
    assert schedule.next_interval(utc(2026, 10, 25, 1, 10)) == Interval(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 4))


@pytest.mark.parametrize("zone, first_pass, second_pass", [
    ("Europe/London", utc(2026, 10, 25, 0, 20), utc(2026, 10, 25, 1, 20)),
    ("America/New_York", utc(2026, 11, 1, 5, 20), utc(2026, 11, 1, 6, 20)),
    ("Australia/Sydney", utc(2026, 4, 4, 15, 20), utc(2026, 4, 4, 16, 20)),
])
def test_repeated_hour_window_is_open_only_on_first_pass(zone: str, first_pass: datetime,
                                                        second_pass: datetime) -> None:
    hour = {"01:15": "01:45"} if zone != "Australia/Sydney" else {"02:15": "02:45"}
    (start, stop), = hour.items()
    schedule = sched(zone, {"start": start, "stop": stop})
    assert schedule.is_open(first_pass)
    assert not schedule.is_open(second_pass)
    # The next opening after the first pass is the following day's, not the repeat.
    following = schedule.next_interval(first_pass + timedelta(minutes=30))
    assert following is not None and following.open > second_pass + timedelta(hours=20)


# --- overnight windows ---------------------------------------------------------------------

def test_simple_windows_keep_their_days_and_minutes() -> None:
    window, = sched("UTC", {"days": "MON-FRI", "start": "22:00", "stop": "06:00"}).windows
    assert (window.days, window.start, window.stop) == (frozenset({1, 2, 3, 4, 5}), 22 * 60, 6 * 60)
    day, = sched("UTC", {"days": "mon-fri", "start": "09:30", "stop": "18:00"}).windows
    assert (day.days, day.start, day.stop) == (frozenset({1, 2, 3, 4, 5}), 9 * 60 + 30, 18 * 60)
    assert day.spec == {"days": "MON-FRI", "start": "09:30", "stop": "18:00"}


def test_overnight_weekdays_over_a_week() -> None:
    schedule = sched("UTC", {"days": "MON-FRI", "start": "22:00", "stop": "06:00"})
    # 2026-05-04 is a Monday.
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 5, 11)) == [
        Interval(utc(2026, 5, 4, 22), utc(2026, 5, 5, 6)),
        Interval(utc(2026, 5, 5, 22), utc(2026, 5, 6, 6)),
        Interval(utc(2026, 5, 6, 22), utc(2026, 5, 7, 6)),
        Interval(utc(2026, 5, 7, 22), utc(2026, 5, 8, 6)),
        Interval(utc(2026, 5, 8, 22), utc(2026, 5, 9, 6)),
    ]


@pytest.mark.parametrize("at, is_open, expected", [
    (utc(2026, 5, 4, 3), False, Interval(utc(2026, 5, 4, 22), utc(2026, 5, 5, 6))),  # Mon early: no Sunday night
    (utc(2026, 5, 5, 2), True, Interval(utc(2026, 5, 4, 22), utc(2026, 5, 5, 6))),
    (utc(2026, 5, 9, 5, 59), True, Interval(utc(2026, 5, 8, 22), utc(2026, 5, 9, 6))),  # Sat morning
    (utc(2026, 5, 9, 6), False, Interval(utc(2026, 5, 11, 22), utc(2026, 5, 12, 6))),  # weekend gap
    (utc(2026, 5, 9, 23), False, Interval(utc(2026, 5, 11, 22), utc(2026, 5, 12, 6))),
    (utc(2026, 5, 10, 23), False, Interval(utc(2026, 5, 11, 22), utc(2026, 5, 12, 6))),
])
def test_overnight_weekdays_around_the_weekend(at: datetime, is_open: bool, expected: Interval) -> None:
    schedule = sched("UTC", {"days": "MON-FRI", "start": "22:00", "stop": "06:00"})
    assert schedule.is_open(at) is is_open
    assert schedule.next_interval(at) == expected


@pytest.mark.parametrize("at, is_open", [
    (utc(2026, 5, 8, 23), True),   # Fri night
    (utc(2026, 5, 9, 23), True),   # Sat night
    (utc(2026, 5, 10, 23), True),  # Sun night
    (utc(2026, 5, 12, 2), True),   # Mon night, closing Tue 06:00
    (utc(2026, 5, 12, 23), False),  # Tue night
    (utc(2026, 5, 14, 23), False),  # Thu night
])
def test_day_range_wraps_round_the_week(at: datetime, is_open: bool) -> None:
    schedule = sched("UTC", {"days": "fri-mon", "start": "22:00", "stop": "06:00"})
    assert schedule.is_open(at) is is_open


def test_overnight_across_london_spring_forward() -> None:
    schedule = sched("Europe/London", {"start": "22:00", "stop": "06:00"})
    # Sat 22:00 GMT to Sun 06:00 BST is seven hours.
    assert schedule.next_interval(utc(2026, 3, 28, 23)) == Interval(utc(2026, 3, 28, 22), utc(2026, 3, 29, 5))


# --- several windows, merging --------------------------------------------------------------

def test_several_windows_per_day() -> None:
    schedule = sched("Asia/Kolkata", {"start": "06:00", "stop": "08:00"}, {"start": "12:00", "stop": "14:00"})
    assert schedule.intervals(utc(2026, 5, 3, 18, 30), utc(2026, 5, 4, 18, 30)) == [
        Interval(utc(2026, 5, 4, 0, 30), utc(2026, 5, 4, 2, 30)),
        Interval(utc(2026, 5, 4, 6, 30), utc(2026, 5, 4, 8, 30)),
    ]
    assert not schedule.is_open(utc(2026, 5, 4, 4))
    assert schedule.next_interval(utc(2026, 5, 4, 4)) == Interval(utc(2026, 5, 4, 6, 30), utc(2026, 5, 4, 8, 30))


@pytest.mark.parametrize("windows, at, expected", [
    # overlapping
    ([("09:00", "13:00"), ("12:00", "18:00")], utc(2026, 5, 4, 10), (9, 18)),
    ([("09:00", "13:00"), ("12:00", "18:00")], utc(2026, 5, 4, 15), (9, 18)),
    ([("09:00", "13:00"), ("12:00", "18:00")], utc(2026, 5, 4, 7), (9, 18)),
    # touching
    ([("09:00", "12:00"), ("12:00", "15:00")], utc(2026, 5, 4, 11), (9, 15)),
    ([("09:00", "12:00"), ("12:00", "15:00")], utc(2026, 5, 4, 12), (9, 15)),
    ([("12:00", "15:00"), ("09:00", "12:00")], utc(2026, 5, 4, 14), (9, 15)),
    # a chain: the interval holding `at` reaches back through another window
    ([("09:00", "12:00"), ("11:00", "15:00"), ("14:00", "18:00")], utc(2026, 5, 4, 13), (9, 18)),
    # one window inside another
    ([("09:00", "18:00"), ("10:00", "11:00")], utc(2026, 5, 4, 10, 30), (9, 18)),
])
def test_overlapping_and_touching_windows_merge(windows: list[tuple[str, str]], at: datetime,
                                                expected: tuple[int, int]) -> None:
    schedule = sched("UTC", *({"start": a, "stop": b} for a, b in windows))
    merged = Interval(utc(2026, 5, 4, expected[0]), utc(2026, 5, 4, expected[1]))
    assert schedule.next_interval(at) == merged
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 5, 5)) == [merged]


def test_touching_windows_merge_in_the_middle_of_a_range() -> None:
    schedule = sched("UTC", {"start": "06:00", "stop": "08:00"}, {"start": "09:00", "stop": "12:00"},
                     {"start": "12:00", "stop": "15:00"}, {"start": "16:00", "stop": "18:00"})
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 5, 5)) == [
        Interval(utc(2026, 5, 4, 6), utc(2026, 5, 4, 8)),
        Interval(utc(2026, 5, 4, 9), utc(2026, 5, 4, 15)),
        Interval(utc(2026, 5, 4, 16), utc(2026, 5, 4, 18)),
    ]


def test_gap_between_windows_is_not_merged() -> None:
    schedule = sched("UTC", {"start": "09:00", "stop": "12:00"}, {"start": "12:01", "stop": "15:00"})
    assert schedule.next_interval(utc(2026, 5, 4, 11)) == Interval(utc(2026, 5, 4, 9), utc(2026, 5, 4, 12))
    assert not schedule.is_open(utc(2026, 5, 4, 12, 0, 30))


def test_intervals_are_not_clipped_to_the_range() -> None:
    one = sched("UTC", DAILY_9_18)
    assert one.intervals(utc(2026, 5, 4, 10), utc(2026, 5, 4, 11)) == [Interval(utc(2026, 5, 4, 9), utc(2026, 5, 4, 18))]
    # Only the 09:00-12:00 window overlaps the range; the windows it touches still merge in.
    three = sched("UTC", {"start": "07:00", "stop": "09:00"}, {"start": "09:00", "stop": "12:00"},
                  {"start": "12:00", "stop": "13:00"})
    assert three.intervals(utc(2026, 5, 4, 10), utc(2026, 5, 4, 11)) == [Interval(utc(2026, 5, 4, 7), utc(2026, 5, 4, 13))]
    # Both ends of the range reach out through touching windows.
    four = sched("UTC", {"start": "07:00", "stop": "09:00"}, {"start": "09:00", "stop": "12:00"},
                 {"start": "16:00", "stop": "17:00"}, {"start": "17:00", "stop": "19:00"})
    assert four.intervals(utc(2026, 5, 4, 10), utc(2026, 5, 4, 16, 30)) == [
        Interval(utc(2026, 5, 4, 7), utc(2026, 5, 4, 12)),
        Interval(utc(2026, 5, 4, 16), utc(2026, 5, 4, 19)),
    ]
    # An interval opening exactly at the end of the range does not overlap it.
    assert one.intervals(utc(2026, 5, 4, 18), utc(2026, 5, 5, 9)) == []
    assert one.intervals(utc(2026, 5, 4, 17, 59), utc(2026, 5, 4, 17, 59)) == []


def test_windows_chaining_for_ever_report_a_bounded_interval() -> None:
    schedule = sched("UTC", {"start": "00:00", "stop": "12:00"}, {"start": "12:00", "stop": "00:00"})
    interval = schedule.next_interval(utc(2026, 5, 4, 3))
    assert interval is not None and schedule.is_open(utc(2026, 5, 4, 3)) and interval.cut
    assert interval.open <= utc(2026, 5, 2) and interval.close >= utc(2026, 5, 6)
    assert interval.close <= utc(2026, 5, 4) + timedelta(days=4)


# --- cron pair form ------------------------------------------------------------------------

def test_cron_pair_form() -> None:
    schedule = sched("Europe/London", {"warm": "0 9 * * MON-FRI", "stop": "30 17 * * MON-FRI"})
    assert schedule.intervals(utc(2026, 5, 8), utc(2026, 5, 12)) == [
        Interval(utc(2026, 5, 8, 8), utc(2026, 5, 8, 16, 30)),
        Interval(utc(2026, 5, 11, 8), utc(2026, 5, 11, 16, 30)),
    ]


def test_later_warms_keep_it_open_from_the_first() -> None:
    schedule = sched("UTC", {"warm": "0 8,10 * * *", "stop": "0 12 * * *"})
    assert schedule.next_interval(utc(2026, 5, 4, 11)) == Interval(utc(2026, 5, 4, 8), utc(2026, 5, 4, 12))
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 5, 5)) == [Interval(utc(2026, 5, 4, 8), utc(2026, 5, 4, 12))]


def test_warm_and_stop_at_the_same_instant_is_closed() -> None:
    schedule = sched("UTC", {"warm": "0 9,18 * * *", "stop": "0 18 * * *"})
    assert schedule.is_open(utc(2026, 5, 4, 17, 59))
    assert not schedule.is_open(utc(2026, 5, 4, 18))
    assert not schedule.is_open(utc(2026, 5, 4, 18, 30))
    assert schedule.next_interval(utc(2026, 5, 4, 18)) == Interval(utc(2026, 5, 5, 9), utc(2026, 5, 5, 18))


def test_warms_tied_with_stops_are_skipped() -> None:
    # Warm every day at 09:00, stop at 09:00 on weekdays: only the weekend warms open it,
    # and it stays open from Saturday until Monday's tie.
    schedule = sched("UTC", {"warm": "0 9 * * *", "stop": "0 9 * * MON-FRI"})
    weekend = Interval(utc(2026, 5, 9, 9), utc(2026, 5, 11, 9))
    assert schedule.next_interval(utc(2026, 5, 4, 10)) == weekend
    assert schedule.next_interval(utc(2026, 5, 10, 20)) == weekend
    assert not schedule.is_open(utc(2026, 5, 6, 9, 30))


# --- edges and next_interval ---------------------------------------------------------------

@pytest.mark.parametrize("at, is_open", [
    (utc(2026, 5, 4, 8, 59, 59, 999999), False),
    (utc(2026, 5, 4, 9), True),
    (utc(2026, 5, 4, 17, 59, 59, 999999), True),
    (utc(2026, 5, 4, 18), False),
])
def test_is_open_at_exact_edges(at: datetime, is_open: bool) -> None:
    assert sched("UTC", DAILY_9_18).is_open(at) is is_open


@pytest.mark.parametrize("at, expected", [
    (utc(2026, 5, 4, 9), Interval(utc(2026, 5, 4, 9), utc(2026, 5, 4, 18))),  # opens at `at`
    (utc(2026, 5, 4, 12), Interval(utc(2026, 5, 4, 9), utc(2026, 5, 4, 18))),  # open
    (utc(2026, 5, 4, 18), Interval(utc(2026, 5, 5, 9), utc(2026, 5, 5, 18))),  # just closed
    (utc(2026, 5, 4, 8), Interval(utc(2026, 5, 4, 9), utc(2026, 5, 4, 18))),  # closed
    (utc(2026, 5, 8, 20), Interval(utc(2026, 5, 11, 9), utc(2026, 5, 11, 18))),  # Friday night
    (utc(2026, 5, 10, 12), Interval(utc(2026, 5, 11, 9), utc(2026, 5, 11, 18))),  # Sunday
])
def test_next_interval_weekdays(at: datetime, expected: Interval) -> None:
    schedule = sched("UTC", {"days": "MON-FRI", **DAILY_9_18})
    assert schedule.next_interval(at) == expected


def test_next_interval_accepts_any_aware_zone_and_returns_utc() -> None:
    schedule = sched("Asia/Shanghai", DAILY_9_18)
    at = datetime(2026, 5, 4, 12, tzinfo=timezone(timedelta(hours=8)))
    interval = schedule.next_interval(at)
    assert interval == Interval(utc(2026, 5, 4, 1), utc(2026, 5, 4, 10))
    assert interval.open.tzinfo is UTC and interval.close.tzinfo is UTC


def test_nothing_opens_within_400_days() -> None:
    leap_day = {"warm": "0 9 29 2 *", "stop": "0 18 29 2 *"}
    schedule = sched("UTC", leap_day, at=utc(2027, 6, 1))
    assert schedule.next_interval(utc(2027, 6, 1)) == Interval(utc(2028, 2, 29, 9), utc(2028, 2, 29, 18))
    assert schedule.next_interval(utc(2026, 3, 1)) is None
    assert schedule.intervals(utc(2026, 3, 1), utc(2026, 6, 1)) == []
    with pytest.raises(ScheduleError, match="never opens"):
        sched("UTC", leap_day, at=utc(2026, 3, 1))
    # A window open at `at` counts, however long until it opens again.
    until_six = {"warm": "0 9 29 2 *", "stop": "0 18 * * *"}
    assert sched("UTC", until_six, at=utc(2028, 2, 29, 12)).is_open(utc(2028, 2, 29, 12))
    with pytest.raises(ScheduleError, match="never opens"):
        sched("UTC", until_six, at=utc(2028, 2, 29, 18))


# --- round trip ----------------------------------------------------------------------------

def test_round_trip() -> None:
    schedule = Schedule.from_dict("europe/london", [
        {"days": "fri-mon", "start": "22:00", "stop": "06:00"},
        {"start": "09:00", "stop": "18:00"},
        {"days": " sat , sun ", "start": "10:00", "stop": "12:00"},
        {"warm": "0  9 * * MON-FRI", "stop": "30 17 * * mon-fri"},
    ], at=AT)
    assert schedule.to_dict() == {
        "timezone": "Europe/London",
        "windows": [
            {"days": "FRI-MON", "start": "22:00", "stop": "06:00"},
            {"days": "*", "start": "09:00", "stop": "18:00"},
            {"days": "SAT,SUN", "start": "10:00", "stop": "12:00"},
            {"warm": "0 9 * * MON-FRI", "stop": "30 17 * * mon-fri"},
        ],
    }
    again = Schedule.from_dict(**schedule.to_dict(), at=AT)
    assert again == schedule
    assert again.to_dict() == schedule.to_dict()
    assert hash(again) == hash(schedule)


def test_to_dict_is_a_copy() -> None:
    schedule = sched("UTC", DAILY_9_18)
    schedule.to_dict()["windows"][0]["start"] = "10:00"
    assert schedule.to_dict()["windows"][0]["start"] == "09:00"


# --- validation ----------------------------------------------------------------------------

OK = {"start": "09:00", "stop": "18:00"}


@pytest.mark.parametrize("timezone_, windows, field, fragment", [
    ("Mars/Olympus_Mons", [OK], "timezone", "not an IANA time zone"),
    ("", [OK], "timezone", "not an IANA time zone"),
    (5, [OK], "timezone", "must be a string"),
    (None, [OK], "timezone", "must be a string"),
    ("UTC", [], "windows", "at least one"),
    ("UTC", OK, "windows", "must be a list"),
    ("UTC", None, "windows", "must be a list"),
    ("UTC", [OK] * (MAX_WINDOWS + 1), "windows", "at most 20"),
    ("UTC", ["09:00-18:00"], "windows[0]", "must be an object"),
    ("UTC", [OK, None], "windows[1]", "must be an object"),
    ("UTC", [OK, {"start": "9:00", "stop": "18:00"}], "windows[1].start", "'9:00' is not a time of day (HH:MM, 00:00 to 23:59)"),
    ("UTC", [{"start": "24:00", "stop": "18:00"}], "windows[0].start", "is not a time of day"),
    ("UTC", [{"start": "09:60", "stop": "18:00"}], "windows[0].start", "is not a time of day"),
    ("UTC", [{"start": "0900", "stop": "18:00"}], "windows[0].start", "is not a time of day"),
    ("UTC", [{"start": "09:00\n", "stop": "18:00"}], "windows[0].start", "is not a time of day"),
    ("UTC", [{"start": 900, "stop": "18:00"}], "windows[0].start", "is not a time of day"),
    ("UTC", [{"start": "09:00", "stop": "24:01"}], "windows[0].stop", "(HH:MM, 00:00 to 24:00)"),
    ("UTC", [{"start": "00:00", "stop": "00:00"}], "windows[0].stop", "start 00:00 and stop 24:00"),
    ("UTC", [{"start": "09:00", "stop": "0 18 * * *"}], "windows[0].stop", "is not a time of day"),
    ("UTC", [{"start": "09:00", "stop": "09:00"}], "windows[0].stop", "must differ from start"),
    ("UTC", [{"days": "MON-FUN", **OK}], "windows[0].days", "'MON-FUN' is not a day name"),
    ("UTC", [{"days": "MON-FRI-SAT", **OK}], "windows[0].days", "not a day name or range"),
    ("UTC", [{"days": "1-5", **OK}], "windows[0].days", "not a day name or range"),
    ("UTC", [{"days": "MON,", **OK}], "windows[0].days", "not a day name or range"),
    ("UTC", [{"days": "", **OK}], "windows[0].days", "not a day name or range"),
    ("UTC", [{"days": ["MON"], **OK}], "windows[0].days", "must be a string"),
    ("UTC", [{"warm": "0 0 9 * * *", "stop": "0 18 * * *"}], "windows[0].warm", "exactly 5 fields"),
    ("UTC", [{"warm": "@daily", "stop": "0 18 * * *"}], "windows[0].warm", "exactly 5 fields"),
    ("UTC", [{"warm": "H 9 * * *", "stop": "0 18 * * *"}], "windows[0].warm", "'H' is not allowed in the minute field"),
    ("UTC", [{"warm": "0 9 L * *", "stop": "0 18 * * *"}], "windows[0].warm", "'L' is not allowed"),
    ("UTC", [{"warm": "0 9 * * 5L", "stop": "0 18 * * *"}], "windows[0].warm", "'L' is not allowed"),
    ("UTC", [{"warm": "0 9 * * R", "stop": "0 18 * * *"}], "windows[0].warm", "'R' is not allowed"),
    ("UTC", [{"warm": "0 9 * * 1#2", "stop": "0 18 * * *"}], "windows[0].warm", "may use only"),
    ("UTC", [{"warm": "0 9 ? * *", "stop": "0 18 * * *"}], "windows[0].warm", "may use only"),
    ("UTC", [{"warm": "61 9 * * *", "stop": "0 18 * * *"}], "windows[0].warm", "not a valid cron expression"),
    ("UTC", [{"warm": "0 9 * * *", "stop": "0 18 * * * 2026"}], "windows[0].stop", "exactly 5 fields"),
    ("UTC", [{"warm": 9, "stop": "0 18 * * *"}], "windows[0].warm", "must be a cron expression string"),
    ("UTC", [OK, {"warm": "0 0 30 2 *", "stop": "0 1 * * *"}], "windows[1]", "never opens"),
    ("UTC", [{"warm": "0 9 * * *", "stop": "0 9 * * *"}], "windows[0]", "never opens"),
    ("UTC", [{"warm": "0 9 * * *", "stop": "0 9 * * 0-6"}], "windows[0]", "never opens"),
    ("UTC", [{"warm": "0 9 * * *", "stop": "0 0 31 2 *"}], "windows[0]", "never opens"),
    ("UTC", [{"warm": "0 9 * * *", "stop": "0 18 29 2 *"}], "windows[0]", "never opens"),  # closes in 2028
    ("UTC", [{"warm": "0 9 * * *", "start": "09:00", "stop": "0 18 * * *"}], "windows[0]", "mixes"),
    ("UTC", [{"warm": "0 9 * * *", "days": "MON", "stop": "0 18 * * *"}], "windows[0]", "mixes"),
    ("UTC", [{**OK, "tz": "UTC"}], "windows[0]", "unknown key(s) 'tz'"),
    ("UTC", [{"stop": "18:00"}], "windows[0].start", "is required"),
    ("UTC", [{}], "windows[0].start", "is required"),
    ("UTC", [{"warm": "0 9 * * *"}], "windows[0].stop", "is required"),
])
def test_bad_input_names_the_field(timezone_: object, windows: object, field: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_dict(timezone_, windows, at=AT)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_error_message_format() -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_dict("UTC", [OK, {"start": "25:00", "stop": "18:00"}], at=AT)
    assert str(caught.value) == "windows[1].start: '25:00' is not a time of day (HH:MM, 00:00 to 23:59)"
    assert caught.value.field == "windows[1].start"


def test_twenty_windows_are_allowed() -> None:
    windows = [{"start": f"{h:02d}:00", "stop": f"{h:02d}:30"} for h in range(MAX_WINDOWS)]
    assert len(sched("UTC", *windows).windows) == MAX_WINDOWS


def test_zone_is_case_insensitive_and_stored_canonically() -> None:
    assert sched("america/new_york", OK).timezone == "America/New_York"
    assert sched("utc", OK).timezone == "UTC"


NAIVE = datetime(2026, 5, 4, 12)


@pytest.mark.parametrize("call", [
    lambda s: s.is_open(NAIVE),
    lambda s: s.next_interval(NAIVE),
    lambda s: s.intervals(NAIVE, utc(2026, 5, 5)),
    lambda s: s.intervals(utc(2026, 5, 4), NAIVE),
    lambda s: Schedule.from_dict("UTC", [OK], at=NAIVE),
], ids=["is_open", "next_interval", "intervals-start", "intervals-end", "from_dict-at"])
def test_naive_datetimes_are_refused(call: Any) -> None:
    schedule = sched("UTC", OK)
    with pytest.raises(ValueError, match="timezone-aware"):
        call(schedule)


# --- always open, 24:00, and exclusions per local day ---------------------------------------

def test_start_00_00_stop_24_00_every_day_is_always_open() -> None:
    schedule = sched("Europe/London", {"start": "00:00", "stop": "24:00"})
    for at in (utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 1), utc(2026, 10, 25, 1, 30), utc(2026, 12, 31, 23, 59)):
        assert schedule.is_open(at)
    interval = schedule.next_interval(utc(2026, 5, 4, 12))
    # It goes on past any bound the search keeps to, and says so.
    assert interval is not None and interval.cut
    assert interval.open <= utc(2026, 5, 4) and interval.close >= utc(2026, 5, 5)
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 8, 1)) and all(
        iv.open <= utc(2026, 5, 4) and iv.close >= utc(2026, 8, 1)
        for iv in schedule.intervals(utc(2026, 5, 4), utc(2026, 8, 1)))


def test_weekdays_to_24_00_run_from_monday_midnight_to_saturday_midnight() -> None:
    schedule = sched("UTC", {"days": "MON-FRI", "start": "00:00", "stop": "24:00"})
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 5, 11)) == [Interval(utc(2026, 5, 4), utc(2026, 5, 9))]
    assert not schedule.is_open(utc(2026, 5, 9, 0)) and schedule.is_open(utc(2026, 5, 8, 23, 59))
    evening = sched("UTC", {"days": "MON", "start": "18:00", "stop": "24:00"})
    assert evening.next_interval(utc(2026, 5, 4)) == Interval(utc(2026, 5, 4, 18), utc(2026, 5, 5))


def test_exclusions_remove_only_their_own_day_of_merged_windows() -> None:
    # Windows that touch around the clock, Monday to Friday: one merged interval a week.
    schedule = sched("Europe/London", {"days": "MON-FRI", "start": "00:00", "stop": "12:00"},
                     {"days": "MON-FRI", "start": "12:00", "stop": "24:00"})
    wednesday = datetime(2026, 5, 6).date()
    found = schedule.intervals(utc(2026, 5, 3), utc(2026, 5, 10), excluded=lambda d: d == wednesday)
    # Local midnight is 23:00Z in May (BST).
    assert found == [Interval(utc(2026, 5, 3, 23), utc(2026, 5, 5, 23)),
                     Interval(utc(2026, 5, 6, 23), utc(2026, 5, 8, 23))]
    assert not schedule.is_open(utc(2026, 5, 6, 12), excluded=lambda d: d == wednesday)
    assert schedule.next_interval(utc(2026, 5, 6, 12), excluded=lambda d: d == wednesday) == found[1]


def test_an_excluded_opening_of_a_cron_window_is_skipped() -> None:
    schedule = sched("UTC", {"warm": "0 9 * * MON-FRI", "stop": "0 18 * * MON-FRI"})
    monday = datetime(2026, 5, 4).date()
    assert schedule.next_interval(utc(2026, 5, 4, 8), excluded=lambda d: d == monday) == \
        Interval(utc(2026, 5, 5, 9), utc(2026, 5, 5, 18))
    assert schedule.intervals(utc(2026, 5, 4), utc(2026, 5, 6), excluded=lambda d: d == monday) == \
        [Interval(utc(2026, 5, 5, 9), utc(2026, 5, 5, 18))]


# --- a model's windows, its exclusions applied (chalicelib.timeline) --------------------------

# 09:00-18:00 London time on weekdays (BST in May: 08:00-17:00Z), no work on Wednesday 6 May.
BANK_DAY_OFF = ModelConfig(name="m", model_arn="arn:aws:bedrock:eu-west-2:123456789012:imported-model/abcdefghijkl",
                           timezone="Europe/London", windows=[{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}],
                           exclude_dates=("2026-05-06",))


def test_a_models_windows_over_a_range_skip_its_excluded_dates() -> None:
    # From Monday noon: Monday's window overlaps the range and is reported whole, not clipped.
    found = window_intervals(BANK_DAY_OFF, utc(2026, 5, 4, 12), utc(2026, 5, 8, 9))
    assert found == [Interval(utc(2026, 5, 4, 8), utc(2026, 5, 4, 17)),
                     Interval(utc(2026, 5, 5, 8), utc(2026, 5, 5, 17)),
                     Interval(utc(2026, 5, 7, 8), utc(2026, 5, 7, 17)),
                     Interval(utc(2026, 5, 8, 8), utc(2026, 5, 8, 17))]


@pytest.mark.parametrize("at, expected", [
    (utc(2026, 5, 4, 7, 59, 59), None),  # a second before the open: not yet
    (utc(2026, 5, 4, 8), Interval(utc(2026, 5, 4, 8), utc(2026, 5, 4, 17))),  # open from its first instant
    (utc(2026, 5, 4, 16, 59, 59), Interval(utc(2026, 5, 4, 8), utc(2026, 5, 4, 17))),
    (utc(2026, 5, 4, 17), None),  # closed at its close
    (utc(2026, 5, 6, 12), None),  # the excluded Wednesday
])
def test_the_window_a_model_is_in_now(at: datetime, expected: Interval | None) -> None:
    assert current_window(BANK_DAY_OFF, at) == expected


def test_a_run_of_windows_ending_just_past_the_merge_limit_is_not_reported_cut() -> None:
    # Round the clock on weekdays, Monday excluded: Tuesday to Saturday 00:00 is one run that
    # closes on Saturday (not "goes on"), though it is longer than the merging limit.
    schedule = sched("UTC", {"days": "MON-FRI", "start": "00:00", "stop": "24:00"})
    monday = datetime(2026, 3, 9).date()
    assert schedule.next_interval(utc(2026, 3, 9, 12), excluded=lambda d: d == monday) == \
        Interval(utc(2026, 3, 10), utc(2026, 3, 14), cut=False)
    # Without the exclusion the run from Monday is cut where merging stopped: it goes on.
    assert schedule.next_interval(utc(2026, 3, 9, 12)) == Interval(utc(2026, 3, 9), utc(2026, 3, 13), cut=True)


# --- zones a team means, and the instant validation is judged at ------------------------------

@pytest.mark.parametrize("zone, hint", [
    ("EST", "America/New_York"), ("est", "America/New_York"), ("MST", "America/Denver"),
    ("HST", "Pacific/Honolulu"), ("Etc/GMT+5", "UTC-N"), ("Etc/GMT-8", "name a place"),
])
def test_fixed_offset_zones_are_refused_with_a_place_to_use(zone: str, hint: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        sched(zone, DAILY_9_18)
    assert caught.value.field == "timezone" and "fixed offset" in str(caught.value)
    assert hint in str(caught.value)


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "GMT", "EST5EDT", "CET", "Asia/Kolkata"])
def test_zones_that_are_utc_or_follow_rules_are_accepted(zone: str) -> None:
    assert sched(zone, DAILY_9_18).timezone


def test_a_stored_schedule_is_rebuilt_without_the_checks_for_new_input() -> None:
    # Stored before the zone rule, or validated at a time it was open: it keeps its meaning.
    assert Schedule.from_stored("EST", [DAILY_9_18]).next_interval(utc(2026, 5, 4, 12)) == \
        Interval(utc(2026, 5, 4, 14), utc(2026, 5, 4, 23))
    leap = Schedule.from_stored("UTC", [{"warm": "0 9 29 2 *", "stop": "0 18 29 2 *"}])
    assert leap.next_interval(utc(2027, 6, 1)) == Interval(utc(2028, 2, 29, 9), utc(2028, 2, 29, 18))


def test_a_yearly_window_open_now_is_accepted() -> None:
    year = {"warm": "0 0 1 1 *", "stop": "0 0 31 12 *"}
    schedule = sched("UTC", year, at=utc(2026, 7, 1))
    assert schedule.next_interval(utc(2026, 7, 1)) == Interval(utc(2026, 1, 1), utc(2026, 12, 31))


def test_a_29_february_window_registered_in_mid_2027_is_accepted() -> None:
    leap = {"warm": "0 9 29 2 *", "stop": "0 18 29 2 *"}
    assert sched("UTC", leap, at=utc(2027, 6, 1)).next_interval(utc(2027, 6, 1)) == \
        Interval(utc(2028, 2, 29, 9), utc(2028, 2, 29, 18))


def test_a_schedule_opening_too_often_is_refused() -> None:
    with pytest.raises(ScheduleError) as caught:
        sched("UTC", {"warm": "*/2 * * * *", "stop": "1-59/2 * * * *"})
    assert caught.value.field == "windows[0]" and "720 times a day" in str(caught.value)
    # Half-hourly windows are at the limit, and fine.
    assert sched("UTC", {"warm": "0,30 * * * *", "stop": "15,45 * * * *"})


# --- the minute grid agrees with croniter -----------------------------------------------------

def _cron_field(low: int, high: int, names: tuple[str, ...] = ()) -> Any:
    from hypothesis import strategies as st

    value = st.integers(low, high)
    single = value.map(str) | (st.sampled_from(names) if names else value.map(str))
    ranged = st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}")
    stepped = st.tuples(st.sampled_from(["*", f"{low}-{high}"]) | ranged, st.integers(1, max(1, high - low)))
    item = single | ranged | stepped.map(lambda ps: f"{ps[0]}/{ps[1]}")
    return st.just("*") | st.lists(item, min_size=1, max_size=3).map(",".join)


def test_cron_firings_match_croniter() -> None:
    from croniter import croniter
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from chalicelib.schedule import _step

    expressions = st.tuples(_cron_field(0, 59), _cron_field(0, 23), _cron_field(1, 31),
                            _cron_field(1, 12, MONTH_NAMES), _cron_field(0, 6, DAY_NAMES)).map(" ".join)
    walls = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(expr=expressions, wall=walls, forward=st.booleans())
    def agree(expr: str, wall: datetime, forward: bool) -> None:
        if not croniter.is_valid(expr):
            return
        it = croniter(expr, wall)
        try:
            expected = it.get_next(datetime) if forward else it.get_prev(datetime)
        except Exception:  # croniter found none within its own search range
            expected = None
        found = _step(expr, wall, forward)
        if expected is None or abs(expected.year - wall.year) > 8:
            return  # beyond the grid's search on purpose
        assert found == expected, (expr, wall, forward)

    agree()


def test_range_sweep_agrees_with_stepping_window_by_window() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    zones = st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
                             "Asia/Kolkata", "UTC", "America/Sao_Paulo"])
    crons = st.sampled_from(["0 9 * * MON-FRI", "30 2 * * *", "0,30 1-3 * * *", "15 22 * * SUN",
                             "0 0 1,15 * *", "10,35 2 * * *", "0 12 * * SAT,SUN", "45 */4 * * *",
                             "*/5 * * * *", "* 3 * * *"])
    starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1),
                          timezones=st.just(UTC))

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(zone=zones, warm=crons, stop=crons, start=starts, days=st.integers(1, 40))
    def agree(zone: str, warm: str, stop: str, start: datetime, days: int) -> None:
        if warm == stop:
            return
        window, = Schedule.from_stored(zone, [{"warm": warm, "stop": stop}]).windows
        end = start + timedelta(days=days)
        stepped = []
        interval = window.next(zone, start)
        while interval is not None and interval.open < end:
            stepped.append(interval)
            interval = window.next(zone, interval.close)
        assert window.between(zone, start, end) == stepped

    agree()
