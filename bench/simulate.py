"""keepwarm against what teams do today, on one simulated week: cold seconds and paid minutes.

keepwarm exists for two numbers: how many seconds users meet a cold model inside their
windows, and how many model-unit minutes are paid for outside them. This benchmark
measures both for a fleet of imported models, side by side with the usual alternative,
in one run:

- **keepwarm**: the project's real code. Models are registered through ``Api.register``;
  ``Ticker.run`` and ``Worker.handle`` are driven by ``local.harness.Driver`` on a
  ``ManualClock`` (the minute tick, and queued calls when their delay ends), with a
  ``MemoryStore`` and a ``SimQueue``. Calls go through the real ``Invoker`` (botocore)
  over HTTP to a ``Simulator`` served on loopback (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``).
- **baseline**: a cron rule calling each model every 14 minutes from the moment its
  window opens until it closes (at open, open+14, ... while before the close), no
  pre-warm, and on ``ModelNotReadyException`` the SDK-style retry: a few more attempts a
  few seconds apart, then nothing until the next firing. A real botocore client (SDK
  retries off, this loop owns them) against a second simulator with the same models and
  seed, so both strategies meet the same cold-start draws (the n-th cold start of a
  model loads for the same time in both) as far as their different calls allow.

Both serve the same windows: ``chalicelib.timeline.window_intervals`` of each model's
config. Every figure comes from what the simulators saw (their calls, and their copies'
load, first-success and release instants), not from either strategy's own account.

``python -m bench.simulate [--models 50] [--days 7] [--seed 1] [--out docs/benchmarks.md]
[--png docs/timeline.png]`` prints the markdown and writes it into its section of the doc.
"""
from __future__ import annotations

import argparse
import bisect
import heapq
import itertools
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pytz

from bench.common import command_line, env, log, machine, offline_aws, table, write_section

offline_aws()  # before any boto3 client exists

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from chalicelib.api import Api  # noqa: E402
from chalicelib.bedrock import Invoker  # noqa: E402
from chalicelib.loop import Ticker, Worker  # noqa: E402
from chalicelib.planner import prewarm_lead  # noqa: E402
from chalicelib.queue import WorkMessage  # noqa: E402
from chalicelib.records import COLD_START_SAMPLES, ModelConfig, ModelState, parse_iso  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store import MemoryStore  # noqa: E402
from chalicelib.timeline import window_intervals  # noqa: E402
from local.harness import Driver, SimQueue  # noqa: E402
from local.simulator import ManualClock, Simulator, SimulatorServer  # noqa: E402

UTC = timezone.utc
# Tuesday: London's and Berlin's clocks go forward on Sunday 29 March, inside a week from here.
DEFAULT_START = datetime(2026, 3, 24, tzinfo=UTC)
KEEPALIVE = timedelta(minutes=14)
RELEASE_SECONDS = 900
BILLING_WINDOW = timedelta(minutes=5)
LOAD_MEDIAN_SECONDS = 90.0
LOAD_SIGMA = 0.45  # per cold start: with a 90 s median, 1 in 20 takes over 3.5 min, 1 in 50 over 4
# The baseline's SDK-style retry on ModelNotReadyException: this many more attempts, this far apart.
BASELINE_RETRIES = 3
BASELINE_RETRY_SECONDS = 5
# A window opening this soon after the simulation starts leaves no room to pre-warm; such
# windows (and the days they open on) are excluded for both strategies alike.
EDGE = timedelta(minutes=30)
ACCOUNT_ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/"
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Shanghai",
         "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "America/Sao_Paulo", "UTC")
PING_BODY = json.dumps({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}).encode()


# -- the fleet --------------------------------------------------------------------------------
def _business(rng: random.Random) -> list[dict[str, Any]]:
    start = rng.choice([8 * 60, 8 * 60 + 30, 9 * 60])
    length = rng.choice([8 * 60, 9 * 60, 9 * 60 + 30])
    return [{"days": "MON-FRI", "start": _hhmm(start), "stop": _hhmm(start + length)}]


def _overnight(rng: random.Random) -> list[dict[str, Any]]:
    # A nightly batch across midnight, every day (Berlin's 02:00 does not exist on 29 March).
    return [{"start": "22:00", "stop": "02:00"}]


def _short(rng: random.Random) -> list[dict[str, Any]]:
    # Several short windows a day, an hour or more apart: each is its own cold start to avoid.
    morning = rng.choice(["07:30", "08:00"])
    return [{"start": morning, "stop": _hhmm(_minutes(morning) + 60)},
            {"start": "12:00", "stop": rng.choice(["12:45", "13:00"])},
            {"start": "16:30", "stop": "17:15"}]


def _cron_batch(rng: random.Random) -> list[dict[str, Any]]:
    # The cron form: a morning batch six days a week, and a Sunday evening report.
    minute = rng.choice([0, 15, 30])
    return [{"warm": f"{minute} 6 * * MON-SAT", "stop": f"{minute} 8 * * MON-SAT"},
            {"warm": "0 19 * * SUN", "stop": "30 20 * * SUN"}]


KINDS: dict[str, Callable[[random.Random], list[dict[str, Any]]]] = {
    "business": _business, "overnight": _overnight, "short": _short, "cron": _cron_batch,
}


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arn: str
    timezone: str
    kind: str
    windows: tuple[dict[str, Any], ...]
    load_median: float  # this model's median cold start; each cold start is drawn around it
    cmus: int
    exclude_dates: tuple[str, ...] = ()

    @property
    def load(self) -> dict[str, Any]:
        return {"kind": "lognormal", "median": self.load_median, "sigma": LOAD_SIGMA}

    def config(self) -> ModelConfig:
        return ModelConfig(name=self.name, model_arn=self.arn, timezone=self.timezone,
                           windows=list(self.windows), exclude_dates=self.exclude_dates,
                           custom_model_units=self.cmus)

    def body(self) -> dict[str, Any]:
        """The registration request, as an ops team would POST it."""
        return {"model_arn": self.arn, "name": self.name, "timezone": self.timezone,
                "windows": list(self.windows), "exclude_dates": list(self.exclude_dates),
                "custom_model_units": self.cmus}


def edge_dates(config: ModelConfig, start: datetime, end: datetime) -> tuple[str, ...]:
    """Local dates to exclude so that every window left opens in [start + EDGE, end).

    Both strategies then serve whole windows only, and keepwarm has room to pre-warm the
    first one; the simulation runs on until the last of them has closed."""
    zone = pytz.timezone(config.timezone)
    dates = {iv.open.astimezone(zone).date().isoformat()
             for iv in window_intervals(config, start - timedelta(days=2), end + timedelta(days=3))
             if not start + EDGE <= iv.open < end}
    return tuple(sorted(dates))


def make_fleet(models: int, seed: int, start: datetime, end: datetime) -> list[ModelSpec]:
    """``models`` imported models across time zones and kinds of window, reproducibly."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    fleet = []
    for i in range(models):
        zone = ZONES[i % len(ZONES)]
        # Shifted every round of zones, so each zone gets every kind of window.
        kind = kinds[(i + i // len(ZONES)) % len(kinds)]
        median = min(160.0, max(55.0, LOAD_MEDIAN_SECONDS * math.exp(0.25 * rng.gauss(0.0, 1.0))))
        spec = ModelSpec(name=f"{kind}-{i:02d}", arn=f"{ACCOUNT_ARN}kwbench{i:05d}", timezone=zone,
                         kind=kind, windows=tuple(KINDS[kind](rng)), load_median=round(median, 1),
                         cmus=rng.randint(1, 4))
        fleet.append(replace(spec, exclude_dates=edge_dates(spec.config(), start, end)))
    return fleet


def windows_of(spec: ModelSpec, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    return [(iv.open, iv.close) for iv in window_intervals(spec.config(), start, end)]


def dst_changes(zones: Sequence[str], start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """The daylight-saving changes of these zones inside [start, end)."""
    found = []
    for name in sorted(set(zones)):
        zone = pytz.timezone(name)
        for naive in getattr(zone, "_utc_transition_times", []):
            at = naive.replace(tzinfo=UTC)
            if start <= at < end:
                found.append((name, at))
    return sorted(found, key=lambda x: x[1])


# -- what a simulator saw -------------------------------------------------------------------
@dataclass(frozen=True)
class Copy:
    load_started_at: datetime
    load_seconds: float
    loaded_at: Optional[datetime]
    first_success_at: Optional[datetime]
    released_at: datetime
    billed_minutes: int

    def billing_windows(self) -> list[tuple[datetime, datetime]]:
        """The 5-minute windows billed, counted from the first successful call."""
        if self.first_success_at is None:
            return []
        return [(self.first_success_at + k * BILLING_WINDOW, self.first_success_at + (k + 1) * BILLING_WINDOW)
                for k in range(self.billed_minutes // 5)]


@dataclass(frozen=True)
class Call:
    at: datetime
    outcome: str


@dataclass
class Observed:
    copies: list[Copy]
    calls: list[Call]


def observe(sim: Simulator, arn: str) -> Observed:
    seen = sim.inspect(arn)
    now = parse_iso(seen["now"])
    copies = [Copy(parse_iso(c["load_started_at"]), c["load_seconds"], parse_iso(c["loaded_at"]),  # type: ignore[arg-type]
                   parse_iso(c["first_success_at"]), parse_iso(c["released_at"]) or now,  # type: ignore[arg-type]
                   c["billed_minutes"]) for c in seen["copies"]]
    calls = [Call(parse_iso(c["at"]), c["outcome"]) for c in seen["calls"]]  # type: ignore[arg-type]
    return Observed(copies, calls)


def new_simulator(fleet: Sequence[ModelSpec], clock: ManualClock, seed: int) -> Simulator:
    # Same seed and ARNs: each model's n-th cold start draws the same load time in both runs.
    sim = Simulator(clock=clock.now, seed=seed)
    for spec in fleet:
        sim.add_model(spec.arn, spec.load, release_seconds=RELEASE_SECONDS, cmus=spec.cmus, name=spec.name)
    return sim


@dataclass
class Run:
    strategy: str
    observed: dict[str, Observed]
    wall_seconds: float
    # keepwarm's own record of each model's cold starts: (when recorded, seconds).
    cold_starts: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)


# -- the two strategies ---------------------------------------------------------------------
def run_keepwarm(fleet: Sequence[ModelSpec], start: datetime, run_end: datetime, seed: int) -> Run:
    """The service's own tick and worker on a simulated clock, calling over real HTTP."""
    began = time.perf_counter()
    clock = ManualClock(start)
    sim = new_simulator(fleet, clock, seed)
    with SimulatorServer(sim) as server, env(AWS_ENDPOINT_URL_BEDROCK_RUNTIME=server.url):
        settings = Settings(table_name="keepwarm-bench", queue_url="simulated")
        store = MemoryStore()
        queue = SimQueue(clock.now)
        ticker = Ticker(store, queue, settings, clock.now)
        worker = Worker(store, queue, Invoker(settings), settings, clock.now)
        api = Api(store, settings, dispatcher=ticker)
        for spec in fleet:
            api.register(spec.body(), clock.now())
        driver = Driver(clock, queue, tick=ticker.run,
                        work=lambda body: worker.handle(WorkMessage.from_body(body)),
                        earliest_due=store.earliest_due)
        driver.run_until(run_end)
        observed = {spec.name: observe(sim, spec.arn) for spec in fleet}
    cold_starts = {
        spec.name: sorted((parse_iso(e["at"]), float(e["seconds"]))  # type: ignore[misc]
                          for e in store.events(spec.name, limit=10**6) if e["kind"] == "cold_start")
        for spec in fleet
    }
    return Run("keepwarm", observed, time.perf_counter() - began, cold_starts,
               {"ticks": driver.ticks, "deliveries": driver.deliveries})


def baseline_call(client: Any) -> Callable[[str], str]:
    def call(arn: str) -> str:
        try:
            client.invoke_model(modelId=arn, body=PING_BODY, contentType="application/json",
                                accept="application/json")["body"].read()
            return "ready"
        except ClientError as err:
            return "not_ready" if err.response["Error"]["Code"] == "ModelNotReadyException" else "error"
    return call


def run_baseline(fleet: Sequence[ModelSpec], windows: dict[str, list[tuple[datetime, datetime]]],
                 start: datetime, run_end: datetime, seed: int) -> Run:
    """A cron rule every 14 minutes inside each window, with the SDK-style retry only."""
    began = time.perf_counter()
    clock = ManualClock(start)
    sim = new_simulator(fleet, clock, seed)
    seq = itertools.count()
    with SimulatorServer(sim) as server:
        client = boto3.client("bedrock-runtime", region_name="us-west-2", endpoint_url=server.url,
                              config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        call = baseline_call(client)
        due: list[tuple[datetime, int, str, int]] = []
        for spec in fleet:
            for opened, closed in windows[spec.name]:
                at = opened
                while at < closed:
                    heapq.heappush(due, (at, next(seq), spec.arn, 0))
                    at += KEEPALIVE
        calls = 0
        while due:
            at, _, arn, attempt = heapq.heappop(due)
            clock.set(at)
            calls += 1
            if call(arn) == "not_ready" and attempt < BASELINE_RETRIES:
                heapq.heappush(due, (at + timedelta(seconds=BASELINE_RETRY_SECONDS), next(seq), arn, attempt + 1))
        clock.set(run_end)
        observed = {spec.name: observe(sim, spec.arn) for spec in fleet}
    return Run("baseline", observed, time.perf_counter() - began, notes={"calls": calls})


# -- measuring ------------------------------------------------------------------------------
@dataclass
class WindowFigures:
    """One window of one model, as one strategy served it."""

    model: str
    open: datetime
    close: datetime
    cmus: int
    learned: bool = False  # opens after keepwarm had 3 cold starts of this model recorded
    cold_spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    calls_inside: int = 0
    not_ready_inside: int = 0
    # Copies are attributed to the window they were loaded for (the first one closing
    # after their load started), with every billed minute they cost.
    billed_cmu_minutes: float = 0.0
    outside_before_cmu_minutes: float = 0.0
    outside_after_cmu_minutes: float = 0.0
    load_seconds: list[float] = field(default_factory=list)

    @property
    def minutes(self) -> float:
        return (self.close - self.open).total_seconds() / 60

    @property
    def cold_seconds(self) -> float:
        return sum((b - a).total_seconds() for a, b in self.cold_spans)

    @property
    def opened_cold(self) -> bool:
        return bool(self.cold_spans) and self.cold_spans[0][0] == self.open

    @property
    def outside_cmu_minutes(self) -> float:
        return self.outside_before_cmu_minutes + self.outside_after_cmu_minutes

    def limit_billed_cmu_minutes(self, tail: timedelta) -> float:
        """The least any strategy pays for this window with keepwarm's tight end: a copy
        serving its first call exactly at the open (no earlier) and released ``tail``
        after the close, billed in whole 5-minute windows."""
        windows = math.ceil((self.close - self.open + tail) / BILLING_WINDOW)
        return windows * 5 * self.cmus

    def limit_outside_cmu_minutes(self, tail: timedelta) -> float:
        return self.limit_billed_cmu_minutes(tail) - self.minutes * self.cmus


def _overlap(a: datetime, b: datetime, spans: Sequence[tuple[datetime, datetime]]) -> float:
    return sum(max(0.0, (min(b, c) - max(a, o)).total_seconds()) for o, c in spans)


def measure(spec: ModelSpec, windows: Sequence[tuple[datetime, datetime]], seen: Observed) -> list[WindowFigures]:
    """Per window: cold spans inside it, calls in it, and what its copies were billed."""
    figures = [WindowFigures(spec.name, o, c, spec.cmus) for o, c in windows]
    if not figures:
        return []
    loaded = sorted((cp.loaded_at, cp.released_at) for cp in seen.copies if cp.loaded_at is not None)
    for f in figures:
        cursor = f.open
        for a, b in loaded:
            if b <= cursor or a >= f.close:
                continue
            if a > cursor:
                f.cold_spans.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < f.close:
            f.cold_spans.append((cursor, f.close))
    closes = [c for _, c in windows]

    def owner(at: datetime) -> WindowFigures:
        return figures[min(bisect.bisect_right(closes, at), len(figures) - 1)]

    for call in seen.calls:
        f = owner(call.at)
        if f.open <= call.at < f.close:
            f.calls_inside += 1
            f.not_ready_inside += call.outcome == "not_ready"
    for cp in seen.copies:
        f = owner(cp.load_started_at)
        f.load_seconds.append(cp.load_seconds)
        for a, b in cp.billing_windows():
            outside = ((b - a).total_seconds() - _overlap(a, b, windows)) / 60 * spec.cmus
            if a < f.open:
                f.outside_before_cmu_minutes += outside
            else:
                f.outside_after_cmu_minutes += outside
        f.billed_cmu_minutes += cp.billed_minutes * spec.cmus
    return figures


@dataclass
class Figures:
    """A strategy's totals over a set of windows."""

    windows: int
    window_minutes: float
    cold_seconds: float
    worst_cold_seconds: float
    opened_cold: int
    outside_cmu_minutes: float
    outside_before_cmu_minutes: float
    billed_cmu_minutes: float
    calls_inside: int
    not_ready_inside: int
    limit_outside_cmu_minutes: float
    limit_billed_cmu_minutes: float

    @property
    def window_hours(self) -> float:
        return self.window_minutes / 60

    @property
    def calls_per_warm_hour(self) -> float:
        return self.calls_inside / self.window_hours if self.window_minutes else 0.0


TAIL = timedelta(seconds=RELEASE_SECONDS) - KEEPALIVE  # release - keepalive: the copy outlives the close by this


def summarise(figures: Sequence[WindowFigures]) -> Figures:
    return Figures(
        windows=len(figures),
        window_minutes=sum(f.minutes for f in figures),
        cold_seconds=sum(f.cold_seconds for f in figures),
        worst_cold_seconds=max((f.cold_seconds for f in figures), default=0.0),
        opened_cold=sum(f.opened_cold for f in figures),
        outside_cmu_minutes=sum(f.outside_cmu_minutes for f in figures),
        outside_before_cmu_minutes=sum(f.outside_before_cmu_minutes for f in figures),
        billed_cmu_minutes=sum(f.billed_cmu_minutes for f in figures),
        calls_inside=sum(f.calls_inside for f in figures),
        not_ready_inside=sum(f.not_ready_inside for f in figures),
        limit_outside_cmu_minutes=sum(f.limit_outside_cmu_minutes(TAIL) for f in figures),
        limit_billed_cmu_minutes=sum(f.limit_billed_cmu_minutes(TAIL) for f in figures),
    )


@dataclass
class Result:
    fleet: list[ModelSpec]
    start: datetime
    end: datetime
    run_end: datetime
    windows: dict[str, list[tuple[datetime, datetime]]]
    keepwarm: Run
    baseline: Run
    per_window: dict[str, list[WindowFigures]]  # strategy -> every window of every model
    seed: int = 1

    def figures(self, strategy: str, learned_only: bool = False) -> Figures:
        return summarise([f for f in self.per_window[strategy] if f.learned or not learned_only])

    def third_cold_start(self, model: str) -> Optional[datetime]:
        recorded = self.keepwarm.cold_starts.get(model, [])
        return recorded[2][0] if len(recorded) >= 3 else None


def simulate(models: int = 50, days: int = 7, seed: int = 1, start: datetime = DEFAULT_START) -> Result:
    end = start + timedelta(days=days)
    fleet = make_fleet(models, seed, start, end)
    windows = {spec.name: windows_of(spec, start, end) for spec in fleet}
    last_close = max((c for ws in windows.values() for _, c in ws), default=end)
    # Long enough after the last close for every copy to be released (15 min) and billed.
    run_end = max(end, last_close) + timedelta(hours=1)
    log(f"simulate: {models} models, {sum(map(len, windows.values()))} windows, "
        f"{start:%Y-%m-%d %H:%M} to {run_end:%Y-%m-%d %H:%M} UTC")
    keepwarm = run_keepwarm(fleet, start, run_end, seed)
    log(f"simulate: keepwarm done in {keepwarm.wall_seconds:.1f} s ({keepwarm.notes})")
    baseline = run_baseline(fleet, windows, start, run_end, seed)
    log(f"simulate: baseline done in {baseline.wall_seconds:.1f} s ({baseline.notes})")
    result = Result(fleet, start, end, run_end, windows, keepwarm, baseline, {}, seed)
    for run in (keepwarm, baseline):
        rows = []
        for spec in fleet:
            third = result.third_cold_start(spec.name)
            for f in measure(spec, windows[spec.name], run.observed[spec.name]):
                f.learned = third is not None and f.open > third
                rows.append(f)
        result.per_window[run.strategy] = rows
    return result


# -- the targets ----------------------------------------------------------------------------
CALLS_LIMIT = 60 / (KEEPALIVE.total_seconds() / 60)  # one call per keep-alive interval


def lead_before(result: Result, model: str, at: datetime) -> tuple[Optional[float], int]:
    """About the pre-warm lead keepwarm had for ``model`` by ``at``: from the cold starts
    it had recorded by then, each taken as exact."""
    samples = tuple(s for when, s in result.keepwarm.cold_starts.get(model, []) if when < at)
    samples = samples[-COLD_START_SAMPLES:]
    spec = next(spec for spec in result.fleet if spec.name == model)
    lead = prewarm_lead(spec.config(), ModelState(cold_starts=samples), Settings(table_name="x", queue_url="x"))
    return lead.total_seconds(), len(samples)


@dataclass
class Target:
    name: str
    measured: str
    met: bool
    detail: str


def targets(result: Result) -> list[Target]:
    kw, base = result.figures("keepwarm"), result.figures("baseline")
    kw_learned = result.figures("keepwarm", learned_only=True)
    out: list[Target] = []

    # 1. Zero cold seconds inside windows once a model has cold starts recorded.
    cold = [f for f in result.per_window["keepwarm"] if f.learned and f.cold_seconds > 0]
    if not cold:
        detail = (f"0 s cold in all {kw_learned.windows} windows that opened after their model's "
                  "third recorded cold start.")
    else:
        late = []
        for f in cold:
            lead, n = lead_before(result, f.model, f.open)
            drawn = max(f.load_seconds) if f.load_seconds else float("nan")
            late.append((f, lead, n, drawn))
        beyond = sum(1 for _, lead, _, drawn in late if lead is not None and drawn > lead)
        worst = max(late, key=lambda x: x[0].cold_seconds)
        share = 100 * len(cold) / kw_learned.windows if kw_learned.windows else 0.0
        detail = (
            f"Missed by {kw_learned.cold_seconds:.0f} s: {len(cold)} of {kw_learned.windows} windows "
            f"({share:.1f}%) had a cold spell, {kw_learned.cold_seconds / len(cold):.0f} s on average, "
            f"worst {worst[0].cold_seconds:.0f} s ({worst[0].model}, opening "
            f"{worst[0].open:%a %d %b %H:%M} UTC: load drawn {worst[3]:.0f} s against a learned lead "
            f"of {worst[1] or 0:.0f} s from {worst[2]} samples). In {beyond} of the {len(cold)} the "
            "copy's load time, drawn by the simulator, was longer than the lead keepwarm had learned "
            "(p95 of the model's recorded cold starts + 10 s poll + 30 s margin). With few samples the "
            "nearest-rank p95 is their maximum (it is for fewer than 20), so a draw from the "
            "log-normal's tail beyond every sample seen so far, by more than the 40 s added, "
            "reaches the open still loading.")
    out.append(Target("zero cold seconds inside windows once a model has 3 cold starts recorded",
                      f"{kw_learned.cold_seconds:.0f} s in {kw_learned.windows} windows",
                      not cold, detail))

    # 2. Outside minutes at most a third of the baseline's.
    ratio = kw.outside_cmu_minutes / base.outside_cmu_minutes if base.outside_cmu_minutes else float("inf")
    third = base.outside_cmu_minutes / 3
    met = kw.outside_cmu_minutes <= third
    limit_ratio = kw.limit_outside_cmu_minutes / base.outside_cmu_minutes if base.outside_cmu_minutes else 0.0

    def plain_minutes(strategy: str) -> float:
        # Per window and per copy, not weighted by CMUs: what the timing rules alone decide.
        rows = result.per_window[strategy]
        return sum(f.outside_cmu_minutes / f.cmus for f in rows) / max(1, len(rows))

    over = kw.outside_cmu_minutes - kw.limit_outside_cmu_minutes
    overshoot = [f for f in result.per_window["keepwarm"]
                 if f.outside_cmu_minutes > f.limit_outside_cmu_minutes(TAIL) + 1e-6]
    common = (
        f"Per window, keepwarm's copy is billed {plain_minutes('keepwarm'):.1f} minutes outside the window, "
        f"the baseline's {plain_minutes('baseline'):.1f} and the limit's 5.0. keepwarm's copy outlives the "
        "close by 1 minute, which the 5-minute billing windows round up to 5 (the pre-warm margin before "
        "the open only moves the billing grid earlier, at no extra cost, while it stays under 4 minutes); "
        "the baseline's outlives the close by 15 minutes minus the time from its last firing to the close, "
        "1 to 14 minutes, and its billing grid (from its first success, 14 minutes into the window) rounds "
        f"that up too. keepwarm is {over:.1f} CMU-minutes above the limit, from {len(overshoot)} windows "
        "whose billing grid ran past one more 5-minute boundary: the copy was ready more than 4 minutes "
        "before the open (a long learned lead met a short cold start), or only after it (a late one).")
    if met:
        detail = (f"{kw.outside_cmu_minutes:.0f} against a third of {base.outside_cmu_minutes:.0f} = "
                  f"{third:.0f} CMU-minutes (ratio {ratio:.2f}). " + common)
    else:
        detail = (
            f"Missed by {kw.outside_cmu_minutes - third:,.0f} CMU-minutes: {kw.outside_cmu_minutes:,.0f} "
            f"against a third of {base.outside_cmu_minutes:,.0f} = {third:,.0f} (ratio {ratio:.2f}). "
            f"The limit itself is {kw.limit_outside_cmu_minutes:.0f} CMU-minutes, {limit_ratio:.2f} of the "
            "baseline: with these windows no strategy that keeps the tight end's 1-minute tail can reach a "
            "third of the cron, because billing in 5-minute windows makes every window cost at least 5 "
            f"minutes outside, and the cron's copy costs only {plain_minutes('baseline') / 5:.1f} times that. "
            + common)
    out.append(Target("CMU-minutes billed outside windows at most a third of the baseline's",
                      f"{kw.outside_cmu_minutes:,.0f} vs {base.outside_cmu_minutes:,.0f} (ratio {ratio:.2f})",
                      met, detail))

    # 3. Calls per warm hour within one of the limit.
    gap = kw.calls_per_warm_hour - CALLS_LIMIT
    met = abs(gap) <= 1
    detail = (f"{kw.calls_per_warm_hour:.2f} against {CALLS_LIMIT:.2f} ({gap:+.2f}); "
              f"{kw.not_ready_inside} of the {kw.calls_inside} calls inside windows were polls of a "
              "model still loading. Beyond one per interval, each window has the tight end's "
              "extra call at close - 14 min, which matters most in short windows.")
    if not met:
        detail = f"Missed by {abs(gap) - 1:.2f} calls per hour. " + detail
    out.append(Target("calls per warm hour within one of one per keep-alive interval",
                      f"{kw.calls_per_warm_hour:.2f} vs limit {CALLS_LIMIT:.2f}", met, detail))
    return out


# -- the report -----------------------------------------------------------------------------
def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def figures_table(result: Result) -> str:
    kw, base = result.figures("keepwarm"), result.figures("baseline")
    kwl, basel = result.figures("keepwarm", True), result.figures("baseline", True)

    def pct(n: int, of: int) -> str:
        return f"{n} ({100 * n / of:.0f}%)" if of else "0"

    header = ["figure", "keepwarm", "baseline: cron every 14 min", "limit",
              "keepwarm, once cold starts are recorded", "baseline, same windows", "limit, same windows"]
    rows = [
        ["windows (window hours)", f"{kw.windows} ({_n(kw.window_hours)} h)", f"{base.windows} ({_n(base.window_hours)} h)",
         "", f"{kwl.windows} ({_n(kwl.window_hours)} h)", f"{basel.windows} ({_n(basel.window_hours)} h)", ""],
        ["cold seconds inside windows", _n(kw.cold_seconds), _n(base.cold_seconds), "0",
         _n(kwl.cold_seconds), _n(basel.cold_seconds), "0"],
        ["cold seconds per window (mean / worst)", f"{kw.cold_seconds / max(1, kw.windows):.1f} / {kw.worst_cold_seconds:.0f}",
         f"{base.cold_seconds / max(1, base.windows):.1f} / {base.worst_cold_seconds:.0f}", "0 / 0",
         f"{kwl.cold_seconds / max(1, kwl.windows):.1f} / {kwl.worst_cold_seconds:.0f}",
         f"{basel.cold_seconds / max(1, basel.windows):.1f} / {basel.worst_cold_seconds:.0f}", "0 / 0"],
        ["windows that opened cold", pct(kw.opened_cold, kw.windows), pct(base.opened_cold, base.windows), "0",
         pct(kwl.opened_cold, kwl.windows), pct(basel.opened_cold, basel.windows), "0"],
        ["CMU-minutes billed outside windows", _n(kw.outside_cmu_minutes), _n(base.outside_cmu_minutes),
         _n(kw.limit_outside_cmu_minutes), _n(kwl.outside_cmu_minutes), _n(basel.outside_cmu_minutes),
         _n(kwl.limit_outside_cmu_minutes)],
        ["CMU-minutes billed in total", _n(kw.billed_cmu_minutes), _n(base.billed_cmu_minutes),
         _n(kw.limit_billed_cmu_minutes), _n(kwl.billed_cmu_minutes), _n(basel.billed_cmu_minutes),
         _n(kwl.limit_billed_cmu_minutes)],
        ["calls per warm hour (calls inside windows / window hours)", f"{kw.calls_per_warm_hour:.2f}",
         f"{base.calls_per_warm_hour:.2f}", f"{CALLS_LIMIT:.2f}", f"{kwl.calls_per_warm_hour:.2f}",
         f"{basel.calls_per_warm_hour:.2f}", f"{CALLS_LIMIT:.2f}"],
    ]
    return table(header, rows, "lrrrrrr")


def summary(result: Result) -> str:
    kw, base = result.figures("keepwarm"), result.figures("baseline")

    def cut(a: float, b: float) -> str:
        return f"{100 * (1 - a / b):.0f}% less" if b else "n/a"

    return (f"In short: over {kw.windows} windows ({kw.window_hours:,.0f} window hours), users would have met a "
            f"cold model for {kw.cold_seconds:,.0f} s with keepwarm against {base.cold_seconds:,.0f} s with the "
            f"cron ({cut(kw.cold_seconds, base.cold_seconds)}), and {kw.opened_cold} windows opened cold against "
            f"{base.opened_cold}. Minutes paid outside the windows: {kw.outside_cmu_minutes:,.0f} CMU-minutes "
            f"against {base.outside_cmu_minutes:,.0f} ({cut(kw.outside_cmu_minutes, base.outside_cmu_minutes)}), "
            f"with {kw.calls_per_warm_hour:.2f} calls per warm hour against {base.calls_per_warm_hour:.2f}.")


def kinds_table(result: Result) -> str:
    """Per kind of window: where the cold seconds and the outside minutes come from."""
    kind_of = {s.name: s.kind for s in result.fleet}
    rows = []
    for kind in KINDS:
        kw = summarise([f for f in result.per_window["keepwarm"] if kind_of[f.model] == kind])
        base = summarise([f for f in result.per_window["baseline"] if kind_of[f.model] == kind])
        if not kw.windows:
            continue
        ratio = kw.outside_cmu_minutes / base.outside_cmu_minutes if base.outside_cmu_minutes else float("nan")
        rows.append([kind, kw.windows, f"{kw.window_minutes / kw.windows:.0f}", _n(kw.cold_seconds),
                     _n(base.cold_seconds), _n(kw.outside_cmu_minutes), _n(base.outside_cmu_minutes),
                     _n(kw.limit_outside_cmu_minutes), f"{ratio:.2f}"])
    return table(["windows", "count", "mean minutes", "keepwarm cold s", "baseline cold s",
                  "keepwarm outside CMU-min", "baseline outside CMU-min", "limit", "keepwarm / baseline"],
                 rows, "lrrrrrrrr")


def after_dst(result: Result, hours: int = 48) -> str:
    """How both strategies did on the windows right after a daylight-saving change."""
    changes = dst_changes([s.timezone for s in result.fleet], result.start, result.end)
    zone_of = {s.name: s.timezone for s in result.fleet}

    def near(f: WindowFigures) -> bool:
        return any(zone_of[f.model] == z and at <= f.open < at + timedelta(hours=hours) for z, at in changes)

    kw = summarise([f for f in result.per_window["keepwarm"] if near(f)])
    base = summarise([f for f in result.per_window["baseline"] if near(f)])
    if not kw.windows:
        return "No window opened within two days after a change."
    return (f"The {kw.windows} windows of those zones' models opening within {hours} h after the change: "
            f"keepwarm cold for {kw.cold_seconds:.0f} s ({kw.opened_cold} opened cold), the baseline "
            f"for {base.cold_seconds:.0f} s ({base.opened_cold} opened cold); outside CMU-minutes "
            f"{kw.outside_cmu_minutes:.0f} against {base.outside_cmu_minutes:.0f}.")


def targets_table(found: Sequence[Target]) -> str:
    return table(["target", "measured", "met"], [[t.name, t.measured, "yes" if t.met else "**no**"] for t in found],
                 "llc")


def report(result: Result, argv: Sequence[str], wall_seconds: float, png: Optional[str]) -> str:
    fleet = result.fleet
    kinds = {k: sum(1 for s in fleet if s.kind == k) for k in KINDS}
    zones = sorted({s.timezone for s in fleet})
    changes = dst_changes(zones, result.start, result.end)
    found = targets(result)
    kw_total = sum(len(r.copies) for r in result.keepwarm.observed.values())
    base_total = sum(len(r.copies) for r in result.baseline.observed.values())
    medians = sorted(s.load_median for s in fleet)
    lines = [
        "## Keeping models warm: keepwarm against a 14-minute cron",
        "",
        f"`{command_line('bench.simulate', argv)}`: wall time {wall_seconds:.0f} s "
        f"(keepwarm {result.keepwarm.wall_seconds:.0f} s, baseline {result.baseline.wall_seconds:.0f} s), "
        f"on {machine()}.",
        "",
        summary(result),
        "",
        "### Figures",
        "",
        figures_table(result),
        "",
        "By kind of window (all windows):",
        "",
        kinds_table(result),
        "",
        "### Targets",
        "",
        targets_table(found),
        "",
    ]
    for t in found:
        lines.append(f"- **{t.name}**: {'met' if t.met else 'not met'}. {t.detail}")
    lines += [
        "",
        "### What ran",
        "",
        f"- {len(fleet)} imported models, {len(zones)} time zones ({', '.join(zones)}); windows: "
        f"{kinds['business']} business-hours (MON-FRI, 8-9.5 h), {kinds['overnight']} overnight batch "
        f"(22:00-02:00 daily), {kinds['short']} with three short windows a day (45-60 min), "
        f"{kinds['cron']} in cron form (a 2 h morning batch MON-SAT and a Sunday evening hour and a half).",
        f"- Simulated {result.start:%a %d %b %Y %H:%M} UTC to {result.end:%a %d %b %Y %H:%M} UTC; "
        f"{len(changes)} daylight-saving change(s) inside it: "
        + (", ".join(f"{z} at {at:%d %b %H:%M} UTC" for z, at in changes) or "none") + ". "
        + after_dst(result) + " "
        "Local dates whose windows would open in the first 30 minutes or after the end are excluded "
        "(the same `exclude_dates` for both strategies), so only whole windows are counted; the run "
        f"continues to {result.run_end:%d %b %H:%M} UTC, an hour after the last close.",
        f"- Cold starts: each one drawn by the simulator from a log-normal around the model's own median "
        f"({medians[0]:.0f}-{medians[-1]:.0f} s across models, {statistics_median(medians):.0f} s typical), "
        f"sigma {LOAD_SIGMA}: a 90 s model takes over 4 min once in {1 / lognormal_tail(90, 240):.0f} cold starts. "
        f"Idle copies are released after {RELEASE_SECONDS // 60} minutes; 1-4 CMUs per copy; seed {result.seed}.",
        f"- keepwarm: `Api.register` for each model, then `Ticker.run` and `Worker.handle` driven by "
        f"`local.harness.Driver` on a `ManualClock` ({result.keepwarm.notes.get('ticks', 0):,} ticks, "
        f"{result.keepwarm.notes.get('deliveries', 0):,} queued calls delivered), a `MemoryStore` and a "
        "`SimQueue`; calls by the real `Invoker` over HTTP to the simulator. Default settings: 3-min "
        "pre-warm until 3 cold starts are recorded, then their p95 + 40 s; keep-alive 14 min; "
        f"polls every 10 s while loading. The simulator loaded {kw_total} copies.",
        f"- baseline: calls at each window's open, open + 14 min, ... while before the close, from a "
        f"botocore client with SDK retries off and its own retry: on `ModelNotReadyException`, "
        f"{BASELINE_RETRIES} more attempts {BASELINE_RETRY_SECONDS} s apart, then nothing until the next "
        f"firing ({result.baseline.notes.get('calls', 0):,} calls). A second simulator with the same "
        f"models and seed, so the n-th cold start of a model draws the same load time in both runs. "
        f"It loaded {base_total} copies.",
        "",
        "### How the figures are measured",
        "",
        "All from the simulators' own records (`Simulator.inspect`: every call, and every copy's "
        "`load_started_at`, `loaded_at`, `first_success_at`, `released_at`, `billed_minutes`).",
        "",
        "- **Cold seconds inside windows**: time inside a window during which no copy is loaded "
        "(loaded = from `loaded_at` to `released_at`). A request arriving then meets "
        "`ModelNotReadyException`. **Windows that opened cold**: no loaded copy at the open instant.",
        "- **CMU-minutes billed**: each copy is billed in 5-minute windows counted from its first "
        "successful call until its release; the minutes of those billing windows that fall outside "
        "every window of the model are *outside*; times the model's CMUs.",
        "- **Totals**: the baseline's copy answers no call of its own until the second firing, 14 "
        "minutes into the window (the first found it cold), so its billing starts then and its total "
        "comes out below keepwarm's, although its copy sits loaded from the end of the cold start. In "
        "service a user's request in those minutes would start the billing instead, adding up to 14 "
        "minutes per window to its total; its minutes outside windows would not change.",
        "- **Calls per warm hour**: calls made inside windows (any outcome, polls included) divided by "
        "window hours. Pre-warm calls before the open are not counted.",
        "- **Once cold starts are recorded**: windows opening after keepwarm recorded the model's third "
        "cold start (when its lead switches from the 3-minute default to the learned one); the "
        "baseline's figures for exactly the same windows beside them. Copies (and their billed "
        "minutes) and calls are attributed to the first window closing after they start.",
        f"- **Limits**. Cold seconds and cold opens: 0. Calls: one per keep-alive interval, "
        f"60/14 = {CALLS_LIMIT:.2f} per hour. Billed minutes: the copy must serve a call by the open "
        "and, with keepwarm's tight end (last call at close - 14 min), outlive the close by "
        "release - keepalive = 1 min; the least any window can cost is therefore a copy whose first "
        "successful call is exactly at the open, billed to close + 1 min in whole 5-minute windows: "
        "5 x ceil((D + 1)/5) minutes for a window of D minutes, of which 5 x ceil((D + 1)/5) - D are "
        "outside (5 minutes for every window here, as all last whole multiples of 5 minutes), times "
        "CMUs. A pre-warm margin (needed because a cold start's length is not known in advance) "
        "costs more only when the copy is ready over 4 minutes before the open, so that its billing "
        "runs into one more 5-minute window. A window whose copy is ready only after the open can come "
        "in under the limit: its billing starts later, and its users met a cold model.",
    ]
    if png:
        lines += ["", "### One model's day", "", f"![one model's simulated day under both strategies]({png})", "",
                  "Shaded: the model's windows. Bars: a copy loading (light) and loaded (dark); the thin line "
                  "under each bar spans the 5-minute billing windows. Red: cold time inside a window. "
                  "Ticks: calls (green answered, orange `ModelNotReadyException`). Bottom: the first "
                  "window's opening and closing, zoomed in."]
    return "\n".join(lines) + "\n"


def statistics_median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def lognormal_tail(median: float, beyond: float) -> float:
    """P(load > beyond) for the simulator's log-normal with this median."""
    z = math.log(beyond / median) / LOAD_SIGMA
    return 0.5 * math.erfc(z / math.sqrt(2))


# -- the timeline ---------------------------------------------------------------------------
def pick_day(result: Result) -> tuple[ModelSpec, date]:
    """A model with several windows a day, on a day after its lead was learned."""
    served = [s for s in result.fleet if result.windows[s.name]]
    if not served:
        raise ValueError("no model has a window in the simulated span")
    candidates = [s for s in served if s.kind == "short"] or served
    spec = next((s for s in candidates if s.timezone == "Europe/London"), candidates[0])
    zone = pytz.timezone(spec.timezone)
    third = result.third_cold_start(spec.name)
    after = [o for o, _ in result.windows[spec.name] if third is None or o > third]
    first = after[0] if after else result.windows[spec.name][0][0]
    # The day after the first learned window's day, if the model has windows then.
    day = first.astimezone(zone).date() + timedelta(days=1)
    if not any(o.astimezone(zone).date() == day for o, _ in result.windows[spec.name]):
        day = first.astimezone(zone).date()
    return spec, day


def plot_timeline(result: Result, path: Path) -> str:
    """Draw one model's day under both strategies; returns a one-line description."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    spec, day = pick_day(result)
    zone = pytz.timezone(spec.timezone)
    day_start = zone.localize(datetime.combine(day, datetime.min.time())).astimezone(UTC)
    day_end = zone.localize(datetime.combine(day + timedelta(days=1), datetime.min.time())).astimezone(UTC)
    windows = [(o, c) for o, c in result.windows[spec.name] if o < day_end and c > day_start]
    lanes = [("keepwarm", result.keepwarm.observed[spec.name], 1.0),
             ("baseline", result.baseline.observed[spec.name], 0.0)]
    per_window = {run: {(f.model, f.open): f for f in result.per_window[run]} for run in result.per_window}

    fig = plt.figure(figsize=(14, 7.5), dpi=110)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1], hspace=0.45, wspace=0.12)
    full = fig.add_subplot(grid[0, :])
    first_open, first_close = windows[0] if windows else (day_start, day_end)
    # The day's windows with an hour either side: the rest of the day has nothing to show.
    span_lo = max(day_start, min(o for o, _ in windows) - timedelta(hours=1)) if windows else day_start
    span_hi = min(day_end, max(c for _, c in windows) + timedelta(hours=1)) if windows else day_end
    panels = [
        (full, span_lo, span_hi, f"{spec.name} ({spec.timezone}, {spec.cmus} CMU, median load "
                                 f"{spec.load_median:.0f} s) on {day:%a %d %b %Y}, local time; "
                                 "top lane keepwarm, bottom lane the 14-minute cron"),
        (fig.add_subplot(grid[1, 0]), first_open - timedelta(minutes=8), first_open + timedelta(minutes=18),
         f"the {first_open.astimezone(zone):%H:%M} opening"),
        (fig.add_subplot(grid[1, 1]), first_close - timedelta(minutes=18), first_close + timedelta(minutes=22),
         f"the {first_close.astimezone(zone):%H:%M} close"),
    ]
    colours = {"ready": "#1a7f37", "not_ready": "#e36209", "error": "#6f42c1"}
    for ax, lo, hi, title in panels:
        for o, c in windows:
            ax.axvspan(o, c, color="#cfe2ff", zorder=0)
        for label, seen, y in lanes:
            strategy = "keepwarm" if y else "baseline"
            for cp in seen.copies:
                end_load = cp.loaded_at or cp.released_at
                ax.broken_barh([(mdates.date2num(cp.load_started_at),
                                 mdates.date2num(end_load) - mdates.date2num(cp.load_started_at))],
                               (y - 0.18, 0.36), color="#b8b8b8", zorder=2)
                if cp.loaded_at is not None:
                    ax.broken_barh([(mdates.date2num(cp.loaded_at),
                                     mdates.date2num(cp.released_at) - mdates.date2num(cp.loaded_at))],
                                   (y - 0.18, 0.36), color="#4a6fa5", zorder=2)
                if cp.first_success_at is not None:
                    billed_end = cp.first_success_at + timedelta(minutes=cp.billed_minutes)
                    ax.plot([cp.first_success_at, billed_end], [y - 0.27] * 2, color="#333333", lw=1.2,
                            zorder=3, solid_capstyle="butt")
                    for a, _ in cp.billing_windows():
                        ax.plot([a, a], [y - 0.30, y - 0.24], color="#333333", lw=0.6, zorder=3)
            for o, c in windows:
                f = per_window[strategy].get((spec.name, o))
                for a, b in (f.cold_spans if f else []):
                    ax.broken_barh([(mdates.date2num(a), mdates.date2num(b) - mdates.date2num(a))],
                                   (y + 0.2, 0.1), color="#d62728", zorder=4)
            for outcome, colour in colours.items():
                times = [c.at for c in seen.calls if c.outcome == outcome and lo <= c.at <= hi]
                if times:
                    ax.plot(times, [y + 0.36] * len(times), "|", color=colour, markersize=9,
                            markeredgewidth=1.3, zorder=5)
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.5, 1.6)
        # Lane names on the left-hand panels only: the right one would write over its neighbour.
        ax.set_yticks([1.0, 0.0], ["keepwarm", "baseline\n(cron /14 min)"] if ax is not panels[2][0] else ["", ""])
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
        if ax is full:
            ax.xaxis.set_major_locator(mdates.HourLocator(tz=zone))
        else:
            ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, 5), tz=zone))
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", color="#e5e5e5", lw=0.6, zorder=1)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="#cfe2ff", label="window"), Patch(color="#b8b8b8", label="copy loading"),
               Patch(color="#4a6fa5", label="copy loaded"), Line2D([], [], color="#333333", lw=1.2,
                                                                   label="billed (5-min windows)"),
               Patch(color="#d62728", label="cold inside the window"),
               Line2D([], [], color=colours["ready"], marker="|", ls="", markersize=9, label="call answered"),
               Line2D([], [], color=colours["not_ready"], marker="|", ls="", markersize=9,
                      label="call: ModelNotReadyException")]
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=8.5, frameon=False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.94, bottom=0.13)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"{spec.name} on {day:%Y-%m-%d}"


# -- the command ----------------------------------------------------------------------------
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default=DEFAULT_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        help="first instant simulated, ISO 8601 UTC (default: %(default)s)")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to write the section into ('' for none)")
    parser.add_argument("--png", default="docs/timeline.png", help="timeline image ('' for none)")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    began = time.perf_counter()
    result = simulate(args.models, args.days, args.seed, parse_iso(args.start))  # type: ignore[arg-type]
    png_link = None
    if args.png:
        png = Path(args.png)
        described = plot_timeline(result, png)
        log(f"simulate: timeline of {described} written to {png}")
        base = Path(args.out).parent if args.out else Path(".")
        png_link = os.path.relpath(png, base)
    wall = time.perf_counter() - began
    text = report(result, raw, wall, png_link)
    print(text)
    if args.out:
        write_section(Path(args.out), "simulate", text)
        log(f"simulate: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
