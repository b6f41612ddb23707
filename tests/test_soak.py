"""A soak: hundreds of random models for 30 simulated days, the whole loop on one clock.

The real Api, Ticker and Worker run on a manual clock (``local.harness.Driver`` plays
EventBridge's minute tick and SQS's delays) against the in-memory store and the
imported-model simulator, called in this process (``SimulatorInvoker``: the loop, not the
wire, is under test here). The month has daylight-saving changes in both hemispheres
(New York 8 March, Europe 29 March, Sydney, Auckland and Santiago 5 April), random
schedules (business hours, overnight, short windows, day-of-month crons, always and
nearly always open), holidays and excluded dates, and random API traffic: leases, cold
and warm overrides, changes of keep-alive. What users would notice is asserted from what
the simulator saw:

- every window (unaffected by an override or a pause) finds the model ready by its open
  plus ``max(0, load time - pre-warm lead) + POLL_BOUND``, and it stays loaded to the close;
- no call is made outside a hold (a window from the longest lead before it, a lease, a
  warm override) nor inside a cold override;
- no tick or worker call overruns its planning budget or fails.

The fleet is split into ``SHARDS`` independent shards (each its own random fleet and
traffic), so that the test runner spreads them over the machine's cores.
``KEEPWARM_SOAK_MODELS`` (in all) and ``KEEPWARM_SOAK_DAYS`` change the size: ``make test``
runs 80 models for 30 days, ``make soak`` 400.
"""
from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from chalicelib.api import Api, LeaseRefused
from chalicelib.loop import Ticker, Worker
from chalicelib.queue import WorkMessage
from chalicelib.records import parse_iso
from chalicelib.settings import Settings
from chalicelib.store import MemoryStore
from chalicelib.timeline import window_intervals
from local.harness import Driver, SimQueue, SimulatorInvoker
from local.simulator import ManualClock, Simulator

UTC = timezone.utc
START = datetime(2026, 3, 7, tzinfo=UTC)
SHARDS = 4
MODELS = int(os.environ.get("KEEPWARM_SOAK_MODELS", "80")) // SHARDS
DAYS = int(os.environ.get("KEEPWARM_SOAK_DAYS", "30"))
# The first day is the fleet's first: its cold starts teach the leads; judged from then on.
SETTLE = timedelta(days=1)
# A copy is ready by the open plus whatever its load outlasted the pre-warm lead, plus one
# poll interval (the worker sees the copy ready at its next poll).
POLL_BOUND = timedelta(seconds=10)
ZONES = ["America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney", "Pacific/Auckland",
         "America/Santiago", "Asia/Kolkata", "Asia/Shanghai", "UTC", "America/Los_Angeles"]
CALENDARS = {"America/New_York": {"country": "US"}, "Europe/London": {"country": "GB", "subdiv": "ENG"},
             "Europe/Berlin": {"country": "DE"}, "Australia/Sydney": {"country": "AU", "subdiv": "NSW"}}


def hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def random_windows(rng: random.Random) -> list[dict[str, Any]]:
    kind = rng.choice(["business", "business", "business", "overnight", "short", "cron", "always", "nearly"])
    if kind == "business":
        start = rng.choice([7 * 60, 8 * 60, 8 * 60 + 30, 9 * 60])
        return [{"days": "MON-FRI", "start": hhmm(start), "stop": hhmm(start + rng.choice([480, 540, 600]))}]
    if kind == "overnight":
        return [{"start": rng.choice(["21:00", "22:00", "23:30"]), "stop": rng.choice(["02:00", "05:00", "06:00"])}]
    if kind == "short":
        return [{"start": "07:30", "stop": "08:30"}, {"start": "12:00", "stop": "12:45"},
                {"days": "MON-FRI", "start": "16:30", "stop": "17:15"}]
    if kind == "cron":
        return [{"warm": "0 6 * * MON-SAT", "stop": "0 8 * * MON-SAT"},
                {"warm": "30 9 1,15 * *", "stop": "30 17 1,15 * *"}]
    if kind == "always":
        return [{"start": "00:00", "stop": "24:00"}]
    return [{"days": "MON-SUN", "start": "00:00", "stop": "23:59"}]


@dataclass
class Span:
    start: datetime
    end: datetime
    kind: str  # lease | warm | cold | paused


@dataclass
class Soaked:
    name: str
    arn: str
    body: dict[str, Any]
    spans: list[Span] = field(default_factory=list)


def fleet(rng: random.Random, shard: int) -> list[Soaked]:
    models = []
    for i in range(shard * MODELS, (shard + 1) * MODELS):
        zone = rng.choice(ZONES)
        body: dict[str, Any] = {
            "model_arn": f"arn:aws:bedrock:us-west-2:123456789012:imported-model/soak{i:08d}",
            "name": f"soak-{i:03d}", "timezone": zone, "windows": random_windows(rng),
            "keepalive_minutes": rng.choice([14, 14, 14, 10, 7]),
        }
        if zone in CALENDARS and rng.random() < 0.5:
            body["holidays"] = CALENDARS[zone]
        if rng.random() < 0.3:
            body["exclude_dates"] = [(START + timedelta(days=rng.randint(2, DAYS))).date().isoformat()]
        models.append(Soaked(body["name"], body["model_arn"], body))
    return models


def traffic(rng: random.Random, models: list[Soaked], end: datetime) -> list[tuple[datetime, Soaked, str, int]]:
    """Random API requests over the month: about one per model every five days."""
    requests = []
    for model in models:
        for _ in range(rng.randint(0, DAYS // 5)):
            at = START + timedelta(minutes=rng.randint(60, int((end - START).total_seconds() // 60) - 60))
            requests.append((at, model, rng.choice(["lease", "lease", "cold", "warm", "keepalive"]),
                             rng.randint(20, 180)))
    return sorted(requests, key=lambda r: r[0])


@pytest.mark.timeout(900)
@pytest.mark.parametrize("shard", range(SHARDS))
def test_a_month_of_random_models_keeps_every_promise(shard: int):
    logging.getLogger("keepwarm").setLevel(logging.WARNING)  # a line a call: hundreds of thousands
    rng = random.Random(20260307 + shard)
    end = START + timedelta(days=DAYS)
    clock = ManualClock(START)
    simulator = Simulator(clock=clock.now, seed=7)
    settings = Settings(table_name="soak", queue_url="simulated")
    store, queue = MemoryStore(), SimQueue(clock.now)
    ticker = Ticker(store, queue, settings, clock.now)
    worker = Worker(store, queue, SimulatorInvoker(simulator), settings, clock.now)
    api = Api(store, settings, dispatcher=ticker)
    models = fleet(rng, shard)
    loads: dict[str, float] = {}
    for model in models:
        loads[model.name] = rng.uniform(40, 240)
        simulator.add_model(model.arn, {"kind": "lognormal", "median": loads[model.name], "sigma": 0.3},
                            name=model.name)
        api.register(model.body, clock.now())

    failures: list[str] = []

    def tick(at: datetime) -> None:
        report = ticker.run(at)
        if report.failed:
            failures.append(f"tick at {at} failed for {report.failed} model(s)")

    def work(body: str) -> None:
        if worker.handle(WorkMessage.from_body(body)) == "planning_failed":
            failures.append(f"worker planning failed: {body}")

    driver = Driver(clock, queue, tick=tick, work=work, earliest_due=store.earliest_due)
    for at, model, kind, minutes in traffic(rng, models, end):
        driver.run_until(at)
        if kind == "lease":
            try:
                api.create_lease(model.name, {"minutes": minutes, "holder": "soak"}, at)
            except LeaseRefused:  # under a cold override: refused, as the API promises
                assert any(s.kind == "cold" and s.start <= at < s.end for s in model.spans)
                continue
            model.spans.append(Span(at, at + timedelta(minutes=minutes), "lease"))
        elif kind in ("cold", "warm"):
            until = at + timedelta(minutes=minutes)
            api.set_override(model.name, {"state": kind, "until": until.isoformat()}, at)
            # A new override replaces the one in force.
            for span in model.spans:
                if span.kind in ("cold", "warm") and span.end > at:
                    span.end = at
            model.spans.append(Span(at, until, kind))
        else:
            api.update(model.name, {"keepalive_minutes": rng.choice([7, 10, 14])}, at)
    driver.run_until(end)

    assert failures == []
    for model in models:
        config, state = store.get(model.name).config, store.get(model.name).state
        assert state.status != "error", (model.name, state.error)
        seen = simulator.inspect(model.arn)
        calls = [(parse_iso(c["at"]), c["outcome"]) for c in seen["calls"]]
        copies = [(parse_iso(c["load_started_at"]), c["load_seconds"], parse_iso(c["loaded_at"]),
                   parse_iso(c["released_at"]) or end) for c in seen["copies"]]
        windows = [(iv.open, iv.close) for iv in window_intervals(config, START - timedelta(days=2), end + timedelta(days=1))]
        spans = model.spans
        cold = [(s.start, s.end) for s in spans if s.kind == "cold"]
        held = ([(o - timedelta(seconds=settings.lead_max_seconds), c) for o, c in windows]
                + [(s.start, s.end) for s in spans if s.kind in ("lease", "warm")])
        for at, _ in calls:
            assert any(a <= at < b for a, b in held), \
                f"{model.name}: call at {at} outside every hold {[h for h in held if abs(h[0] - at) < timedelta(days=1)]}"
            # A request and a call at the same instant: the call went first.
            assert not any(a < at < b for a, b in cold), f"{model.name}: call at {at} under a cold override"
        for opened, closed in windows:
            if opened < START + SETTLE or closed > end or any(a < closed and opened < b for a, b in cold):
                continue
            problem = readiness(opened, closed, copies, calls)
            assert problem is None, f"{model.name} {config.windows} window {opened}..{closed}: {problem}"


def readiness(opened: datetime, closed: datetime, copies: list[tuple[datetime, float, Optional[datetime], datetime]],
              calls: list[tuple[datetime, str]]) -> Optional[str]:
    """Why the window was not served as promised, or None: a copy loaded by the open (or
    by the open plus what its load outlasted the lead, plus a poll), kept to the close."""
    serving = [c for c in copies if c[2] is not None and c[2] < closed and c[3] > opened]
    if not serving:
        return "no copy was loaded during the window"
    started, load, loaded, released = serving[0]
    lead = opened - started
    late = max(timedelta(0), timedelta(seconds=load) - lead)
    if loaded > opened + late + POLL_BOUND:
        return f"ready at {loaded}, later than the open + {late} + {POLL_BOUND}"
    if len(serving) > 1 or released < closed:
        return f"the copy was released at {released}, before the close"
    cold_inside = [at for at, outcome in calls if max(opened, loaded) <= at < closed and outcome == "not_ready"]
    if cold_inside:
        return f"calls found it cold inside the window at {cold_inside[:3]}"
    return None
