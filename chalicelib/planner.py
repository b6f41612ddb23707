"""Deciding, without doing: what each model should be doing, and when.

Pure functions of a model's config, its state and ``now`` (an aware datetime); no AWS, no
clock. The tick asks :func:`next_call` which call a model needs next; the worker asks
:func:`apply_outcome` what a call's outcome means for the model's state and whether it
must call again soon (a cold model is polled, a throttled call retried).

The model is held warm over each window's *hold interval*: from ``lead`` before the window
opens until it closes. Inside it, a warm model is called every ``keepalive_minutes`` after
its last success; a cold one at once. No call is planned at or after a window's close.
"""
from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Optional

from chalicelib.records import Event, ModelConfig, ModelState, Pending, require_aware
from chalicelib.schedule import Interval, Schedule
from chalicelib.settings import Settings

# Outcomes of one call, as chalicelib.bedrock classifies them.
READY = "ready"
NOT_READY = "not_ready"
THROTTLED = "throttled"
TRANSIENT = "transient"  # server errors, timeouts: retried with backoff
FATAL = "fatal"  # denied, gone, invalid request: not retried in this window


@dataclass(frozen=True)
class Action:
    kind: str  # prewarm | warmup | keepalive | poll | retry
    at: datetime


@dataclass(frozen=True)
class CallResult:
    outcome: str
    code: Optional[str] = None
    message: Optional[str] = None
    latency_ms: int = 0


# Stored schedules were validated on the way in; rebuilding them must not depend on the
# clock, so the "never opens" check is anchored to a fixed instant here.
_VALIDATION_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


@lru_cache(maxsize=4096)
def _schedule(zone: str, windows_json: str) -> Schedule:
    return Schedule.from_dict(zone, json.loads(windows_json), at=_VALIDATION_EPOCH)


def schedule_of(config: ModelConfig) -> Schedule:
    return _schedule(config.timezone, json.dumps(config.windows, sort_keys=True))


def prewarm_lead(config: ModelConfig, state: ModelState, settings: Settings) -> timedelta:
    return timedelta(seconds=settings.prewarm_lead_seconds)


def is_warm(config: ModelConfig, state: ModelState, at: datetime) -> bool:
    """A copy is assumed loaded until ``release_minutes`` after the last success."""
    return (
        state.status == "warm"
        and state.last_success_at is not None
        and at < state.last_success_at + timedelta(minutes=config.release_minutes)
    )


def display_status(config: ModelConfig, state: ModelState, now: datetime) -> str:
    if state.status == "warm" and not is_warm(config, state, now):
        return "cold"
    return state.status


def next_call(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> Optional[Action]:
    """The next call the schedule asks for, at or after ``now``; None if none ever will.

    Ignores any pending claim: the caller decides whether a claim still stands."""
    require_aware(now, "now")
    if not config.enabled:
        return None
    schedule = schedule_of(config)
    lead = prewarm_lead(config, state, settings)
    keepalive = timedelta(minutes=config.keepalive_minutes)

    base = now
    if state.status == "error" and state.error_kind == "fatal" and state.error_at is not None:
        # Denied or gone: try again when the next window comes, not in a hot loop.
        failed_in = schedule.next_interval(state.error_at + lead)
        if failed_in is None:
            return None
        base = max(now, failed_in.close)
    elif state.status == "error" and state.error_at is not None:
        base = max(now, state.error_at + keepalive)
    elif is_warm(config, state, now):
        base = max(now, state.last_success_at + keepalive)  # type: ignore[operator]

    interval = schedule.next_interval(base)
    if interval is None:
        return None
    start = interval.open - lead
    at = max(base, start)
    if at < interval.open:
        return Action("prewarm", at)
    return Action("keepalive" if is_warm(config, state, at) else "warmup", at)


def current_interval(config: ModelConfig, now: datetime) -> Optional[Interval]:
    interval = schedule_of(config).next_interval(now)
    return interval if interval is not None and interval.open <= now else None


def wanted(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> bool:
    """Whether a call at ``now`` still serves the schedule: inside a hold interval.

    The worker asks before every call, so a late message, a poll chain running past a
    window's close or a model paused meanwhile never calls outside the schedule."""
    if not config.enabled:
        return False
    interval = schedule_of(config).next_interval(now)
    return interval is not None and interval.open - prewarm_lead(config, state, settings) <= now


def backoff_seconds(attempt: int, settings: Settings) -> int:
    return min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class Decision:
    state: ModelState
    follow_up: Optional[Pending]  # a call to make soon, by the worker's own re-enqueue
    events: tuple[Event, ...]


def new_action_id() -> str:
    return secrets.token_hex(8)


def apply_outcome(
    config: ModelConfig,
    state: ModelState,
    action: Pending,
    result: CallResult,
    called_at: datetime,
    answered_at: datetime,
    settings: Settings,
) -> Decision:
    """The model's next state after ``action`` was answered with ``result``."""
    events = [Event(answered_at, "call", {
        "action": action.kind, "attempt": action.attempt, "outcome": result.outcome,
        "code": result.code, "latency_ms": result.latency_ms,
    })]
    base = replace(state, last_call_at=called_at, pending=None)
    follow: Optional[Pending] = None

    if result.outcome == READY:
        new = replace(base, status="warm", last_success_at=answered_at, warming_since=None,
                      error=None, error_kind=None, error_at=None)
        if state.warming_since is not None:
            seconds = (answered_at - state.warming_since).total_seconds()
            new = new.with_cold_start(seconds)
            events.append(Event(answered_at, "cold_start", {"seconds": round(seconds, 3)}))
    elif result.outcome == NOT_READY:
        since = state.warming_since or called_at
        waited = (answered_at - since).total_seconds()
        if waited > settings.max_cold_start_seconds:
            reason = f"model did not become ready within {settings.max_cold_start_seconds} s"
            new = replace(base, status="error", warming_since=None, error=reason,
                          error_kind="transient", error_at=answered_at)
            events.append(Event(answered_at, "error", {"reason": reason}))
        else:
            new = replace(base, status="warming", warming_since=since)
            if state.warming_since is None:
                events.append(Event(answered_at, "cold", {"action": action.kind}))
            follow = Pending(new_action_id(), "poll",
                             answered_at + timedelta(seconds=settings.poll_seconds))
    elif result.outcome in (THROTTLED, TRANSIENT):
        attempt = action.attempt + 1
        if attempt >= settings.max_attempts:
            reason = f"{result.code}: gave up after {attempt} attempts ({result.message})"
            new = replace(base, status="error", warming_since=None, error=reason,
                          error_kind="transient", error_at=answered_at)
            events.append(Event(answered_at, "error", {"reason": reason}))
        else:
            new = base
            follow = Pending(new_action_id(), action.kind,
                             answered_at + timedelta(seconds=backoff_seconds(attempt, settings)),
                             attempt=attempt)
    else:
        reason = f"{result.code}: {result.message}"
        new = replace(base, status="error", warming_since=None, error=reason,
                      error_kind="fatal", error_at=answered_at)
        events.append(Event(answered_at, "error", {"reason": reason}))

    return Decision(with_next_due(config, replace(new, pending=follow), answered_at, settings),
                    follow, tuple(events))


def with_next_due(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> ModelState:
    """Set the time the tick should next look at this model (None: never, until changed)."""
    if state.pending is not None:
        due: Optional[datetime] = state.pending.at + timedelta(seconds=settings.claim_timeout_seconds)
    else:
        action = next_call(config, state, now, settings)
        due = action.at if action else None
    return replace(state, next_due_at=due)


def next_action(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> Optional[Action]:
    """What the model will do next, as the API shows it."""
    if state.pending is not None:
        return Action(state.pending.kind, state.pending.at)
    return next_call(config, state, now, settings)


def percentile(samples: tuple[float, ...], q: float) -> Optional[float]:
    """Nearest-rank percentile; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
