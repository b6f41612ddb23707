"""Measuring a model's platform instead of guessing it: the probe.

Outside the model's holds, a probe gets a copy loaded, times a few warm answers, then
leaves the copy idle for growing gaps (4, 8, 16, 32, 64 minutes by default), calling once
after each, until a call finds the model cold: its release lies between the last gap a
copy survived and that one. That call also shows how Bedrock answers a cold model
(429 ``ModelNotReadyException`` at once, or the call held while a copy loads), and the
load it starts is timed, polled as any cold start is.

The probe is a plan like any other: a record on the model's state (:class:`Probe`) that
the tick asks for its next call (``next_call_at``) and the worker advances with each
answer (:func:`recorded`). No Lambda waits through a gap. A hold (window, lease, warm
override) that comes up, a cold override or a pause ends it (:func:`settled`): normal
planning wins. What it finds becomes the model's learned release and keep-alive.

Pure: no AWS, no clock. The planner calls in here, so nothing here imports the planner.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Optional

from chalicelib.answers import ANSWERED, COLD_ANSWER_FACTOR, COLD_ANSWER_FLOOR_SECONDS, NOT_READY, RETRIED
from chalicelib.billing import BILLING_WINDOW
from chalicelib.records import (  # noqa: F401 (re-exported: the probe's record, by its usual home)
    ABORTED,
    DONE,
    FINAL,
    GAP,
    LOAD,
    RUNNING,
    SAMPLE,
    Event,
    ModelConfig,
    ModelState,
    Pending,
    Probe,
    Step,
    iso,
)
from chalicelib.settings import Settings
from chalicelib.timeline import next_hold

DEFAULT_GAPS_MINUTES: tuple[int, ...] = (4, 8, 16, 32, 64)
MAX_GAPS = 8
MAX_GAP_MINUTES = 180
# Warm answers timed right after the copy is up, before the gaps; a minute apart, as the
# tick plans calls by the minute.
WARM_SAMPLES = 3
SAMPLE_SPACING = timedelta(minutes=1)
# Calls kept in the record one by one; polls of a load that is still running are counted.
MAX_STEPS = 40

NOT_READY_CODE = "ModelNotReadyException"


# -- planning --------------------------------------------------------------------------------
def started(gaps: tuple[int, ...], now: datetime) -> Probe:
    return Probe(RUNNING, now, gaps)


def duration_max(gaps: tuple[int, ...], settings: Settings) -> timedelta:
    """The longest a probe can run: two loads of the longest a cold start may take (the
    first copy's, and the one the cold call starts), the warm samples, and every gap."""
    return timedelta(seconds=2 * settings.max_cold_start_seconds, minutes=sum(gaps)) + WARM_SAMPLES * SAMPLE_SPACING


def _billed(minutes: float) -> int:
    window = BILLING_WINDOW.total_seconds() / 60
    return int(math.ceil(minutes / window - 1e-9) * window)


def copy_minutes_max(gaps: tuple[int, ...], release_minutes: int) -> int:
    """The most copy-minutes a probe can be billed (5-minute windows from each copy's first
    success).

    Either a gap finds the copy released (it had idled less than that gap): the first copy
    was billed through the gaps before it and that idle, and the copy the cold call loads
    is billed from its first success until it too idles out, within the same gap. Or no
    gap does: the copy is billed through every gap and then until it is released, assumed
    within the longer of the model's release time and the longest gap."""
    samples = (WARM_SAMPLES - 1) * SAMPLE_SPACING.total_seconds() / 60
    worst = _billed(samples + sum(gaps) + max(release_minutes, max(gaps)))
    for k, gap in enumerate(gaps):
        worst = max(worst, _billed(samples + sum(gaps[:k + 1])) + _billed(gap))
    return worst


def plan(config: ModelConfig, gaps: tuple[int, ...], cmus: Optional[int], price_per_cmu_minute: Optional[float],
         now: datetime, settings: Settings) -> dict[str, Any]:
    """What a probe started ``now`` will do and cost at most."""
    copy_minutes = copy_minutes_max(gaps, config.release_minutes)
    cmu_minutes = copy_minutes * cmus if cmus else None
    usd = round(cmu_minutes * price_per_cmu_minute, 2) if cmu_minutes and price_per_cmu_minute else None
    return {
        "gaps_minutes": list(gaps), "warm_samples": WARM_SAMPLES,
        "finishes_by": iso(now + duration_max(gaps, settings)),
        "copy_minutes_max": copy_minutes, "custom_model_units": cmus, "cmu_minutes_max": cmu_minutes,
        "cost_max": usd,
        "why": (f"each gap holds a copy for the gap and then until it is released, billed in 5-minute windows "
                f"from its first success; the worst case assumes a copy no gap finds released idles "
                f"{max(config.release_minutes, max(gaps))} min (the longer of release_minutes and the longest "
                f"gap) after the last call, and that the cold call's copy idles out within its gap"),
    }


def blocker(config: ModelConfig, state: ModelState, now: datetime, lead: timedelta, gaps: tuple[int, ...],
            settings: Settings) -> Optional[str]:
    """Why a probe cannot start now (None: it can): it runs only where nothing else asks
    the model to be warm or cold, from now until it can have finished."""
    name = config.name
    if state.probe is not None and state.probe.running:
        return f"a probe of {name} is already running (since {iso(state.probe.started_at)})"
    if not config.enabled:
        return f"{name} is paused (enabled: false): a paused model is never called"
    override = state.override
    if override is not None and now < override.until:
        return (f"a {override.state} override holds {name} until {iso(override.until)}; "
                f"DELETE /models/{name}/override ends it")
    end = now + duration_max(gaps, settings)
    hold = next_hold(config, state, now, lead)
    if hold is not None and hold.start < end:
        what = {"window": "a window", "lease": "a lease", "override": "an override"}.get(hold.source, hold.source)
        when = "holds it now" if hold.start <= now else f"starts holding it at {iso(hold.start)}"
        return (f"{what} of {name} {when} (open {iso(hold.open)} to {iso(hold.close)}), before a probe "
                f"started now could finish ({iso(end)} at the latest)")
    return None


def next_call_at(config: ModelConfig, state: ModelState, now: datetime, lead: timedelta) -> Optional[datetime]:
    """When the running probe's next call goes out (at or after ``now``); None if no probe
    runs, or a hold comes first (normal planning takes the model back)."""
    probe = state.probe
    if probe is None or not probe.running:
        return None
    at = _due(probe)
    return None if _interrupted(config, state, max(now, at), lead) else max(now, at)


def _due(probe: Probe) -> datetime:
    if probe.phase == GAP and probe.last_warm_at is not None:
        return probe.last_warm_at + timedelta(minutes=probe.gaps_minutes[probe.step])
    if probe.phase == SAMPLE and probe.last_warm_at is not None:
        return probe.last_warm_at + SAMPLE_SPACING
    # Loading (a poll that was lost) or starting: at once.
    return probe.started_at


def _interrupted(config: ModelConfig, state: ModelState, until: datetime, lead: timedelta) -> Optional[str]:
    """What takes the model back from a probe by ``until``: a pause, an override, a hold."""
    if not config.enabled:
        return "the model was paused"
    override = state.override
    if override is not None and override.set_at <= until < override.until:
        return f"a {override.state} override was set at {iso(override.set_at)}"
    hold = next_hold(config, state, until, lead)
    if hold is not None and hold.start <= until:
        what = {"window": "a window", "lease": "a lease", "override": "an override"}.get(hold.source, hold.source)
        return f"{what} holds the model from {iso(hold.start)} (open {iso(hold.open)})"
    return None


def wants(config: ModelConfig, state: ModelState, now: datetime, lead: timedelta) -> bool:
    """Whether a call now serves the running probe."""
    probe = state.probe
    return probe is not None and probe.running and _interrupted(config, state, now, lead) is None


def settled(config: ModelConfig, state: ModelState, now: datetime, lead: timedelta) -> ModelState:
    """``state`` with its running probe aborted if something takes the model back before
    the probe's next call."""
    probe = state.probe
    if probe is None or not probe.running:
        return state
    why = _interrupted(config, state, max(now, _due(probe)), lead)
    return state if why is None else replace(state, probe=_ended(probe, ABORTED, now, why))


def ended_events(before: Optional[Probe], after: Optional[Probe]) -> list[Event]:
    """The event that tells of a probe's end, if ``after`` is where it ended."""
    if before is None or not before.running or after is None or after.running or after.finished_at is None:
        return []
    return [Event(after.finished_at, f"probe_{after.status}", {"reason": after.reason, **findings(after)})]


def _ended(probe: Probe, status: str, at: datetime, reason: str) -> Probe:
    return replace(probe, status=status, finished_at=at, reason=reason)


# -- reading answers -----------------------------------------------------------------------------
def cold_limit_ms(probe: Probe) -> float:
    """An answer slower than this met a cold copy: 4 x the warm median, at least 5 s."""
    median = statistics.median(probe.warm_latencies_ms) if probe.warm_latencies_ms else 0
    return max(COLD_ANSWER_FLOOR_SECONDS * 1000, COLD_ANSWER_FACTOR * median)


def recorded(config: ModelConfig, state: ModelState, action: Pending, outcome: str, code: Optional[str],
             message: Optional[str], latency_ms: int, called_at: datetime, answered_at: datetime,
             settings: Settings) -> ModelState:
    """``state`` with the running probe advanced by one call's answer (``latency_ms``: as
    the invoker timed it; never less than the worker's clock says); when it ends done,
    with what it found learned (release and keep-alive)."""
    probe = state.probe
    if probe is None or not probe.running:
        return state
    latency = max(latency_ms, int((answered_at - called_at).total_seconds() * 1000))
    success = outcome in ANSWERED
    cold = (success and latency > cold_limit_ms(probe)) or outcome == NOT_READY
    warm = success and not cold
    gap = (called_at - probe.last_warm_at).total_seconds() / 60 if probe.last_warm_at else None
    loading = probe.phase in (LOAD, FINAL) and probe.cold_since is not None
    found = "warm" if warm else ("loading" if loading and cold else ("cold" if cold else "none"))
    step = Step(called_at, probe.phase, outcome, code, latency, found, round(gap, 3) if probe.phase == GAP and gap
                is not None else None)
    if found == "loading" and not success:
        probe = replace(probe, polls=probe.polls + 1)
    else:
        probe = replace(probe, steps=(probe.steps + (step,))[-MAX_STEPS:])
    if cold and probe.cold_answer is None:
        held = success or code != NOT_READY_CODE or latency > cold_limit_ms(probe)
        probe = replace(probe, cold_answer="held" if held else "429")

    if not success and not cold:
        if outcome in RETRIED and action.attempt + 1 < settings.max_attempts:
            return replace(state, probe=probe)  # the worker's retry comes back here
        return replace(state, probe=_ended(probe, ABORTED, answered_at, f"the model answered {code}: {message}"))

    if probe.phase in (LOAD, FINAL):
        since = probe.cold_since or called_at
        if not success:
            waited = (answered_at - since).total_seconds()
            if waited > settings.max_cold_start_seconds:
                return replace(state, probe=_ended(probe, ABORTED, answered_at, (
                    f"the model did not become ready within {settings.max_cold_start_seconds} s")))
            return replace(state, probe=replace(probe, cold_since=since))
        if cold or probe.cold_since is not None:
            probe = replace(probe, loads_seconds=probe.loads_seconds + (round((answered_at - since).total_seconds(), 3),))
        if warm:
            probe = replace(probe, warm_latencies_ms=probe.warm_latencies_ms + (latency,))
        probe = replace(probe, cold_since=None, last_warm_at=answered_at)
        if probe.phase == FINAL:
            return _finished(config, state, probe, answered_at)
        return replace(state, probe=replace(probe, phase=SAMPLE if len(probe.warm_latencies_ms) < WARM_SAMPLES
                                            else GAP))

    # SAMPLE or GAP: the copy was loaded when the last answer came.
    if cold:
        idle = round(gap or 0.0, 3)
        probe = replace(probe, released_minutes=idle)
        if success:  # held until a copy loaded: that was the load
            probe = replace(probe, loads_seconds=probe.loads_seconds + (round(latency / 1000, 3),))
            return _finished(config, state, probe, answered_at)
        return replace(state, probe=replace(probe, phase=FINAL, cold_since=called_at))
    probe = replace(probe, warm_latencies_ms=probe.warm_latencies_ms + (latency,), last_warm_at=answered_at)
    if probe.phase == SAMPLE:
        return replace(state, probe=replace(probe, phase=GAP if len(probe.warm_latencies_ms) >= WARM_SAMPLES
                                            else SAMPLE))
    probe = replace(probe, held_minutes=round(gap or 0.0, 3), step=probe.step + 1)
    if probe.step >= len(probe.gaps_minutes):
        return _finished(config, state, probe, answered_at)
    return replace(state, probe=probe)


def learned(config: ModelConfig, probe: Probe) -> tuple[Optional[int], Optional[int]]:
    """The release and keep-alive (minutes) a finished probe proves; None where it proves
    nothing shorter than the model's setting. The release is the longest idle a copy was
    seen to survive (or, if none was tried, half the one that lost it): only what was
    proven; the keep-alive stays a minute inside it."""
    if probe.held_minutes is not None:
        safe = probe.held_minutes
    elif probe.released_minutes is not None:
        safe = probe.released_minutes / 2
    else:
        return None, None
    release = max(2, math.floor(safe))
    keepalive = max(1, min(config.keepalive_minutes, release - 1))
    return (release if release < config.release_minutes else None,
            keepalive if keepalive < config.keepalive_minutes else None)


def _finished(config: ModelConfig, state: ModelState, probe: Probe, at: datetime) -> ModelState:
    release, keepalive = learned(config, probe)
    if probe.released_minutes is not None:
        held = (f"a copy idle {probe.held_minutes:g} min still answered warm, " if probe.held_minutes is not None
                else "")
        reason = f"measured by a probe: {held}one idle {probe.released_minutes:g} min had been released"
    else:
        reason = f"measured by a probe: a copy idle {probe.held_minutes:g} min still answered warm"
    # What the probe measured supersedes what single keep-alives suggested before.
    return replace(state, probe=_ended(probe, DONE, at, reason), learned_release_minutes=release,
                   learned_keepalive_minutes=keepalive,
                   keepalive_reason=f"{reason} ({iso(at)})" if release or keepalive else None)


# -- showing ----------------------------------------------------------------------------------------
def findings(probe: Probe) -> dict[str, Any]:
    """What the probe has found so far, as the API shows it."""
    warm = probe.warm_latencies_ms
    return {
        # Survived an idle of more_than; gone after one of at_most.
        "release_minutes": {"more_than": probe.held_minutes, "at_most": probe.released_minutes},
        "cold_answer": probe.cold_answer,
        "load_seconds": list(probe.loads_seconds),
        "warm_latency_ms": {"median": statistics.median(warm) if warm else None,
                            "max": max(warm) if warm else None, "samples": len(warm)},
    }


def view(probe: Optional[Probe], config: ModelConfig) -> Optional[dict[str, Any]]:
    if probe is None:
        return None
    release, keepalive = learned(config, probe) if probe.status == DONE else (None, None)
    return {
        "status": probe.status, "started_at": iso(probe.started_at), "finished_at": iso(probe.finished_at),
        "reason": probe.reason, "gaps_minutes": list(probe.gaps_minutes), "phase": probe.phase if probe.running
        else None, "next_gap_minutes": probe.gaps_minutes[probe.step] if probe.running and probe.phase == GAP
        else None, "polls": probe.polls, "steps": [s.to_item() for s in probe.steps],
        "findings": findings(probe),
        "learned": {"release_minutes": release, "keepalive_minutes": keepalive} if probe.status == DONE else None,
    }
