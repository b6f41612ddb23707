"""How each strategy is run: keepwarm's own tick and worker on a simulated clock, and the
crons, each against its own imported-model simulator with the same load draws and the
same users' requests, handing back what the simulator saw (``bench.figures.Run``).

Between ``bench.figures`` (what a run is measured by) and ``bench.simulate`` (every
strategy over every seed, and the command).
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Optional, Sequence

from bench.common import offline_aws

offline_aws()  # before any boto3 client exists

from bench.figures import Run, observe  # noqa: E402
from bench.scenario import (BASELINE_RETRIES, BASELINE_RETRY_SECONDS, KEEPWARM, USER_KEY, ModelSpec,  # noqa: E402
                            Platform, Strategy)
from chalicelib.api import Api  # noqa: E402
from chalicelib.loop import Ticker, Worker  # noqa: E402
from chalicelib.queue import WorkMessage  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
# run_keepwarm builds its store from this module's name: a diagnostic may replace it here.
from chalicelib.memstore import MemoryStore  # noqa: E402
from local.harness import Driver, SimQueue, SimulatorInvoker  # noqa: E402
from local.simulator import ManualClock, Simulator  # noqa: E402

# The service's log line for every tick and call, hundreds of thousands of them: only
# warnings, or the run spends its time writing JSON nobody reads.
logging.getLogger("keepwarm").setLevel(logging.WARNING)

PING_BODY = json.dumps({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}).encode()


def new_simulator(fleet: Sequence[ModelSpec], clock: ManualClock, seed: int, platform: Platform) -> Simulator:
    # Same seed and ARNs: each model's n-th cold start draws the same load time in every run.
    sim = Simulator(clock=clock.now, seed=seed)
    for spec in fleet:
        sim.add_model(spec.arn, spec.load, cmus=spec.cmus, name=spec.name, **platform.options())
    return sim


Users = dict[str, list[datetime]]  # model ARN -> its users' request instants, every window


# -- the strategies -------------------------------------------------------------------------
def bench_settings(strategy: Strategy) -> Settings:
    settings = Settings(table_name="keepwarm-bench", queue_url="simulated")
    if not strategy.billing_aware:
        settings = replace(settings, lead_percentile=settings.held_lead_percentile)
    return settings


def run_keepwarm(fleet: Sequence[ModelSpec], platform: Platform, start: datetime, run_end: datetime,
                 seed: int, strategy: Strategy = KEEPWARM, users: Optional[Users] = None) -> Run:
    """The service's own tick and worker on a simulated clock; users' requests in between."""
    began = time.perf_counter()
    clock = ManualClock(start)
    sim = new_simulator(fleet, clock, seed, platform)
    settings = bench_settings(strategy)
    store = MemoryStore()
    # A held call (the hold variant) makes its own worker wait, not the others.
    invoker = SimulatorInvoker(sim, clock.now, read_timeout=settings.invoke_read_timeout_seconds)
    queue = SimQueue(invoker.now)
    ticker = Ticker(store, queue, settings, clock.now)
    worker = Worker(store, queue, invoker, settings, invoker.now)  # type: ignore[arg-type]
    api = Api(store, settings, dispatcher=ticker)
    for spec in fleet:
        api.register({**spec.body(), "billing_aware_prewarm": strategy.billing_aware}, clock.now())
    # The users' requests ride the simulated queue only to be delivered at their instant:
    # the service never sees them, only the simulator does.
    for arn, times in (users or {}).items():
        for at in times:
            queue.push_body(at, USER_PREFIX + arn)

    def work(body: str) -> Any:
        if body.startswith(USER_PREFIX):
            return sim.invoke(body[len(USER_PREFIX):], PING_BODY, access_key=USER_KEY)
        invoker.begin()
        return worker.handle(WorkMessage.from_body(body))

    def tick(at: datetime) -> Any:
        invoker.begin()
        return ticker.run(at)

    driver = Driver(clock, queue, tick=tick, work=work, earliest_due=store.earliest_due)
    driver.run_until(run_end)
    observed = {spec.name: observe(sim, spec.arn) for spec in fleet}
    return Run(strategy.key, observed, time.perf_counter() - began,
               {"ticks": driver.ticks, "deliveries": driver.deliveries})


USER_PREFIX = "user-request:"


def run_cron(fleet: Sequence[ModelSpec], windows: dict[str, list[tuple[datetime, datetime]]], platform: Platform,
             start: datetime, run_end: datetime, seed: int, strategy: Strategy, users: Optional[Users] = None) -> Run:
    """A cron rule every ``interval_minutes`` from ``early_minutes`` before each open until
    the close, with the SDK-style retry only. Each model's calls stand alone (a held call
    delays only that model's retry), as separate invocations of a scheduled function do."""
    began = time.perf_counter()
    clock = ManualClock(start)
    sim = new_simulator(fleet, clock, seed, platform)
    seq = itertools.count()
    due: list[tuple[datetime, int, str, int]] = []
    early = timedelta(minutes=strategy.early_minutes or 0)
    every = timedelta(minutes=strategy.interval_minutes)
    for spec in fleet:
        for opened, closed in windows[spec.name]:
            at = opened - early
            while at < closed:
                heapq.heappush(due, (at, next(seq), spec.arn, 0))
                at += every
    for arn, times in (users or {}).items():
        for at in times:
            heapq.heappush(due, (at, next(seq), arn, -1))  # -1: a user's request
    calls = 0
    while due:
        at, _, arn, attempt = heapq.heappop(due)
        clock.set(max(at, clock.now()))
        if attempt < 0:
            sim.invoke(arn, PING_BODY, access_key=USER_KEY)
            continue
        calls += 1
        answer = sim.invoke(arn, PING_BODY)
        if answer.body.get("__type") == "ModelNotReadyException" and attempt < BASELINE_RETRIES:
            answered = answer.at or clock.now()
            heapq.heappush(due, (answered + timedelta(seconds=BASELINE_RETRY_SECONDS), next(seq), arn, attempt + 1))
    clock.set(max(run_end, clock.now()))
    observed = {spec.name: observe(sim, spec.arn) for spec in fleet}
    return Run(strategy.key, observed, time.perf_counter() - began, notes={"calls": calls})
