"""Readiness: one record per opening of a model's schedule windows, from the evidence of
its calls, not from what keepwarm believed.

A call's answer proves something about a copy (``evidence``): a warm answer at ``t``
proves a copy was loaded at ``t``; a cold one (429 ModelNotReady, or a call held far
beyond the warm latency) proves none was when it was sent. From those instants:

- *verified warm*: after a warm answer, the copy is verified up to the next answer when
  that is warm and within the release time in force (no call between found it cold, and
  no copy can have been released and loaded again unseen); up to the warm answer itself
  when the next answer, within the release time, was cold; and, when no answer follows
  within the release time (the window's last keep-alive: nothing is called after the
  close to prove it), for the keep-alive interval in force, the cover keepwarm plans on;
- *ready at the open*: verified warm at the open instant, or first verified within
  :data:`READY_GRACE` after it (the answer to a call sent at the open);
- *late*: seconds from the open to the first verified instant (0 when ready, None if
  never within the window).

The tick judges a window :data:`chalicelib.planner.JUDGE_AFTER` after its close
(:func:`judge`): the model's state keeps its last ``READINESS_KEPT`` records, which the
API, the fleet view and the CLI read with the model (no query of their own), and each
record is also an event (``window_ready`` / ``window_not_ready``), kept with the event
log's TTL, turned into metrics by chalicelib.telemetry and, when not ready, put on
EventBridge by chalicelib.notify.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from chalicelib.answers import MODEL_ERROR, NOT_READY, READY
from chalicelib.planner import JUDGE_AFTER, keepalive_in_force, release_in_force, window_to_judge
from chalicelib.records import READINESS_KEPT, Event, Model, ModelState, WindowRecord, parse_iso
from chalicelib.settings import Settings

WARM, COLD, NONE = "warm", "cold", "none"
# Events written before every call carried its evidence: a loaded copy answering within
# this is warm.
FALLBACK_WARM_MS = 5000
# The first answer after the open within this still counts as ready at the open: a
# keep-alive sent at the open second is answered a moment later.
READY_GRACE = timedelta(seconds=5)
SUMMARY_DAYS = 7
# Windows judged in one look at a model (a model not looked at for days, with many short
# windows, is caught up over a few ticks).
MAX_JUDGED = 24
# Events read to judge one window: a long window with cold starts polled every 10 s.
MAX_EVENTS = 5000
WINDOW_READY, WINDOW_NOT_READY = "window_ready", "window_not_ready"

Span = tuple[datetime, datetime]


def evidence(event: Mapping[str, Any]) -> str:
    """What a ``call`` event proves about a copy: warm, cold or none."""
    given = event.get("evidence")
    if given in (WARM, COLD, NONE):
        return str(given)
    outcome = event.get("outcome")
    latency = event.get("latency_ms")
    if outcome in (READY, MODEL_ERROR) and isinstance(latency, (int, float)) and latency < FALLBACK_WARM_MS:
        return WARM
    return COLD if outcome == NOT_READY else NONE


def evidence_points(events: Iterable[Mapping[str, Any]]) -> list[tuple[datetime, str]]:
    """The instants the calls prove something, in time order (at one instant, cold first):
    a warm answer at its answer, a cold call when it was sent; a held call that was
    answered in the end proves both (cold when sent, a copy loaded when answered)."""
    points = []
    for event in events:
        if event.get("kind") != "call":
            continue
        try:
            at = parse_iso(event.get("at"))
        except (TypeError, ValueError):
            continue
        if at is None:
            continue
        proved = evidence(event)
        if proved == WARM:
            points.append((at, WARM))
        elif proved == COLD:
            latency = event.get("latency_ms")
            sent = at - timedelta(milliseconds=latency if isinstance(latency, (int, float)) else 0)
            points.append((sent, COLD))
            if event.get("outcome") in (READY, MODEL_ERROR):
                points.append((at, WARM))
    return sorted(points, key=lambda p: (p[0], p[1] == WARM))


def verified_spans(events: Iterable[Mapping[str, Any]], cover: timedelta, max_gap: timedelta) -> list[Span]:
    """The spans a copy is verified warm (see the module's docstring), merged, in order.
    ``cover`` (the keep-alive interval) is taken no longer than ``max_gap`` (the release
    time): then no cold answer can ever lengthen a span."""
    cover = min(cover, max_gap)
    points = evidence_points(events)
    spans: list[Span] = []
    for i, (at, proved) in enumerate(points):
        if proved != WARM:
            continue
        following = points[i + 1] if i + 1 < len(points) else None
        if following is None or following[0] - at > max_gap:
            end = at + cover if following is None else min(following[0], at + cover)
        else:
            end = following[0] if following[1] == WARM else at
        spans.append((at, end))
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def window_record(window_open: datetime, window_close: datetime, events: Iterable[Mapping[str, Any]],
                  cover: timedelta, max_gap: timedelta, count_from: Optional[datetime] = None) -> WindowRecord:
    """The readiness record of one window opening from the model's events around it (any
    order; those far from the window change nothing). Cold starts and unexpected colds
    count from ``count_from`` (the pre-warm's earliest start; default the open) to the close."""
    events = list(events)
    spans = verified_spans(events, cover, max_gap)
    inside = [(max(a, window_open), min(b, window_close)) for a, b in spans if b >= window_open and a < window_close]
    verified = sum((b - a).total_seconds() for a, b in inside)
    first = min((a for a, _ in inside), default=None)
    ready = first is not None and first - window_open <= READY_GRACE
    late = 0.0 if ready else (round((first - window_open).total_seconds(), 3) if first is not None else None)
    start = count_from or window_open

    def count(kind: str) -> int:
        return sum(1 for e in events if e.get("kind") == kind and _within(e, start, window_close))

    return WindowRecord(window_open, window_close, ready, late, round(verified / 60, 3),
                        count("unexpected_cold"), count("cold_start"))


def _within(event: Mapping[str, Any], start: datetime, end: datetime) -> bool:
    try:
        at = parse_iso(event.get("at"))
    except (TypeError, ValueError):
        return False
    return at is not None and start <= at <= end


def late_seconds(record: WindowRecord) -> float:
    """How late the window was, counting one never verified warm as late its whole length."""
    return record.late_seconds if record.late_seconds is not None else record.minutes * 60


# -- what the tick does ---------------------------------------------------------------------------
def _cold_override_over(state: ModelState, start: datetime, end: datetime) -> bool:
    override = state.override
    return override is not None and override.state == "cold" and override.set_at < end and override.until > start


def judge(model: Model, read_events: Callable[[datetime], Sequence[Mapping[str, Any]]], now: datetime,
          settings: Settings) -> tuple[Model, list[Event]]:
    """Record the readiness of each window of ``model`` that closed at least JUDGE_AFTER
    before ``now`` and is not judged yet; the model with its records, and their events.

    ``read_events(since)`` gives the model's events from ``since`` on. A window under an
    operator's cold override is passed over unjudged: it was kept cold on purpose."""
    config, state = model.config, model.state
    cover = timedelta(minutes=keepalive_in_force(config, state))
    max_gap = timedelta(minutes=release_in_force(config, state))
    lead = timedelta(seconds=settings.lead_max_seconds)
    records, told = list(state.readiness), []
    for _ in range(MAX_JUDGED):
        window = window_to_judge(config, state, now)
        if window is None or window.close + JUDGE_AFTER > now:
            break
        if not _cold_override_over(state, window.open, window.close):
            events = read_events(window.open - max(lead, max_gap) - cover)
            record = window_record(window.open, window.close, events, cover, max_gap,
                                   count_from=window.open - lead)
            records.append(record)
            shown = record.to_view()
            told.append(Event(window.close, "window_ready", shown) if record.ready_at_open
                        else Event(window.close, "window_not_ready", shown))
        state = replace(state, readiness=tuple(records[-READINESS_KEPT:]), readiness_until=window.close)
    return replace(model, state=state), told


# -- what the API shows ---------------------------------------------------------------------------
def summary(records: Iterable[WindowRecord], now: datetime, days: int = SUMMARY_DAYS) -> dict[str, Any]:
    """The records of windows closed within ``days`` before ``now``, summed: how many
    openings, how many ready at the open, the latest (a window never verified warm counts
    late its whole length) and the share of their time verified warm."""
    recent = [r for r in records if r.window_close > now - timedelta(days=days)]
    minutes = sum(r.minutes for r in recent)
    return {
        "openings": len(recent),
        "ready_at_open": sum(1 for r in recent if r.ready_at_open),
        "late_seconds_max": max((late_seconds(r) for r in recent), default=None),
        "verified_share": round(min(1.0, sum(r.verified_warm_minutes for r in recent) / minutes), 4)
        if minutes > 0 else None,
    }


def view(state: ModelState, now: datetime) -> dict[str, Any]:
    """``readiness`` on GET /models/{model}: the latest records, newest first, and their summary."""
    return {"recent": [r.to_view() for r in reversed(state.readiness)], "summary": summary(state.readiness, now)}


def fleet_totals(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``readiness`` on GET /fleet: the models' summaries added up."""
    summaries = list(summaries)
    return {"openings": sum(s["openings"] for s in summaries),
            "ready_at_open": sum(s["ready_at_open"] for s in summaries), "days": SUMMARY_DAYS}
