"""The planner's promises, checked over random models (hypothesis), not a few examples.

For random zones (daylight saving in both hemispheres, half-hour and 45-minute offsets),
random windows (overnight, touching, nearly or always open, cron with day-of-month),
exclusions, holidays, leases, overrides and states:
- planning always finishes, well within its time budget;
- no call is planned outside a hold, nor at or after a hold's close, where the holds come
  from an independent reckoning below (window intervals less the lead, leases, overrides,
  merged by hand), not from the planner's own merging;
- inside a hold the planned calls (each assumed to succeed) are never further apart than
  the keep-alive interval, the last one covers the hold exactly to its close (the tight
  end), and a hold that begins after an earlier call's cover ran out is entered at its
  start (the pre-warm);
- the same inputs plan the same call; a paused model is never called.
"""
from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from chalicelib.budget import budget
from chalicelib.planner import keepalive_in_force, next_call, prewarm_lead, wanted
from chalicelib.records import Lease, ModelConfig, ModelState, Override
from chalicelib.schedule import Schedule, ScheduleError
from chalicelib.settings import Settings
from chalicelib.timeline import exclusions, schedule_of

# One planning's budget in these properties. Under a tracer (coverage, `make mutate`) every
# line costs many times more: KEEPWARM_TEST_BUDGET_SCALE widens it there, never in CI.
PLAN_BUDGET = 1.0 * float(os.environ.get("KEEPWARM_TEST_BUDGET_SCALE", "1"))

UTC = timezone.utc
SETTINGS = Settings(table_name="t", queue_url="q")
ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl"
ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "America/Santiago", "Pacific/Auckland",
         "Australia/Lord_Howe", "Australia/Adelaide", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Shanghai", "UTC"]
# 2026, with every zone's changes inside: March/April and September/October/November.
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 20, tzinfo=UTC)
# How far the calls of one example are followed (each call assumed to succeed): a day and
# a half, or 150 keep-alive intervals when they are short.
FOLLOW_HOURS, FOLLOW_CALLS = 36, 150

times = st.integers(0, 95).map(lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}")
days = st.sampled_from(["*", "MON-FRI", "SAT,SUN", "FRI-MON", "TUE", "MON,WED,FRI", "SUN-SAT"])
simple = st.fixed_dictionaries({"days": days, "start": times, "stop": times | st.just("24:00")})
nearly_always = st.sampled_from([
    {"days": "MON-SUN", "start": "00:00", "stop": "23:59"},
    {"start": "00:00", "stop": "24:00"},
    {"days": "MON-FRI", "start": "00:00", "stop": "24:00"},
    {"start": "06:00", "stop": "05:58"},
])
cron = st.sampled_from([
    {"warm": "0 9 * * MON-FRI", "stop": "0 18 * * MON-FRI"},
    {"warm": "30 2 * * *", "stop": "0 4 * * *"},  # inside the spring-forward gap in some zones
    {"warm": "0 9 1,15 * *", "stop": "0 17 1,15 * *"},  # day of month
    {"warm": "0 22 * * SUN", "stop": "30 23 * * SUN"},
    {"warm": "0 8,10 * * *", "stop": "0 12 * * *"},
    {"warm": "0 0 1 * *", "stop": "0 0 3 * *"},  # two days, monthly
])
windows = st.lists(simple | nearly_always | cron, min_size=1, max_size=4)
instants = st.datetimes(min_value=START.replace(tzinfo=None), max_value=END.replace(tzinfo=None),
                        timezones=st.just(UTC))


@st.composite
def models(draw: st.DrawFn) -> tuple[ModelConfig, ModelState, datetime]:
    zone, chosen = draw(st.sampled_from(ZONES)), draw(windows)
    now = draw(instants)
    try:
        Schedule.from_dict(zone, chosen, at=now)
    except ScheduleError:
        assume(False)
    keepalive = draw(st.integers(1, 14))
    excluded = draw(st.lists(st.integers(-3, 5).map(lambda d: (now + timedelta(days=d)).date().isoformat()),
                             max_size=3, unique=True))
    calendar = draw(st.sampled_from([None, {"country": "GB", "subdiv": "ENG"}, {"country": "US"},
                                     {"country": "AU", "subdiv": "NSW"}]))
    config = ModelConfig(name="m", model_arn=ARN, timezone=zone, windows=chosen, keepalive_minutes=keepalive,
                         release_minutes=draw(st.integers(keepalive + 1, 30)),
                         exclude_dates=tuple(sorted(excluded)), holidays=calendar)
    offset = st.integers(-600, 2000).map(lambda m: now + timedelta(minutes=m))
    leases = tuple(Lease(f"l{i}", a, a + timedelta(minutes=draw(st.integers(1, 720))))
                   for i, a in enumerate(draw(st.lists(offset.filter(lambda a: a <= now), max_size=2))))
    override = draw(st.none() | st.builds(lambda kind, until: Override(kind, until, now - timedelta(minutes=5)),
                                          st.sampled_from(["warm", "cold"]), offset.filter(lambda u: u > now)))
    kind = draw(st.sampled_from(["cold", "warm", "warming", "fatal", "transient"]))
    before = draw(st.integers(0, 30).map(lambda m: now - timedelta(minutes=m)))
    state = {
        "cold": ModelState(),
        "warm": ModelState(status="warm", last_success_at=before),
        "warming": ModelState(status="warming", warming_since=before, last_call_at=before),
        "fatal": ModelState(status="error", error="denied", error_kind="fatal", error_at=before),
        "transient": ModelState(status="error", error="throttled", error_kind="transient", error_at=before),
    }[kind]
    samples = draw(st.lists(st.floats(20, 600), max_size=6))
    state = replace(state, leases=leases, override=override, cold_starts=tuple(samples),
                    cold_start_count=len(samples))
    return config, state, now


def holds(config: ModelConfig, state: ModelState, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The spans the model must be held over, reckoned directly: each window interval from
    its lead before it opens, each lease, a warm override; merged when they overlap or
    touch; nothing before a cold override ends."""
    lead = prewarm_lead(config, state, SETTINGS)
    spans = [(iv.open - lead, iv.close) for iv in
             schedule_of(config).intervals(start - timedelta(days=9), end + timedelta(days=9), exclusions(config))]
    spans += [(lease.created_at, lease.expires_at) for lease in state.leases]
    override = state.override
    if override is not None and override.state == "warm":
        spans.append((override.set_at, override.until))
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    if override is not None and override.state == "cold":
        merged = [(max(a, override.until), b) for a, b in merged if b > override.until]
    return merged


def holding(spans: list[tuple[datetime, datetime]], at: datetime) -> Optional[tuple[datetime, datetime]]:
    return next((span for span in spans if span[0] <= at < span[1]), None)


# Stored schedules the strategy cannot draw: a window that opened when it was registered and
# opens no more (29 February, the day after the last one for four years); and one always
# open, over a holiday and a date excluded, with a lease across them.
LEAP_DAY = ModelConfig(name="m", model_arn=ARN, timezone="America/New_York",
                       windows=[{"warm": "0 9 29 2 *", "stop": "0 17 29 2 *"}])
ALWAYS_BUT_HOLIDAYS = ModelConfig(name="m", model_arn=ARN, timezone="America/New_York",
                                  windows=[{"days": "MON-SUN", "start": "00:00", "stop": "24:00"}],
                                  exclude_dates=("2026-07-06",), holidays={"country": "US"})
JULY_3 = datetime(2026, 7, 2, 20, tzinfo=UTC)  # Independence Day is observed on Friday 3 July 2026
ACROSS = (Lease("l1", JULY_3, JULY_3 + timedelta(hours=12)),)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(model=models())
@example(model=(LEAP_DAY, ModelState(), datetime(2028, 3, 1, tzinfo=UTC)))
@example(model=(LEAP_DAY, ModelState(status="warm", last_success_at=datetime(2028, 2, 29, 16, tzinfo=UTC)),
                datetime(2028, 2, 29, 16, 30, tzinfo=UTC)))
@example(model=(ALWAYS_BUT_HOLIDAYS, ModelState(), JULY_3))
@example(model=(ALWAYS_BUT_HOLIDAYS, ModelState(leases=ACROSS), JULY_3))
def test_planned_calls_keep_every_promise(model: tuple[ModelConfig, ModelState, datetime]) -> None:
    config, state, now = model
    keepalive = timedelta(minutes=keepalive_in_force(config, state))
    follow = min(timedelta(hours=FOLLOW_HOURS), FOLLOW_CALLS * keepalive)
    spans = holds(config, state, now, now + follow)
    calls: list[datetime] = []

    def plan(current: ModelState, at: datetime):  # each planning must finish, and fast
        with budget(PLAN_BUDGET):
            return next_call(config, current, at, SETTINGS)

    first = plan(state, now)
    assert first == plan(state, now)  # deterministic
    action, current, at = first, state, now
    while action is not None and action.at < now + follow:
        assert action.at >= at
        span = holding(spans, action.at)
        assert span is not None, f"a call at {action.at} is outside every hold {spans}"
        with budget(PLAN_BUDGET):
            assert wanted(config, current, action.at, SETTINGS)
        calls.append(action.at)
        # The call succeeds: the model is warm from then on.
        at, current = action.at, replace(current, status="warm", last_success_at=action.at,
                                         error=None, error_kind=None, error_at=None, warming_since=None)
        action = plan(current, at)
        assert len(calls) <= FOLLOW_CALLS + 50
    for span in spans:
        inside = [c for c in calls if span[0] <= c < span[1]]
        if not inside or span[1] > now + follow - keepalive:
            continue
        # No gap longer than the keep-alive, and the last call covers the hold to its close.
        assert all(b - a <= keepalive for a, b in zip(inside, inside[1:])), (span, inside)
        assert inside[-1] + keepalive >= span[1], (span, inside)
        if len(inside) > 1:  # and no later than that: the tight end, so the copy goes soonest
            assert inside[-1] + keepalive == span[1], (span, inside)
        before = [c for c in calls if c < span[0]]
        if before and before[-1] + keepalive <= span[0]:
            assert inside[0] == span[0], (span, inside)  # entered at its start: the pre-warm


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(model=models())
@example(model=(LEAP_DAY, ModelState(), datetime(2028, 3, 1, tzinfo=UTC)))
@example(model=(ALWAYS_BUT_HOLIDAYS, ModelState(leases=ACROSS), JULY_3))
def test_a_paused_model_is_never_called(model: tuple[ModelConfig, ModelState, datetime]) -> None:
    config, state, now = model
    paused = replace(config, enabled=False)
    assert next_call(paused, state, now, SETTINGS) is None
    assert not wanted(paused, state, now, SETTINGS)


def test_the_reckoning_sees_a_holiday_as_a_gap() -> None:
    # The oracle itself: Easter Monday 2026 takes one day out of round-the-clock weekdays.
    config = ModelConfig(name="m", model_arn=ARN, timezone="Europe/London",
                         windows=[{"days": "MON-FRI", "start": "00:00", "stop": "24:00"}],
                         holidays={"country": "GB", "subdiv": "ENG"})
    spans = holds(config, ModelState(), datetime(2026, 4, 4, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC))
    assert holding(spans, datetime(2026, 4, 6, 12, tzinfo=UTC)) is None
    assert holding(spans, datetime(2026, 4, 7, 12, tzinfo=UTC)) is not None
    assert date(2026, 4, 6) in __import__("holidays").country_holidays("GB", subdiv="ENG")
