"""The billing-aware pre-warm's two rules, over random models, states and samples (hypothesis):

- a held-back ready-check is never after the open minus the margin (a load still running
  then has the margin to finish under polls before users arrive), whatever the windows,
  the zone, the state or the margin setting, and it is planned that way from the load
  trigger's answer;
- a censored cold start (only known to have ended somewhere in ``(low, high]``) never
  lowers the learned lead below what was observed: not below the lead the exact samples
  alone give, nor below the longest load known to have happened (an exact sample, or a
  bound's ``low``: the copy was still loading then), plus the poll and the margin.
"""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.leads import fit
from chalicelib.planner import (
    NOT_READY,
    CallResult,
    apply_outcome,
    keepalive_in_force,
    prewarm_lead,
    prior_of,
    ready_check_at,
)
from chalicelib.records import ModelConfig, ModelState, Pending
from chalicelib.settings import Settings
from chalicelib.timeline import next_hold
from test_properties import ARN, models

SETTINGS = Settings(table_name="t", queue_url="q")
PLAIN = ModelConfig(name="m", model_arn=ARN, timezone="UTC", windows=[{"start": "09:00", "stop": "17:00"}],
                    billing_aware_prewarm=False)
HELD = replace(PLAIN, billing_aware_prewarm=True)
seconds = st.floats(5, 1200, allow_nan=False)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(model=models(), margin=st.integers(0, 300))
def test_a_held_ready_check_is_never_after_the_open_minus_the_margin(model, margin):
    config, state, now = model
    config = replace(config, billing_aware_prewarm=True)
    state = replace(state, override=None, leases=())
    tuned = replace(SETTINGS, ready_check_margin_seconds=margin)
    lead = prewarm_lead(config, state, tuned)
    hold = next_hold(config, state, now, lead)
    assume(hold is not None)
    check = ready_check_at(config, state, hold, tuned)
    latest = hold.open - timedelta(seconds=margin)
    assert check is not None and check <= latest
    # No earlier than the margin and one billing window: the hold-back is not given away,
    # unless a copy loading as fast as the model's loads go would idle past the keep-alive.
    exact = fit(state.cold_starts, (), prior_of(state, tuned))
    idle_limit = hold.start + timedelta(seconds=math.exp(exact.mu - 1.645 * exact.sigma)) + timedelta(
        minutes=keepalive_in_force(config, state))
    assert check >= latest - timedelta(minutes=5) or check == idle_limit
    # And so it is planned when the load trigger, at the lead before the open, finds the model cold.
    trigger = max(hold.start, now)
    assume(trigger < hold.open)
    fresh = replace(state, status="cold", warming_since=None, last_call_at=None, pending=None)
    decision = apply_outcome(config, fresh, Pending("a", "prewarm", trigger), CallResult(NOT_READY, "ModelNotReadyException"),
                             trigger, trigger, tuned)
    assert decision.follow_up is not None
    assert decision.follow_up.at <= max(latest, trigger + timedelta(seconds=tuned.poll_seconds))
    if decision.follow_up.kind == "ready_check":
        assert decision.follow_up.at == ready_check_at(config, state, hold, tuned, trigger=trigger)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(exact=st.lists(seconds, max_size=8),
       bounds=st.lists(st.tuples(st.floats(0, 1200, allow_nan=False), seconds), min_size=1, max_size=8),
       billing_aware=st.booleans())
def test_a_censored_sample_never_lowers_the_lead_below_what_was_observed(exact, bounds, billing_aware):
    config = HELD if billing_aware else PLAIN
    bounds = [(min(low, high), max(low, high) + 1) for low, high in bounds]
    known = ModelState(cold_starts=tuple(exact), cold_start_count=len(exact))
    censored = replace(known, cold_start_bounds=tuple(bounds), cold_start_count=len(exact) + len(bounds))
    lead = prewarm_lead(config, censored, SETTINGS)
    assert lead >= prewarm_lead(config, known, SETTINGS)
    longest = max([*exact, *(low for low, _ in bounds)])
    observed = math.ceil(longest + SETTINGS.poll_seconds + SETTINGS.lead_margin_seconds)
    assert lead >= timedelta(seconds=min(SETTINGS.lead_max_seconds, observed))
