"""Deciding, without doing: what each model should be doing, and when.

Pure functions of a model's config, its state and ``now`` (an aware datetime); no AWS, no
clock. The tick asks :func:`next_call` which call a model needs next; the worker asks
:func:`apply_outcome` what a call's outcome means for the model's state and whether it
must call again soon (a cold model is polled, a throttled call retried).

The model is held warm over its *holds* (chalicelib.timeline: windows from ``lead``
before they open until they close, leases, overrides). Inside a hold, a warm model is
called every keep-alive interval after its last success and a cold one at once; the last
call of a hold is timed so the copy is released as soon after the close as possible. No
call is planned at or after a hold's close.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Mapping, Optional

from chalicelib import probe as probing
from chalicelib.answers import (  # noqa: F401 (re-exported: the outcomes the planner reads, by their usual home)
    ANSWERED,
    COLD_ANSWER_FACTOR,
    COLD_ANSWER_FLOOR_SECONDS,
    FATAL,
    MODEL_ERROR,
    NOT_READY,
    READY,
    RETRIED,
    THROTTLED,
    TRANSIENT,
    CallResult,
)
from chalicelib.billing import ready_check
from chalicelib.budget import PlanningOverrun
from chalicelib.leads import FleetLoads, Prior, default_prior, fit, pooled_prior, upper_quantile
from chalicelib.records import WARM_LATENCY_SAMPLES, Event, ModelConfig, ModelState, Pending, iso, require_aware
from chalicelib.schedule import Interval, ScheduleError
from chalicelib.settings import Settings
from chalicelib.timeline import Hold, in_hold, next_hold, next_window

# What planning a model can raise: an overrun of its time budget, or a stored schedule
# or holiday calendar that no longer parses. The tick, the worker and the API catch these
# for the one model concerned; anything else is a fault of the service.
PLANNING_ERRORS = (PlanningOverrun, ScheduleError, NotImplementedError, KeyError, ValueError)

# Shorter than the schedule's search horizon (400 days) by far: see with_next_due.
REPLAN_AFTER = timedelta(days=30)
# A window's readiness is judged this long after its close: a call sent before the close
# may be answered (a held call) until the read timeout after it.
JUDGE_AFTER = timedelta(minutes=2)
# No window that closed longer ago than this is judged when nothing more recent was: a
# model the tick did not look at for days is judged on its latest windows only.
JUDGE_LOOKBACK = timedelta(days=2)


# What a call's answer proves about a copy (the ``evidence`` of its ``call`` event):
WARM = "warm"  # a loaded copy answered, within the model's warm latency (a success or a 424)
COLD = "cold"  # it met a cold copy: not ready (429 or no answer by the read timeout), or an
# answer far beyond the warm latency (the call was held while a copy loaded)
NO_EVIDENCE = "none"  # throttled, a server error, refused: nothing about a copy

# A warm answer proves its idle gap safe only up to this many configured release times.
PROOF_RELEASES = 2


@dataclass(frozen=True)
class Action:
    kind: str  # prewarm | ready_check | warmup | keepalive | poll
    at: datetime


def prior_of(state: ModelState, settings: Settings) -> Prior:
    """Where the model's learning starts: the fleet's load times as last stored with it,
    else the operator's default."""
    return state.lead_prior or default_prior(settings.prior_load_median_seconds, settings.prior_load_sigma,
                                             settings.prior_weight)


# A group's pooled cold starts become the prior of its models once there are this many.
FLEET_MIN_SAMPLES = 10


def model_cmus(config: ModelConfig, state: ModelState) -> Optional[int]:
    """CMUs per copy: the operator's setting, else what GetImportedModel said."""
    if config.custom_model_units is not None:
        return config.custom_model_units
    return state.imported.custom_model_units if state.imported is not None else None


def load_groups(config: ModelConfig, state: ModelState) -> list[str]:
    """The fleet groups a model's cold starts count in: all models, and those of its size."""
    cmus = model_cmus(config, state)
    return ["all"] + ([f"cmu{cmus}"] if cmus else [])


def fleet_prior(config: ModelConfig, state: ModelState, loads: Mapping[str, FleetLoads],
                settings: Settings) -> Optional[Prior]:
    """The prior the fleet gives this model: models of its size if enough of theirs were
    measured, else all models; None while the fleet has too few.

    The fleet moves the prior's median, never its spread below the operator's default
    (``prior_load_sigma``): the cold starts pooled are those that could be timed, not a
    fair draw of the next model's (a held call's load shorter than the read timeout, one
    timed across an unpolled wait, are left out), and a prior narrower than the loads of a
    new model makes its first leads confidently short."""
    for group in reversed(load_groups(config, state)):
        totals = loads.get(group)
        if totals is not None and totals.count >= FLEET_MIN_SAMPLES:
            pooled = pooled_prior(totals.count, totals.total, totals.squares, settings.prior_weight,
                                  f"fleet {group}: {totals.count} cold starts")
            if pooled is not None and pooled.sigma < settings.prior_load_sigma:
                pooled = replace(pooled, sigma=settings.prior_load_sigma)
            return pooled
    return None


def typical_load(config: ModelConfig, state: ModelState, settings: Settings) -> timedelta:
    """The model's median load time as far as it is known (its samples over the prior)."""
    exact, bounds = load_samples(config, state, settings)
    fitted = fit(exact, bounds, prior_of(state, settings))
    return timedelta(seconds=math.exp(fitted.mu))


def load_samples(config: ModelConfig, state: ModelState,
                 settings: Settings) -> tuple[tuple[float, ...], tuple[tuple[float, float], ...]]:
    """The model's cold starts as what they prove now: the exact ones and the bounds.

    A cold start timed across a held-back ready-check's unpolled wait (``cold_starts_unpolled``)
    is exact only while no release known allows the trigger's copy to have loaded, idled
    past it and gone unseen in that wait (``_ambiguous``); once one does (this model's or
    its region's), it is a bound: ended by its seconds, and after nothing but the trigger's
    answer. So a first window's long "load" that was really a load, a release and a second
    load stops holding the lead up once the short release is learned."""
    exact = list(state.cold_starts)
    bounds = list(state.cold_start_bounds)
    for seconds, unpolled in state.cold_starts_unpolled:
        if _ambiguous(unpolled, config, state, settings):
            bounds.append((0.0, seconds))
        else:
            exact.append(seconds)
    return tuple(exact), tuple(bounds)


def prewarm_lead(config: ModelConfig, state: ModelState, settings: Settings) -> timedelta:
    """How early the first call of a window goes out (the load trigger).

    The predictive percentile of the model's next load time, from its own cold starts over
    the prior (leads.fit: a model with few samples gets a longer lead, not a confident
    one), plus the poll interval (the measurement's resolution) and a margin for queue
    latency. A bounded sample (only known to be shorter than some time) never lowers the
    lead below what the exact samples give, nor does anything lower it below the longest
    load seen (exact, or a bounded one's low end: still loading then), so one load much
    slower than predicted moves the next opening's lead to cover it. For a billing-aware
    model the lead errs long (its bill starts at the held ready-check, not at the load);
    a copy that loads early must not idle past its release before the check reaches it,
    which ``ready_check_at`` sees to by moving the check earlier, never by shortening
    the lead."""
    prior = prior_of(state, settings)
    pct = settings.held_lead_percentile if config.billing_aware_prewarm else settings.lead_percentile
    samples, bounds = load_samples(config, state, settings)
    exact = fit(samples, (), prior)
    # The longest load known to have happened: an exact one, or a bounded one's low end (the
    # copy was still loading then).
    longest = max([*samples, *(low for low, _ in bounds)], default=0.0)
    load = max(upper_quantile(exact, pct), upper_quantile(fit(samples, bounds, prior), pct), longest)
    seconds = min(settings.lead_max_seconds, load + settings.poll_seconds + settings.lead_margin_seconds)
    return timedelta(seconds=math.ceil(seconds))  # whole seconds: calls go out on the second


def ready_check_at(config: ModelConfig, state: ModelState, hold: Hold, settings: Settings,
                   trigger: Optional[datetime] = None) -> Optional[datetime]:
    """When a billing-aware pre-warm's first call that can succeed goes out; None for a
    model that is not billing-aware.

    Bedrock bills a copy in 5-minute windows from its first successful call, so the check
    is held back until ``ready_check_margin_seconds`` before the open, the least bill
    whoever calls in the window (chalicelib.billing.ready_check), leaving the margin for a
    load still running to finish under polls. But a copy that
    loaded as fast as the model's loads go (from ``trigger``, the load's first call:
    the hold's start unless given) must not idle longer than the keep-alive in force
    (the idle gap trusted not to lose it) before the check reaches it: when the lead is
    long against the release, the check goes out earlier and bills a little more, rather
    than the copy being gone at the open."""
    if not config.billing_aware_prewarm:
        return None
    least = timedelta(seconds=settings.ready_check_margin_seconds)
    if hold.cut:
        return hold.open - least
    keepalive = timedelta(minutes=keepalive_in_force(config, state))
    return min(ready_check(hold.open, least=least), (trigger or hold.start) + fast_load(state, settings) + keepalive)


def fast_load(state: ModelState, settings: Settings) -> timedelta:
    """A load as fast as the model's loads go: the 5th percentile of its exact ones (over
    the prior), those timed across an unpolled wait left out (see ``load_samples``)."""
    exact = fit(state.cold_starts, (), prior_of(state, settings))
    return timedelta(seconds=math.exp(exact.mu - 1.645 * exact.sigma))


def _region_prior(state: ModelState) -> Optional[float]:
    """The region's shortest idle gap found cold, unless the model learned its own, a probe
    of it saw a copy survive an idle gap at least that long, or the operator set its
    keep-alive or release. A warm answer after a gap does not waive it: the model's users
    (whom keepwarm cannot see) may have kept the copy loaded meanwhile, where a probe runs
    only while no window or lease holds the model."""
    region = state.region_release_minutes
    if region is None or state.learned_keepalive_minutes is not None or state.region_prior_waived:
        return None
    probe = state.probe
    if probe is not None and probe.status == probing.DONE and (probe.held_minutes or 0) >= region:
        return None
    return region


def keepalive_below(gap_minutes: float) -> int:
    """The keep-alive after a copy was found released within ``gap_minutes`` of the last
    success: a third of that gap (at least a minute). Where in the gap the release fell is
    unknown, and a keep-alive costs one token where another cold start costs a load of a
    user's time: a third keeps the next keep-alive below any release that the gap and a
    factor of three leave plausible, so one cold start teaches it."""
    return max(1, math.floor(gap_minutes / 3))


def keepalive_in_force(config: ModelConfig, state: ModelState) -> int:
    learned = state.learned_keepalive_minutes
    region = _region_prior(state)
    if learned is None and region is not None:
        learned = keepalive_below(region)
    return min(config.keepalive_minutes, learned) if learned else config.keepalive_minutes


def release_in_force(config: ModelConfig, state: ModelState) -> int:
    learned = state.learned_release_minutes
    region = _region_prior(state)
    if learned is None and region is not None:
        learned = max(keepalive_below(region) + 1, math.floor(region))
    return min(config.release_minutes, learned) if learned else config.release_minutes


def warm_latency_ms(state: ModelState) -> tuple[Optional[int], Optional[int]]:
    """The model's warm latency: p50 and p95 (ms) of its recent warm one-token answers."""
    samples = tuple(float(x) for x in state.warm_latencies_ms)
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    return (int(p50) if p50 is not None else None), (int(p95) if p95 is not None else None)


def cold_answer_seconds(state: ModelState) -> float:
    """An answer slower than this met a cold copy (see COLD_ANSWER_FLOOR_SECONDS)."""
    _, p95 = warm_latency_ms(state)
    return max(COLD_ANSWER_FLOOR_SECONDS, COLD_ANSWER_FACTOR * (p95 or 0) / 1000)


def evidence_of(outcome: str, elapsed_seconds: float, state: ModelState) -> str:
    """What an answer that took ``elapsed_seconds`` proves about a copy (WARM, COLD or
    NO_EVIDENCE)."""
    if outcome == NOT_READY:
        return COLD
    if outcome in ANSWERED:
        return COLD if elapsed_seconds > cold_answer_seconds(state) else WARM
    return NO_EVIDENCE


def is_warm(config: ModelConfig, state: ModelState, at: datetime) -> bool:
    """A copy is assumed loaded until the release time after the last success."""
    return (
        state.status == "warm"
        and state.last_success_at is not None
        and at < state.last_success_at + timedelta(minutes=release_in_force(config, state))
    )


def display_status(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> str:
    """The status as a user should read it now: a copy past its release time is cold, and
    so is a model whose cold start nobody polls any more (paused, or under a cold override)."""
    if state.status == "warm" and not is_warm(config, state, now):
        return "cold"
    if state.status == "warming" and not _chain_alive(state, now, settings):
        return "cold"
    return state.status


def drop_claim(state: ModelState) -> ModelState:
    """Forget a queued call (the plan changed, or its message was lost). A cold start in
    progress is kept: the next call continues its measurement if it comes soon enough
    (see ``_chain_alive``), so a lease or a PUT while a model loads does not restart it."""
    return replace(state, pending=None)


def next_call(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> Optional[Action]:
    """The next call the model's holds ask for, at or after ``now``; None if none ever will.

    A call at ``c`` keeps the model safely loaded until ``c + keepalive``. The next call
    goes out when that cover runs out inside a hold, except that the last call of a hold
    goes out as early as still covers the hold to its close (``close - keepalive``), so
    the copy is released as soon after the close as the release rule allows. Ignores any
    pending claim: the caller decides whether a claim still stands."""
    require_aware(now, "now")
    if not config.enabled:
        return None
    lead = prewarm_lead(config, state, settings)
    probe_at = probing.next_call_at(config, state, now, lead)
    if probe_at is not None:  # a probe runs only where no hold does (chalicelib.probe)
        return Action("probe", probe_at)
    keepalive = timedelta(minutes=keepalive_in_force(config, state))

    covered = now  # the first instant from now on that no earlier call covers
    if state.error is not None and state.verify_requested_at is not None:
        # Asked to verify (a lease, a PUT): only an answer clears an error, so call now.
        covered = max(now, state.verify_requested_at)
    elif state.status == "error" and state.error_at is not None:
        if state.error_kind == "fatal":
            # Denied or gone: not again in the hold that failed (no hot loop); the next one.
            failed = next_hold(config, state, state.error_at, lead)
            if failed is not None and failed.start <= state.error_at:
                covered = max(now, failed.close)
        else:
            covered = max(now, state.error_at + keepalive)
    elif is_warm(config, state, now):
        covered = max(now, state.last_success_at + keepalive)  # type: ignore[operator]

    hold = next_hold(config, state, covered, lead)
    if hold is None:
        return None
    # The tight end, where the hold really closes (a cut hold goes on past its close).
    last = hold.close if hold.cut else hold.close - keepalive
    at = max(now, hold.start, min(covered, last))
    if at < hold.open:
        if state.ready_check_at is not None and _chain_alive(state, at, settings):
            # The load is under way and its held-back ready-check still to come: that is
            # the next call, placed for the hold as it is now (a PUT may have moved the
            # window or the keep-alive since the trigger) and sent at once when overdue
            # (its message was lost), so that it is read as the check it is.
            check = ready_check_at(config, state, hold, settings, trigger=state.warming_since)
            if check is not None:
                return Action("ready_check", max(at, check))
        return Action("prewarm", at)
    return Action("keepalive" if is_warm(config, state, at) else "warmup", at)


def wanted(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> bool:
    """Whether a call at ``now`` still serves the model: inside one of its holds.

    The worker asks before every call, so a late message, a poll chain running past a
    window's close or a model paused meanwhile never calls outside them."""
    lead = prewarm_lead(config, state, settings)
    return config.enabled and (in_hold(config, state, now, lead) or probing.wants(config, state, now, lead))


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
    """The model's next state after ``action`` was answered with ``result``.

    Every answer is read for what it proves (``evidence_of``): a quick answer from a loaded
    copy is warm, and teaches the warm latency and, after an idle gap, that the gap was
    safe; a 429, a read timeout or an answer far beyond the warm latency met a cold copy,
    which, from a model believed warm, is an unexpected cold start that teaches the release
    time, and which, answered, is an exact cold start from the call."""
    elapsed = (answered_at - called_at).total_seconds()
    evidence = evidence_of(result.outcome, elapsed, state)
    events = [Event(answered_at, "call", {
        "action": action.kind, "attempt": action.attempt, "outcome": result.outcome,
        "code": result.code, "latency_ms": result.latency_ms or round(elapsed * 1000), "evidence": evidence,
    })]
    # A verification asked for is made by this call (its retries follow up on their own).
    base = replace(state, last_call_at=called_at, pending=None, verify_requested_at=None)
    follow: Optional[Pending] = None

    if result.outcome in ANSWERED:
        # last_success_at: the last answer from a loaded copy, which is what holds it.
        believed = is_warm(config, state, called_at)
        chained = _chain_alive(state, called_at, settings)
        held_copy = believed and evidence == WARM
        if believed and evidence == COLD and not chained:
            base, event = learn_from_unexpected_cold(config, base, called_at)
            events.append(event)
        elif evidence == WARM and not chained and state.status == "warm":
            # A copy answered warm after an idle gap (past the assumed release, too): the
            # gap was safe.
            base = learn_from_warm(config, base, called_at)
        if evidence == WARM and result.outcome == READY:
            base = replace(base, warm_latencies_ms=(*state.warm_latencies_ms, round(elapsed * 1000))[
                -WARM_LATENCY_SAMPLES:])
        new = replace(base, status="warm", last_success_at=answered_at, warming_since=None,
                      ready_check_at=None, warming_proven_until=None, warming_unpolled_seconds=None,
                      warm_since=state.warm_since if held_copy and state.warm_since else answered_at)
        if result.outcome == READY:
            new = replace(new, error=None, error_kind=None, error_at=None)
        since = state.warming_since if chained else None
        held = since is None and evidence == COLD
        if held:
            since = called_at
            events.append(Event(called_at, "cold", {"action": action.kind, "held": True}))
        if since is not None:
            seconds = (answered_at - since).total_seconds()
            # A held answer came the instant the copy was ready: exact, from the first call
            # (a held-back check after the unpolled wait is not: see _ambiguous_wait).
            unpolled: Optional[float] = None  # an unpolled wait this exact sample spans
            if held:
                after = None
            elif state.warming_proven_until is not None:  # an ambiguous check came before
                after = max(0.0, (state.warming_proven_until - since).total_seconds())
            elif evidence == COLD and not _ambiguous_wait(action, config, state, called_at, settings):
                after = None
                unpolled = _unpolled_wait(action, state, called_at, settings) or state.warming_unpolled_seconds
            else:
                after = _bounded_after(state, since, called_at, settings)
                unpolled = state.warming_unpolled_seconds if after is None else None
            new = new.with_cold_start(seconds, after, unpolled)
            detail: dict = {"seconds": round(seconds, 3), "exact": after is None}
            if after is not None:
                detail["after_seconds"] = round(after, 3)
            if unpolled is not None:
                # Exact while no release shorter than the wait is learned (load_samples).
                detail["unpolled_seconds"] = round(unpolled, 3)
            if held:
                # Only a load shorter than the read timeout ends this way: exact for the
                # model, but a biased sample of the fleet's loads, which it does not join.
                detail["held"] = True
            events.append(Event(answered_at, "cold_start", detail))
        if not held_copy:
            # A copy keepwarm did not hold answered: the model became warm.
            events.append(Event(answered_at, "warm", {"action": action.kind}))
        if result.outcome == READY and (not held_copy or state.error is not None):
            # A copy answered and its calls succeed: every batch job waiting on a lease may start.
            events.extend(Event(answered_at, "lease_ready", {"lease": lease.id, "holder": lease.holder})
                          for lease in state.leases if lease.expires_at > answered_at)
        if state.error is not None and result.outcome == READY:
            events.append(Event(answered_at, "error_cleared", {"error": state.error}))
        if result.outcome == MODEL_ERROR:
            # Not retried: the next keep-alive, due as after a success, tries again.
            reason = f"{result.code}: {result.message}"
            new = replace(new, error=reason, error_kind=MODEL_ERROR, error_at=answered_at)
            if state.error_kind != MODEL_ERROR:
                events.append(Event(answered_at, "model_error", {"reason": reason}))
    elif result.outcome == NOT_READY:
        # Not ready when answered (a held call's 429, a read timeout): the load ran at least
        # until then, which is what the next answer's cold start is bounded by.
        base = replace(base, last_call_at=answered_at)
        continuing = _chain_alive(state, called_at, settings)
        if not continuing and is_warm(config, state, called_at):
            base, event = learn_from_unexpected_cold(config, base, called_at)
            events.append(event)
        since = state.warming_since if continuing and state.warming_since else called_at
        unpolled = _unpolled_wait(action, state, called_at, settings) if continuing else None
        waited_unpolled = (unpolled or state.warming_unpolled_seconds) if continuing else None
        # A load is judged stuck by the time it was watched: a held-back check's unpolled
        # wait (by design as long as the lead) is no sign of it, and may hold a new load.
        waited = (answered_at - since).total_seconds() - (waited_unpolled or 0.0)
        if waited > settings.max_cold_start_seconds:
            reason = f"model did not become ready within {settings.max_cold_start_seconds} s"
            new = replace(base, status="error", warming_since=None, ready_check_at=None, error=reason,
                          error_kind="transient", error_at=answered_at)
            events.append(Event(answered_at, "error", {"reason": reason}))
        else:
            poll_at = answered_at + timedelta(seconds=settings.poll_seconds)
            check = None if continuing else _held_check(config, state, called_at, settings)
            if not continuing:
                proven = None
            elif unpolled is not None and _ambiguous(unpolled, config, state, settings):
                proven = state.last_call_at
            else:
                proven = state.warming_proven_until
            new = replace(base, status="warming", warming_since=since, warming_proven_until=proven,
                          warming_unpolled_seconds=waited_unpolled,
                          ready_check_at=check if check is not None and check > poll_at else None)
            detail = {"action": action.kind}
            if new.ready_check_at is not None:
                detail.update(ready_check_at=iso(new.ready_check_at), why=(
                    "billing starts at the first successful call: the load started now, the first call "
                    "that can succeed is held until just before the window opens"))
            if not continuing:
                events.append(Event(answered_at, "cold", detail))
            follow = (Pending(new_action_id(), "ready_check", new.ready_check_at) if new.ready_check_at
                      else Pending(new_action_id(), "poll", poll_at))
    elif result.outcome in RETRIED:
        attempt = action.attempt + 1
        if attempt >= settings.max_attempts:
            reason = f"{result.code}: gave up after {attempt} attempts ({result.message})"
            new = replace(base, status="error", warming_since=None, ready_check_at=None, error=reason,
                          error_kind="transient", error_at=answered_at)
            events.append(Event(answered_at, "error", {"reason": reason}))
        else:
            new = base
            follow = Pending(new_action_id(), action.kind,
                             answered_at + timedelta(seconds=backoff_seconds(attempt, settings)),
                             attempt=attempt)
    else:
        reason = f"{result.code}: {result.message}"
        new = replace(base, status="error", warming_since=None, ready_check_at=None, error=reason,
                      error_kind="fatal", error_at=answered_at)
        events.append(Event(answered_at, "error", {"reason": reason}))

    return Decision(with_next_due(config, replace(new, pending=follow), answered_at, settings),
                    follow, tuple(events))


def _held_check(config: ModelConfig, state: ModelState, called_at: datetime,
                settings: Settings) -> Optional[datetime]:
    """The held-back ready-check for a load triggered at ``called_at`` before its hold
    opens (None: not billing-aware, or the hold is already open)."""
    hold = next_hold(config, state, called_at, prewarm_lead(config, state, settings))
    if hold is None or called_at >= hold.open or (state.probe is not None and state.probe.running):
        # A probe's load is timed by polls, not held back for the next window.
        return None
    return ready_check_at(config, state, hold, settings, trigger=called_at)


def _unpolled_wait(action: Pending, state: ModelState, called_at: datetime, settings: Settings) -> Optional[float]:
    """The seconds this held-back ready-check reaches its load unpolled since the trigger's
    answer; None for any other call, or one within a poll interval (as _bounded_after's)."""
    if action.kind != "ready_check" or state.last_call_at is None:
        return None
    unpolled = (called_at - state.last_call_at).total_seconds()
    return unpolled if unpolled > settings.poll_seconds * 1.5 + 2 else None


def _ambiguous(unpolled: float, config: ModelConfig, state: ModelState, settings: Settings) -> bool:
    """Whether an unpolled wait of ``unpolled`` seconds may have lost the trigger's copy.

    Once a copy of this model (or of its region) was found gone sooner than the configured
    release, the release is known only to lie somewhere below the shortest gap found cold,
    and the planner trusts no idle gap longer than the keep-alive in force (the same rule
    that places the held-back check: ``ready_check_at``). A wait that would have left even
    a fast load's copy (``fast_load``) idle longer than that, beyond a poll's resolution,
    may have: the load it timed may be a load, a release and a second load. With no such
    evidence the configured release is trusted, as everywhere else."""
    known = [m for m in (state.learned_release_minutes, state.release_found_cold_minutes, _region_prior(state))
             if m is not None]
    if not known:
        return False
    resolution = settings.poll_seconds * 1.5 + 2  # as _bounded_after's
    # The keep-alive's own interval is trusted (the check was placed by it), a gap found
    # cold never.
    trusted = min(keepalive_in_force(config, state) * 60 + resolution, min(known) * 60 - resolution)
    return unpolled - fast_load(state, settings).total_seconds() > trusted


def _ambiguous_wait(action: Pending, config: ModelConfig, state: ModelState, called_at: datetime,
                    settings: Settings) -> bool:
    """Whether this call is a held-back ready-check that reaches a model unpolled since its
    load trigger for longer than a release the evidence allows (``_ambiguous``). Finding it
    not ready (a 429, or a held answer) then proves a load is running, but not that it is
    the trigger's: this call may have started another, and the cold start is known only to
    have ended after the trigger's answer and by this one. With no such evidence the wait
    measures the trigger's load (a slow load must teach the lead), recorded with the wait
    so that a release learned later can still make it a bound (``load_samples``)."""
    unpolled = _unpolled_wait(action, state, called_at, settings)
    return unpolled is not None and _ambiguous(unpolled, config, state, settings)


def _bounded_after(state: ModelState, since: datetime, called_at: datetime,
                   settings: Settings) -> Optional[float]:
    """None when this answer ends a cold start measured to a poll interval (the previous
    call, a poll, found it not ready just before); else the seconds after which the copy
    is known to have been ready at the soonest: the previous call still found it loading."""
    previous = state.last_call_at
    if previous is None or called_at - previous <= timedelta(seconds=settings.poll_seconds * 1.5 + 2):
        return None
    return max(0.0, (previous - since).total_seconds())


def _chain_alive(state: ModelState, called_at: datetime, settings: Settings) -> bool:
    """Whether this call continues the cold start in progress: polls and retries follow
    each other within the longest backoff, or a claim's expiry and the next tick when a
    poll was lost. A cold start whose polling stopped long ago is no measure of this one."""
    end = chain_end(state, settings)
    return end is not None and called_at <= end


def chain_end(state: ModelState, settings: Settings) -> Optional[datetime]:
    """The last instant a call still continues the cold start in progress (see
    ``_chain_alive``); None when none is in progress."""
    if state.status != "warming" or state.warming_since is None or state.last_call_at is None:
        return None
    limit = timedelta(seconds=max(settings.backoff_max_seconds, settings.claim_timeout_seconds)
                      + settings.poll_seconds + 2 * 60)
    # A held-back ready-check keeps the chain alive until it is due, however long the hold.
    return max(state.last_call_at, state.ready_check_at or state.last_call_at) + limit


def learn_from_unexpected_cold(config: ModelConfig, state: ModelState, at: datetime) -> tuple[ModelState, Event]:
    """A call found the model cold though it should still have been loaded.

    The copy was released sooner than assumed, somewhere within ``gap`` of the last
    success. The keep-alive drops at once below that gap (``keepalive_below``: a third of
    it, and below the keep-alive in force), not by halves over several cold starts, and
    the gap is the new release estimate. Every gap proven safe before is forgotten: a warm
    answer proves its gap only if nobody else called the copy meanwhile, which keepwarm
    cannot see (users keep copies of business-hours models loaded), and the cold start is
    the newer evidence. Recovery then needs new proof (``learn_from_warm``)."""
    gap = (at - state.last_success_at).total_seconds() / 60  # type: ignore[operator]
    before = keepalive_in_force(config, state)
    after = max(1, min(before - 1, keepalive_below(gap)))
    release = max(after + 1, min(release_in_force(config, state), math.floor(gap)))
    reason = (f"shortened from {before} to {after} min: a call {gap:.1f} min after the "
              f"last success found the model cold at {iso(at)}")
    found = state.release_found_cold_minutes
    learned = replace(state, learned_keepalive_minutes=after, learned_release_minutes=release,
                      keepalive_reason=reason, release_found_cold_minutes=round(min(gap, found or gap), 3),
                      release_proven_minutes=None)
    return learned, Event(at, "unexpected_cold", {
        "gap_seconds": round(gap * 60, 3), "keepalive_minutes_before": before,
        "keepalive_minutes_after": after, "release_minutes_assumed": release})


def learn_from_warm(config: ModelConfig, state: ModelState, at: datetime) -> ModelState:
    """A copy answered warm ``at``, after an idle gap since the last success: that gap is
    proven safe.

    The recovery rule: a keep-alive shortened by a cold start (or set by a probe) grows
    back to a minute inside the longest gap proven safe, and once that reaches the
    configured keep-alive, what was learned is forgotten. A gap found cold that a longer
    proven gap contradicts (the platform changed, or it was not the release) is forgotten
    too. Keep-alives themselves prove only their own interval, so growth needs calls
    further apart (``keepwarm probe``, a lease after a pause), each counted up to
    PROOF_RELEASES configured release times."""
    if state.last_success_at is None:
        return state
    gap = (at - state.last_success_at).total_seconds() / 60
    if gap > PROOF_RELEASES * config.release_minutes:
        # A copy found after a longer silence was more likely kept by other callers (or
        # loaded by them) than left idle all that time: it proves nothing about idling.
        return state
    proven = max(gap, state.release_proven_minutes or 0.0)
    found = state.release_found_cold_minutes
    learned = replace(state, release_proven_minutes=round(proven, 3),
                      release_found_cold_minutes=found if found is None or proven < found else None)
    keepalive = state.learned_keepalive_minutes
    grown = math.floor(proven) - 1
    if keepalive is None or grown <= keepalive:
        return learned
    if grown >= config.keepalive_minutes:
        return replace(learned, learned_keepalive_minutes=None, learned_release_minutes=None,
                       release_found_cold_minutes=None,
                       keepalive_reason=f"back to {config.keepalive_minutes} min: a copy answered warm "
                                        f"after {gap:.1f} idle min at {iso(at)}")
    release = max(state.learned_release_minutes or 0, grown + 1)
    return replace(learned, learned_keepalive_minutes=grown,
                   learned_release_minutes=release if release < config.release_minutes else None,
                   keepalive_reason=f"grown from {keepalive} to {grown} min: a copy answered warm "
                                    f"after {gap:.1f} idle min at {iso(at)}")


def with_next_due(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> ModelState:
    """Set the time the tick should next look at this model (None: never, until changed).

    A model with nothing to do within the schedule's horizon (a window once a year, or on
    29 February) is looked at again after REPLAN_AFTER, so that its window is found in time.
    A probe that a hold, an override or a pause takes the model back from ends here."""
    if state.probe is not None and state.probe.running:
        state = probing.settled(config, state, now, prewarm_lead(config, state, settings))
    if state.pending is not None:
        due: Optional[datetime] = state.pending.at + timedelta(seconds=settings.claim_timeout_seconds)
    else:
        action = next_call(config, state, now, settings)
        due = action.at if action else (now + REPLAN_AFTER if config.enabled else None)
        # The tick also looks at a model when one of its leases ends, to tell that it did,
        # and after a window closes, to record how ready it was (chalicelib.readiness).
        ends = (lease.expires_at for lease in state.leases if not lease.expiry_told)
        judge = window_to_judge(config, state, now)
        closes = (judge.close + JUDGE_AFTER,) if judge is not None else ()
        due = min((d for d in (due, *ends, *closes) if d is not None), default=None)
    return replace(state, next_due_at=due)


def window_to_judge(config: ModelConfig, state: ModelState, now: datetime) -> Optional[Interval]:
    """The first schedule window whose readiness is not recorded yet (None: paused, or no
    window to come). Only windows that open after the last judged close (or, before any,
    the registration) are the model's to judge: one already open when the model was
    registered or resumed was not warmed for its open."""
    if not config.enabled:
        return None
    judged = max((t for t in (state.readiness_until, config.created_at) if t is not None), default=None)
    window = next_window(config, max(judged, now - JUDGE_LOOKBACK) if judged else now - JUDGE_LOOKBACK)
    if window is not None and judged is not None and window.open <= judged:
        window = next_window(config, window.close)
    return None if window is None or window.cut else window


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
