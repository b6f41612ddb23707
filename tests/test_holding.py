"""A cold model that holds the call while a copy loads, as AWS documents it may, instead of
answering ModelNotReadyException at once: the worker counts a call with no answer by its
read timeout as still loading, a held success as a cold start, and its timeouts leave
the worker Lambda time to record them."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.bedrock import Invoker
from chalicelib.planner import READY, CallResult
from chalicelib.settings import WORKER_MARGIN_SECONDS, Settings, SettingsError
from conftest import ARN_LLAMA
from helpers import at, call_times, calls, events, instant, iso_z, lead, register, show

ROOT = Path(__file__).resolve().parent.parent


def test_a_call_that_times_out_while_a_copy_loads_is_still_loading_and_the_cold_start_is_measured(
        client, driver, runtime, simulator):
    runtime.settings = replace(runtime.settings, invoke_read_timeout_seconds=1)
    runtime.invoker = Invoker(runtime.settings)
    simulator.add_model(ARN_LLAMA, load_seconds=35, cold_mode="hold")
    register(client, model_arn=ARN_LLAMA, name="llama", billing_aware_prewarm=False)
    trigger = at(9) - lead(client, "llama")
    driver.run_until(trigger + timedelta(seconds=5))
    # The pre-warm was held past the read timeout: loading, polled, not an error.
    state = show(client, "llama")["state"]
    assert state["status"] == "warming" and state["warming_since"] == iso_z(trigger)
    assert state["next_action"] == {"kind": "poll", "at": iso_z(trigger + timedelta(seconds=10))}
    (call,) = [e for e in events(client, "llama") if e["kind"] == "call"]
    assert (call["outcome"], call["code"], call["attempt"]) == ("not_ready", "ReadTimeoutError", 0)

    driver.run_until(at(9, 1))
    state = show(client, "llama")["state"]
    assert state["status"] == "warm" and state["error"] is None
    # Ready 35 s after the pre-warm; the poll 5 s later found it: measured from the pre-warm.
    first = calls(simulator, ARN_LLAMA)[0]  # the held pre-warm, served once the copy was up
    assert (first["at"], first["answered_at"], first["outcome"]) == (
        iso_z(trigger), iso_z(trigger + timedelta(seconds=35)), "ready")
    assert call_times(simulator, ARN_LLAMA, "ready")[1:3] == [trigger + timedelta(seconds=10),
                                                            trigger + timedelta(seconds=20)]  # held polls
    assert state["cold_starts"]["count"] == 1 and state["cold_starts"]["last_seconds"] == 40.0
    assert not [e for e in events(client, "llama") if e["kind"] == "error"]


class HeldInvoker:
    """A model that answers after ``seconds`` on the simulated clock, as a cold model
    holding the call while its copy loads does."""

    def __init__(self, clock, seconds: float):
        self.clock, self.seconds = clock, seconds

    def invoke(self, config, request_format) -> CallResult:
        self.clock.advance(self.seconds)
        return CallResult(READY, latency_ms=int(self.seconds * 1000))


def test_a_held_call_answered_when_the_copy_is_ready_is_a_cold_start(client, driver, runtime, clock):
    register(client, model_arn=ARN_LLAMA, name="llama")
    trigger = at(9) - lead(client, "llama")
    runtime.invoker = HeldInvoker(clock, 70)
    driver.run_until(at(8, 59))
    state = show(client, "llama")["state"]
    # Held 70 s: the trigger itself came back a success (so the bill starts then, whatever
    # the billing-aware pre-warm would have held back).
    assert state["status"] == "warm" and state["last_success_at"] == iso_z(trigger + timedelta(seconds=70))
    cold = state["cold_starts"]
    assert (cold["count"], cold["exact"], cold["last_seconds"]) == (1, 1, 70.0)
    kinds = [(e["kind"], e.get("held")) for e in reversed(events(client, "llama"))]
    assert ("cold", True) in kinds and ("cold_start", True) in kinds
    # Only loads shorter than the read timeout end this way: the fleet's pool leaves it out.
    assert runtime.store.fleet_loads() == {}


def test_a_slow_answer_within_the_warm_latency_rule_is_only_slow(client, driver, runtime, clock, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 5))
    before = show(client, "llama")["state"]
    assert before["status"] == "warm" and before["cold_starts"]["count"] == 1
    runtime.invoker = HeldInvoker(clock, 3)  # a keep-alive that takes 3 s: slow, under max(5 s, 4 x p95)
    driver.run_until(at(9, 15))
    after = show(client, "llama")["state"]
    assert after["status"] == "warm" and after["cold_starts"]["count"] == 1
    assert after["keepalive_minutes_in_force"] == 14
    assert [e["evidence"] for e in events(client, "llama") if e["kind"] == "call"][0] == "warm"


def test_an_answer_far_beyond_the_warm_latency_from_a_model_believed_warm_met_a_cold_copy(
        client, driver, runtime, clock, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(9, 5))
    runtime.invoker = HeldInvoker(clock, 20)  # the keep-alive was held 20 s: a copy loaded meanwhile
    keepalive = instant(show(client, "llama")["state"]["next_action"]["at"])
    driver.run_until(keepalive + timedelta(seconds=30))
    after = show(client, "llama")["state"]
    assert after["status"] == "warm" and after["cold_starts"]["count"] == 2
    assert after["cold_starts"]["last_seconds"] == 20.0  # exact, from sending to answer
    assert after["keepalive_minutes_in_force"] < 14
    kinds = [e["kind"] for e in events(client, "llama")]
    assert "unexpected_cold" in kinds
    (call, *_) = [e for e in events(client, "llama") if e["kind"] == "call"]
    assert (call["outcome"], call["evidence"], call["latency_ms"]) == ("ready", "cold", 20000)


# -- the read timeout and the worker Lambda's ---------------------------------------------
REQUIRED = {"KEEPWARM_TABLE": "t", "KEEPWARM_QUEUE_URL": "q"}


def test_the_read_timeout_must_end_well_before_the_worker_lambdas():
    ok = Settings.from_env({**REQUIRED, "KEEPWARM_INVOKE_READ_TIMEOUT_SECONDS": "85"})
    assert 5 + 85 + WORKER_MARGIN_SECONDS == ok.worker_timeout_seconds
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**REQUIRED, "KEEPWARM_INVOKE_READ_TIMEOUT_SECONDS": "86"})
    message = str(refused.value)
    assert message.startswith("KEEPWARM_INVOKE_CONNECT_TIMEOUT_SECONDS + KEEPWARM_INVOKE_READ_TIMEOUT_SECONDS "
                              "(91 s) must leave 30 s of KEEPWARM_WORKER_TIMEOUT_SECONDS (120 s")
    # A longer worker Lambda allows a longer read timeout.
    longer = Settings.from_env({**REQUIRED, "KEEPWARM_INVOKE_READ_TIMEOUT_SECONDS": "270",
                                "KEEPWARM_WORKER_TIMEOUT_SECONDS": "305"})
    assert longer.invoke_read_timeout_seconds == 270


def test_the_worker_timeout_setting_is_the_deployed_lambdas():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["lambda_functions"]["worker"]["lambda_timeout"] == Settings("t", "q").worker_timeout_seconds
    assert timedelta(seconds=Settings("t", "q").invoke_read_timeout_seconds) < timedelta(minutes=5)


@pytest.mark.parametrize("load, outcome, waited", [(35, "ready", 35), (90, "not_ready", 60)])
def test_in_process_a_held_call_takes_its_time_on_its_callers_clock(load, outcome, waited):
    # What the benchmark and the soak use instead of HTTP: the same outcomes, the same wait.
    from datetime import datetime, timezone

    from chalicelib.records import ModelConfig
    from local.harness import SimulatorInvoker
    from local.simulator import ManualClock, Simulator

    start = datetime(2026, 3, 9, 8, 0, tzinfo=timezone.utc)
    clock = ManualClock(start)
    simulator = Simulator(clock=clock.now)
    simulator.add_model(ARN_LLAMA, load_seconds=load, cold_mode="hold", hold_seconds=300)
    config = ModelConfig(name="llama", model_arn=ARN_LLAMA, timezone="UTC", windows=[])
    invoker = SimulatorInvoker(simulator, clock.now, read_timeout=60)
    result = invoker.invoke(config, "chat")
    # The caller waited; the shared clock, which other workers' calls go by, did not move.
    assert result.outcome == outcome and invoker.now() == start + timedelta(seconds=waited)
    assert clock.now() == start
    invoker.begin()
    assert invoker.now() == start
    if outcome == "not_ready":
        assert result.code == "ReadTimeoutError"
