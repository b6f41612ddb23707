"""What the API answers with: a model as ``GET /models/{model}`` shows it (its state, leases,
pre-warm, request format, verification), a lease, a preview's window, and what a model's
schedule costs over some days (:func:`schedule_cost`, which ``/fleet`` prices with too).
Read-only: from a stored model, the settings and ``now``; nothing here checks a request or
writes.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Optional

from chalicelib import costs, readiness
from chalicelib import probe as probing
from chalicelib.bedrock import format_in_use
from chalicelib.budget import budget
from chalicelib.planner import (
    MODEL_ERROR,
    PLANNING_ERRORS,
    Action,
    cold_answer_seconds,
    display_status,
    is_warm,
    keepalive_in_force,
    load_samples,
    next_action,
    percentile,
    prewarm_lead,
    prior_of,
    ready_check_at,
    release_in_force,
    typical_load,
    warm_latency_ms,
)
from chalicelib.records import ImportedModel, Lease, Model, ModelConfig, ModelState, Override, iso
from chalicelib.schedule import Interval
from chalicelib.settings import Settings
from chalicelib.timeline import current_window, next_hold, window_intervals

# -- a model and its leases --------------------------------------------------------------
def expected_ready_at(model: Model, now: datetime, settings: Settings) -> datetime:
    """When a call made now is expected to find the model ready, from its cold starts."""
    config, state = model.config, model.state
    if is_warm(config, state, now):
        return now
    typical = typical_load(config, state, settings)
    if state.status == "warming" and state.warming_since is not None:
        return max(now + timedelta(seconds=settings.poll_seconds), state.warming_since + typical)
    return now + typical


def _override_in_force(state: ModelState, now: datetime) -> Optional[Override]:
    return state.override if state.override is not None and now < state.override.until else None


def lease_blocker(model: Model, now: datetime) -> Optional[str]:
    """Why no lease can warm the model now, and how to lift it; None if a lease can.

    A paused model is never called, and a cold override suppresses every hold until it
    ends: a lease taken then would promise a readiness that never comes."""
    override = _override_in_force(model.state, now)
    if not model.config.enabled:
        return (f"{model.name} is paused (enabled: false); PUT /models/{model.name} with "
                '{"enabled": true} resumes it')
    if override is not None and override.state == "cold":
        return (f"a cold override keeps {model.name} cold until {iso(override.until)}; "
                f"DELETE /models/{model.name}/override ends it")
    return None


def lease_view(model: Model, lease: Lease, now: datetime, settings: Settings) -> dict[str, Any]:
    config, state = model.config, model.state
    active = now < lease.expires_at
    blocked = lease_blocker(model, now) if active else None
    promised = active and blocked is None
    status = display_status(config, state, now, settings)
    error = shown_error(state, status)
    return {
        "id": lease.id, "model": model.name, "holder": lease.holder,
        "created_at": iso(lease.created_at), "expires_at": iso(lease.expires_at), "active": active,
        "ready": promised and is_ready(config, state, now), "status": status,
        # A model in error is ready at no time anyone can foresee: none is promised.
        "expected_ready_at": iso(expected_ready_at(model, now, settings)) if promised and status != "error" else None,
        "blocked": blocked,
        "error": error,
        # When the error was last answered, and when a call verifies it again: a waiting
        # batch job gives up once an answer after its lease confirms the error.
        "error_at": iso(state.error_at) if error else None,
        "verify_at": iso(state.verify_requested_at) if error and state.verify_requested_at else None,
    }


def is_ready(config: ModelConfig, state: ModelState, now: datetime) -> bool:
    """A copy is loaded as far as its last answer shows, and its calls succeed."""
    return is_warm(config, state, now) and state.error is None


def shown_error(state: ModelState, status: str) -> Optional[str]:
    """The error a user should see: the model's, in status error; and a failing container's
    (ModelErrorException) while the model is warm, since its calls fail all the same."""
    return state.error if status == "error" or state.error_kind == MODEL_ERROR else None


def view(model: Model, now: datetime, settings: Settings) -> dict[str, Any]:
    config, state = model.config, model.state
    samples, bounds = load_samples(config, state, settings)
    status = display_status(config, state, now, settings)
    error = shown_error(state, status)
    try:
        with budget(settings.plan_budget_seconds):
            action = next_action(config, state, now, settings)
            window_open = config.enabled and current_window(config, now) is not None
            prewarm = prewarm_view(config, state, now, settings)
    except PLANNING_ERRORS as err:
        # A stored model must always be viewable; the planning failure is its error.
        action, window_open, prewarm = None, False, None
        status, error = "error", f"planning failed ({type(err).__name__}: {str(err)[:300]})"
    override = _override_in_force(state, now)
    return {
        **config.to_item(),
        "state": {
            "status": status,
            "ready": is_ready(config, state, now),
            "window_open": window_open,
            "last_success_at": iso(state.last_success_at),
            "last_call_at": iso(state.last_call_at),
            "warming_since": iso(state.warming_since),
            "next_action": {"kind": action.kind, "at": iso(action.at)} if action else None,
            "error": error,
            "keepalive_minutes_in_force": keepalive_in_force(config, state),
            "release_minutes_assumed": release_in_force(config, state),
            "keepalive_reason": state.keepalive_reason,
            "release_learning": {
                "found_cold_after_minutes": state.release_found_cold_minutes,
                "proven_safe_minutes": state.release_proven_minutes,
                "region_found_cold_after_minutes": state.region_release_minutes,
            },
            "warm_latency": warm_latency_view(state),
            "prewarm_lead_seconds": prewarm_lead(config, state, settings).total_seconds(),
            "prewarm": prewarm,
            "cold_starts": {
                "count": state.cold_start_count,
                "exact": len(samples),
                "bounded": len(bounds),
                "last_seconds": samples[-1] if samples else None,
                "p50_seconds": percentile(samples, 50),
                "p95_seconds": percentile(samples, 95),
                "typical_seconds": round(typical_load(config, state, settings).total_seconds(), 1),
                "prior": prior_of(state, settings).source,
            },
            "leases": [lease_view(model, lease, now, settings)
                       for lease in state.leases if lease.expires_at > now],
            "override": override.to_item() if override else None,
            "verification": verification_view(state, action),
            "request_format": request_format_view(config, state),
            "probe": probing.view(state.probe, config),
        },
        "readiness": readiness.view(state, now),
    }


def warm_latency_view(state: ModelState) -> dict[str, Any]:
    """A loaded copy's one-token answer time, learned from recent warm answers, and the
    answer time beyond which an answer is read as a cold copy (planner.evidence_of)."""
    p50, p95 = warm_latency_ms(state)
    return {"p50_ms": p50, "p95_ms": p95, "samples": len(state.warm_latencies_ms),
            "cold_above_ms": round(cold_answer_seconds(state) * 1000)}


def prewarm_view(config: ModelConfig, state: ModelState, now: datetime, settings: Settings) -> Optional[dict[str, Any]]:
    """The next pre-warm: when the load is triggered, when (if the model is billing-aware)
    the first call that can succeed goes out, and when the window opens; None when the
    next hold is already open, or none comes."""
    lead = prewarm_lead(config, state, settings)
    hold = next_hold(config, state, now, lead) if config.enabled else None
    if hold is None or hold.open <= now:
        return None
    check = ready_check_at(config, state, hold, settings)
    why = ("billing starts at the first successful call: the load is triggered at load_at, and the first "
           "call that can succeed is held until ready_check_at, just before the open: every minute billed "
           "before the open is paid for once users call") if check else (
        "the first call triggers the load and the model is polled until ready")
    return {"billing_aware": config.billing_aware_prewarm, "load_at": iso(hold.start),
            "ready_check_at": iso(check), "opens_at": iso(hold.open), "why": why}


def request_format_view(config: ModelConfig, state: ModelState) -> dict[str, Any]:
    """The body the next call sends and why; with request_format auto, also whether the
    model has accepted it and which bodies it refused."""
    in_use, why = format_in_use(config, state)
    auto = config.request_format == "auto"
    return {"in_use": in_use, "why": why, "accepted": state.format_confirmed is not None if auto else None,
            "refused": list(state.formats_refused)}


def verification_view(state: ModelState, action: Optional[Action]) -> dict[str, Any]:
    """Whether Bedrock confirmed the model exists, what it said about it, and, for a model
    registered while the control plane did not answer, why not and when it is checked
    again: by the worker, just before the model's next call."""
    imported = state.imported or ImportedModel()
    verified = state.verified_at is not None
    return {
        "status": "verified" if verified else "unverified",
        "checked_at": iso(state.verified_at),
        "reason": None if verified else state.unverified_reason,
        "next_check_at": None if verified or action is None else iso(action.at),
        "architecture": imported.architecture,
        "imported_at": iso(imported.created_at),
        "instruct_supported": imported.instruct_supported,
        "custom_model_units": imported.custom_model_units,
    }



# -- a preview's window, and what a schedule costs ---------------------------------------
def _interval_view(interval: Interval, end: datetime) -> dict[str, Any]:
    """A window as a preview shows it. One that goes on past where the schedule's merging
    stopped (an always-on schedule) has no close to show: that instant is a planning cut
    point, not a close, so it is open-ended and said to be open still at the preview's end."""
    if interval.cut:
        return {"open": iso(interval.open), "close": None, "still_open_at": iso(end)}
    return {"open": iso(interval.open), "close": iso(interval.close)}


def price_hint(config: ModelConfig, price: Optional[costs.Price]) -> Optional[str]:
    """Money is null without a price; the operator is told how to supply one."""
    if price is not None:
        return None
    return (f"no CMU-minute price is known for {config.region}: set KEEPWARM_CMU_PRICES to its USD price "
            "per CMU-minute from the Amazon Bedrock pricing page (Custom Model Import), "
            f"e.g. KEEPWARM_CMU_PRICES='{json.dumps({config.region: 0.0686})}'")


def holding(config: ModelConfig, state: ModelState, settings: Settings) -> dict[str, Any]:
    """How a projection holds the model: its lead, typical cold start and timings, and for
    a billing-aware model the margin its ready-check keeps before the open."""
    lead = prewarm_lead(config, state, settings)
    typical = percentile(load_samples(config, state, settings)[0], 50)
    if config.billing_aware_prewarm:
        # Billed from the held-back check, which the load has typically finished by: its
        # cold starts are mostly bounded by that check, so the fit over them says how long.
        margin: Optional[timedelta] = timedelta(seconds=settings.ready_check_margin_seconds)
        cold_start = timedelta(seconds=typical) if typical is not None else typical_load(config, state, settings)
    else:
        margin, cold_start = None, timedelta(seconds=typical) if typical is not None else lead
    return {"lead": lead, "cold_start": cold_start,
            "keepalive": timedelta(minutes=keepalive_in_force(config, state)),
            "release": timedelta(minutes=release_in_force(config, state)), "ready_check_margin": margin}


def held_windows(config: ModelConfig, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The window intervals keepwarm will hold over [start, end): none while the model is
    paused, which is never called and so never billed. Every projection (a model's cost,
    its month so far, the fleet's month) follows this one rule."""
    if not config.enabled:
        return []
    return [(i.open, i.close) for i in window_intervals(config, start, end)]


def schedule_cost(config: ModelConfig, state: ModelState, start: datetime, days: int, cmus: int,
                  settings: Settings) -> costs.CostEstimate:
    """What the model's schedule implies over ``days`` from ``start``: its windows, each
    held from the pre-warm to the copy's release, priced for its region (nothing while
    it is paused)."""
    price = costs.price_for(config.region, settings.price_overrides)
    return costs.estimate(
        held_windows(config, start, start + timedelta(days=days)),
        start=start, days=days, custom_model_units=cmus, price=price, **holding(config, state, settings))

