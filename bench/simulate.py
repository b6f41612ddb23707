"""keepwarm against the crons teams run today, over simulated weeks: cold seconds and paid minutes.

keepwarm exists for two numbers: how many seconds users meet a cold model inside their
windows, and how many model-unit minutes are paid for outside them. This benchmark
measures both for a fleet of imported models, for keepwarm and for the alternatives a
careful team would try, in the same run, on the same cold-start draws:

- **keepwarm**: the project's real code. Models are registered through ``Api.register``;
  ``Ticker.run`` and ``Worker.handle`` are driven by ``local.harness.Driver`` on a
  ``ManualClock`` (the minute tick, and queued calls when their delay ends), with a
  ``MemoryStore`` and a ``SimQueue``. Calls reach the ``Simulator`` in this process through
  ``local.harness.SimulatorInvoker`` (the service's own request body and error
  classification; the HTTP path is tested elsewhere). Also run with the billing-aware
  pre-warm off and the same lead percentile, to show what holding the ready-check back saves.
- **crons**: a rule calling each model every 14 minutes from its window's open (0), or
  from 5, 10 or 15 minutes before it, while before the close; on
  ``ModelNotReadyException`` the SDK-style retry: a few more attempts a few seconds apart,
  then nothing until the next firing.

Every strategy runs against its own simulator with the same models and seed, so the n-th
cold start of a model draws the same load time for all of them. The documented platform
(idle copies released after 15 minutes, billing from a copy's first successful call, a
cold model answering 429 at once) is run for several seeds; so is each platform variant
(a ``local.simulator`` option: idle release after 5 or 60 minutes, billing from the end of
the load, a cold model holding the request up to 60 s). Every figure comes from what the
simulators saw (their calls, and their copies' load, billing and release instants), not
from any strategy's own account.

``python -m bench.simulate [--models 50] [--days 7] [--seeds 1 2 3] [--variant-models 50]
[--out docs/benchmarks.md] [--png docs/timeline.png]`` prints the markdown and writes it
into its section of the doc (the billing-aware opening's timeline goes next to the PNG).
"""
from __future__ import annotations

import argparse
import bisect
import heapq
import itertools
import math
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pytz

from bench.common import command_line, log, machine, offline_aws, table, write_section

offline_aws()  # before any boto3 client exists

from chalicelib.api import Api  # noqa: E402
from chalicelib.loop import Ticker, Worker  # noqa: E402
from chalicelib.queue import WorkMessage  # noqa: E402
from chalicelib.records import ModelConfig, parse_iso  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store import MemoryStore  # noqa: E402
from chalicelib.timeline import window_intervals  # noqa: E402
from local.harness import Driver, SimQueue, SimulatorInvoker  # noqa: E402
from local.simulator import ManualClock, Simulator  # noqa: E402

UTC = timezone.utc
# Tuesday: London's and Berlin's clocks go forward on Sunday 29 March, inside a week from here.
DEFAULT_START = datetime(2026, 3, 24, tzinfo=UTC)
DEFAULT_SEEDS = (1, 2, 3)
KEEPALIVE = timedelta(minutes=14)
BILLING_WINDOW = timedelta(minutes=5)
LOAD_MEDIAN_SECONDS = 90.0
LOAD_SIGMA = 0.45  # per cold start: with a 90 s median, 1 in 20 takes over 3.5 min, 1 in 50 over 4
# The crons' SDK-style retry on ModelNotReadyException: this many more attempts, this far apart.
BASELINE_RETRIES = 3
BASELINE_RETRY_SECONDS = 5
# A window opening this soon after the simulation starts leaves no room to pre-warm; such
# windows (and the days they open on) are excluded for every strategy alike.
EDGE = timedelta(minutes=30)
# The "once cold starts are recorded" figures count each model's windows from this one on
# (the 4th): by then keepwarm has met the model's earlier cold starts.
LEARNED_FROM_WINDOW = 4
ACCOUNT_ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/"
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Shanghai",
         "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "America/Sao_Paulo", "UTC")
PING_BODY = json.dumps({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}).encode()


# -- platforms and strategies -----------------------------------------------------------------
@dataclass(frozen=True)
class Platform:
    """How the simulated Bedrock behaves: each field is a ``Simulator.add_model`` option."""

    key: str
    label: str
    release_seconds: int = 900
    billing: str = "first_success"
    cold_mode: str = "reject"
    hold_seconds: float = 60.0

    def options(self) -> dict[str, Any]:
        return {"release_seconds": self.release_seconds, "billing": self.billing,
                "cold_mode": self.cold_mode, "hold_seconds": self.hold_seconds}

    @property
    def tail(self) -> timedelta:
        """How long a copy outlives the close with the tightest end a 14-minute keep-alive
        allows (last call at close - 14 min; with a shorter release, as late as the release
        allows on the minute): 1 minute, or release - 14 min when the release is longer."""
        return max(timedelta(minutes=1), timedelta(seconds=self.release_seconds) - KEEPALIVE)


DOCUMENTED = Platform("documented", "documented: release after 15 min idle, billing from the first success, "
                                    "a cold model answers 429 at once")
VARIANTS = (
    Platform("release-5", "idle release after 5 min", release_seconds=300),
    Platform("release-60", "idle release after 60 min", release_seconds=3600),
    Platform("billing-load", "billing from load completion (pessimistic)", billing="load"),
    Platform("hold-60", "a cold model holds the request up to 60 s", cold_mode="hold", hold_seconds=60.0),
)
PLATFORMS = {p.key: p for p in (DOCUMENTED, *VARIANTS)}


@dataclass(frozen=True)
class Strategy:
    key: str
    label: str
    early_minutes: Optional[int] = None  # a cron: first firing this long before the open
    billing_aware: bool = True  # keepwarm: the models' billing_aware_prewarm

    @property
    def is_cron(self) -> bool:
        return self.early_minutes is not None


KEEPWARM = Strategy("keepwarm", "keepwarm")
# The same lead rule (the billing-aware percentile) with every call free to succeed at once.
KEEPWARM_PLAIN = Strategy("keepwarm-plain", "keepwarm, billing-aware pre-warm off, same lead percentile",
                          billing_aware=False)
CRONS = tuple(Strategy(f"cron-{m}", "cron every 14 min from the open" if m == 0
                       else f"cron every 14 min from {m} min before the open", early_minutes=m)
              for m in (0, 5, 10, 15))
STRATEGIES = {s.key: s for s in (KEEPWARM, KEEPWARM_PLAIN, *CRONS)}


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
    billing_started_at: Optional[datetime]
    released_at: datetime
    billed_minutes: int

    def billing_windows(self) -> list[tuple[datetime, datetime]]:
        """The 5-minute windows billed, counted from the start of the copy's billing."""
        if self.billing_started_at is None:
            return []
        return [(self.billing_started_at + k * BILLING_WINDOW, self.billing_started_at + (k + 1) * BILLING_WINDOW)
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
                   parse_iso(c["first_success_at"]), parse_iso(c["billing_started_at"]),  # type: ignore[arg-type]
                   parse_iso(c["released_at"]) or now, c["billed_minutes"]) for c in seen["copies"]]  # type: ignore[arg-type]
    calls = [Call(parse_iso(c["at"]), c["outcome"]) for c in seen["calls"]]  # type: ignore[arg-type]
    return Observed(copies, calls)


def new_simulator(fleet: Sequence[ModelSpec], clock: ManualClock, seed: int, platform: Platform) -> Simulator:
    # Same seed and ARNs: each model's n-th cold start draws the same load time in every run.
    sim = Simulator(clock=clock.now, seed=seed)
    for spec in fleet:
        sim.add_model(spec.arn, spec.load, cmus=spec.cmus, name=spec.name, **platform.options())
    return sim


@dataclass
class Run:
    strategy: str
    observed: dict[str, Observed]
    wall_seconds: float
    notes: dict[str, int] = field(default_factory=dict)


# -- the strategies -------------------------------------------------------------------------
def bench_settings(strategy: Strategy) -> Settings:
    settings = Settings(table_name="keepwarm-bench", queue_url="simulated")
    if not strategy.billing_aware:
        settings = replace(settings, lead_percentile=settings.held_lead_percentile)
    return settings


def run_keepwarm(fleet: Sequence[ModelSpec], platform: Platform, start: datetime, run_end: datetime,
                 seed: int, strategy: Strategy = KEEPWARM) -> Run:
    """The service's own tick and worker on a simulated clock."""
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

    def work(body: str) -> Any:
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


def run_cron(fleet: Sequence[ModelSpec], windows: dict[str, list[tuple[datetime, datetime]]], platform: Platform,
             start: datetime, run_end: datetime, seed: int, strategy: Strategy) -> Run:
    """A cron rule every 14 minutes from ``early_minutes`` before each open until the close,
    with the SDK-style retry only. Each model's calls stand alone (a held call delays only
    that model's retry), as separate invocations of a scheduled function do."""
    began = time.perf_counter()
    clock = ManualClock(start)
    sim = new_simulator(fleet, clock, seed, platform)
    seq = itertools.count()
    due: list[tuple[datetime, int, str, int]] = []
    early = timedelta(minutes=strategy.early_minutes or 0)
    for spec in fleet:
        for opened, closed in windows[spec.name]:
            at = opened - early
            while at < closed:
                heapq.heappush(due, (at, next(seq), spec.arn, 0))
                at += KEEPALIVE
    calls = 0
    while due:
        at, _, arn, attempt = heapq.heappop(due)
        clock.set(max(at, clock.now()))
        calls += 1
        answer = sim.invoke(arn, PING_BODY)
        if answer.body.get("__type") == "ModelNotReadyException" and attempt < BASELINE_RETRIES:
            answered = answer.at or clock.now()
            heapq.heappush(due, (answered + timedelta(seconds=BASELINE_RETRY_SECONDS), next(seq), arn, attempt + 1))
    clock.set(max(run_end, clock.now()))
    observed = {spec.name: observe(sim, spec.arn) for spec in fleet}
    return Run(strategy.key, observed, time.perf_counter() - began, notes={"calls": calls})


# -- measuring ------------------------------------------------------------------------------
@dataclass
class WindowFigures:
    """One window of one model, as one strategy served it."""

    model: str
    open: datetime
    close: datetime
    cmus: int
    learned: bool = False  # the model's 4th window or a later one
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
        """The least any strategy pays for this window with the tight end: a copy billed
        from exactly the open (no earlier) and released ``tail`` after the close, billed in
        whole 5-minute windows."""
        windows = math.ceil((self.close - self.open + tail) / BILLING_WINDOW)
        return windows * 5 * self.cmus

    def limit_outside_cmu_minutes(self, tail: timedelta) -> float:
        return self.limit_billed_cmu_minutes(tail) - self.minutes * self.cmus


def _overlap(a: datetime, b: datetime, spans: Sequence[tuple[datetime, datetime]]) -> float:
    return sum(max(0.0, (min(b, c) - max(a, o)).total_seconds()) for o, c in spans)


def measure(spec: ModelSpec, windows: Sequence[tuple[datetime, datetime]], seen: Observed) -> list[WindowFigures]:
    """Per window: cold spans inside it, calls in it, and what its copies were billed."""
    figures = [WindowFigures(spec.name, o, c, spec.cmus, learned=i + 1 >= LEARNED_FROM_WINDOW)
               for i, (o, c) in enumerate(windows)]
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


def summarise(figures: Sequence[WindowFigures], tail: timedelta) -> Figures:
    return Figures(
        windows=len(figures),
        window_minutes=sum(f.minutes for f in figures),
        cold_seconds=sum(f.cold_seconds for f in figures),
        worst_cold_seconds=max((f.cold_seconds for f in figures), default=0.0),
        opened_cold=sum(f.opened_cold for f in figures),
        outside_cmu_minutes=sum(f.outside_cmu_minutes for f in figures),
        billed_cmu_minutes=sum(f.billed_cmu_minutes for f in figures),
        calls_inside=sum(f.calls_inside for f in figures),
        not_ready_inside=sum(f.not_ready_inside for f in figures),
        limit_outside_cmu_minutes=sum(f.limit_outside_cmu_minutes(tail) for f in figures),
        limit_billed_cmu_minutes=sum(f.limit_billed_cmu_minutes(tail) for f in figures),
    )


@dataclass
class Result:
    """One platform and one seed: every strategy on the same fleet and draws."""

    fleet: list[ModelSpec]
    start: datetime
    end: datetime
    run_end: datetime
    windows: dict[str, list[tuple[datetime, datetime]]]
    runs: dict[str, Run]
    per_window: dict[str, list[WindowFigures]]  # strategy -> every window of every model
    seed: int = 1
    platform: Platform = DOCUMENTED

    @property
    def strategies(self) -> list[str]:
        return list(self.runs)

    @property
    def crons(self) -> list[str]:
        return [k for k in self.runs if STRATEGIES[k].is_cron]

    def figures(self, strategy: str, learned_only: bool = False) -> Figures:
        return summarise([f for f in self.per_window[strategy] if f.learned or not learned_only],
                         self.platform.tail)

    def best_cron(self) -> str:
        """The cron that met a cold model least, then the cheaper outside the windows."""
        return min(self.crons, key=lambda k: (self.figures(k).cold_seconds, self.figures(k).outside_cmu_minutes))


def simulate(models: int = 50, days: int = 7, seed: int = 1, start: datetime = DEFAULT_START,
             platform: Platform = DOCUMENTED, strategies: Sequence[str] = tuple(STRATEGIES)) -> Result:
    end = start + timedelta(days=days)
    fleet = make_fleet(models, seed, start, end)
    windows = {spec.name: windows_of(spec, start, end) for spec in fleet}
    last_close = max((c for ws in windows.values() for _, c in ws), default=end)
    # Long enough after the last close for every copy to be released and billed.
    run_end = max(end, last_close) + max(timedelta(hours=1), timedelta(seconds=platform.release_seconds * 2))
    log(f"simulate: {platform.key}, seed {seed}: {models} models, {sum(map(len, windows.values()))} windows, "
        f"{start:%Y-%m-%d %H:%M} to {run_end:%Y-%m-%d %H:%M} UTC")
    runs: dict[str, Run] = {}
    for key in strategies:
        strategy = STRATEGIES[key]
        if strategy.is_cron:
            runs[key] = run_cron(fleet, windows, platform, start, run_end, seed, strategy)
        else:
            runs[key] = run_keepwarm(fleet, platform, start, run_end, seed, strategy)
        log(f"simulate: {platform.key}, seed {seed}: {key} in {runs[key].wall_seconds:.1f} s ({runs[key].notes})")
    result = Result(fleet, start, end, run_end, windows, runs, {}, seed, platform)
    for key, run in runs.items():
        result.per_window[key] = [f for spec in fleet for f in measure(spec, windows[spec.name], run.observed[spec.name])]
    return result


def _simulate_job(job: tuple[int, int, int, str, datetime, tuple[str, ...]]) -> Result:
    models, days, seed, platform, start, strategies = job
    return simulate(models, days, seed, start, PLATFORMS[platform], strategies)


@dataclass
class Study:
    """The documented platform over several seeds, and each variant over the same seeds."""

    main: list[Result]  # one per seed
    variants: dict[str, list[Result]]  # platform key -> one per seed
    models: int
    variant_models: int
    days: int


def study(models: int = 50, days: int = 7, seeds: Sequence[int] = DEFAULT_SEEDS, start: datetime = DEFAULT_START,
          variant_models: Optional[int] = None, variants: Sequence[Platform] = VARIANTS,
          processes: int = 1) -> Study:
    """Every run the report needs, on ``processes`` processes (each run is independent)."""
    variant_models = models if variant_models is None else variant_models
    for_variants = tuple(k for k in STRATEGIES if k != KEEPWARM_PLAIN.key)
    jobs = [(models, days, s, DOCUMENTED.key, start, tuple(STRATEGIES)) for s in seeds]
    jobs += [(variant_models, days, s, p.key, start, for_variants) for p in variants for s in seeds]
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(_simulate_job, jobs, chunksize=1)
    else:
        results = [_simulate_job(job) for job in jobs]
    main = results[:len(seeds)]
    rest = iter(results[len(seeds):])
    return Study(main, {p.key: [next(rest) for _ in seeds] for p in variants}, models, variant_models, days)


# -- the targets ----------------------------------------------------------------------------
CALLS_LIMIT = 60 / (KEEPALIVE.total_seconds() / 60)  # one call per keep-alive interval
OUTSIDE_LIMIT_FACTOR = 1.02
CRON_FACTOR = 0.8


@dataclass
class Target:
    name: str
    measured: str
    met: Optional[bool]  # None: cannot be judged (said why in the detail)
    detail: str


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def spread(values: Sequence[float], digits: int = 0) -> str:
    """Mean, then min-max across seeds when there are several."""
    if len(values) == 1:
        return _n(values[0], digits)
    lo, hi = min(values), max(values)
    mean = _n(statistics.fmean(values), digits)
    return mean if _n(lo, digits) == _n(hi, digits) else f"{mean} ({_n(lo, digits)}-{_n(hi, digits)})"


def per_seed(results: Sequence[Result], strategy: str, pick: Callable[[Figures], float],
             learned_only: bool = False) -> list[float]:
    return [pick(r.figures(strategy, learned_only)) for r in results]


def label(strategy: str) -> str:
    return STRATEGIES[strategy].label


def cold_target(results: Sequence[Result]) -> Target:
    rows = [(r.seed, f) for r in results for f in r.per_window[KEEPWARM.key]]
    cold = [(seed, f) for seed, f in rows if f.cold_seconds > 0]
    first = sum(1 for _, f in rows if not f.learned)
    total = sum(f.cold_seconds for _, f in cold)
    measured = f"{total:,.0f} s in {len(rows):,} windows of {len(results)} seeds"
    if not cold:
        detail = (f"0 s cold in all {len(rows):,} windows, the {first:,} first to third windows of each "
                  "model (its first cold starts, led by the fleet's prior) included.")
    else:
        early = sum(1 for _, f in cold if not f.learned)
        seed, worst = max(cold, key=lambda x: x[1].cold_seconds)
        drawn = max(worst.load_seconds, default=float("nan"))
        detail = (f"Missed by {total:,.0f} s: {len(cold)} of {len(rows):,} windows had a cold spell ({early} of "
                  f"them among a model's first three windows), worst {worst.cold_seconds:.0f} s ({worst.model}, "
                  f"seed {seed}, opening {worst.open:%a %d %b %H:%M} UTC, a load drawn at {drawn:.0f} s).")
    return Target("0 cold seconds inside windows, every window of every seed, first windows included",
                  measured, not cold, detail)


def outside_target(results: Sequence[Result]) -> Target:
    ratios = [r.figures(KEEPWARM.key).outside_cmu_minutes / r.figures(KEEPWARM.key).limit_outside_cmu_minutes
              for r in results]
    met = max(ratios) <= OUTSIDE_LIMIT_FACTOR
    over = [(r.seed, f) for r in results for f in r.per_window[KEEPWARM.key]
            if f.outside_cmu_minutes > f.limit_outside_cmu_minutes(r.platform.tail) + 1e-6]
    early = sum(1 for _, f in over if f.outside_before_cmu_minutes > 0)
    extra = sum(f.outside_cmu_minutes - f.limit_outside_cmu_minutes(DOCUMENTED.tail) for _, f in over)
    under = sum(1 for r in results for f in r.per_window[KEEPWARM.key]
                if f.outside_cmu_minutes < f.limit_outside_cmu_minutes(r.platform.tail) - 1e-6)
    detail = (f"keepwarm / limit per seed: {', '.join(f'{x:.3f}' for x in ratios)}. "
              f"{len(over)} windows over their limit by {extra:,.0f} CMU-minutes in all ({early} billed before "
              f"the open: the copy served its first call more than a billing window's slack early), "
              f"{under} under it (a copy ready only after the open starts its billing late).")
    return Target(f"CMU-minutes outside windows at most {OUTSIDE_LIMIT_FACTOR} x the limit",
                  f"{spread(ratios, 3)} x the limit", met, detail)


def cron_target(results: Sequence[Result]) -> Target:
    crons = results[0].crons
    warm = [k for k in crons if all(r.figures(k).cold_seconds == 0 for r in results)]
    kw = per_seed(results, KEEPWARM.key, lambda f: f.outside_cmu_minutes)
    name = f"CMU-minutes outside windows at most {CRON_FACTOR} x the cheapest cron with 0 cold seconds"
    if not warm:
        best = min(crons, key=lambda k: sum(per_seed(results, k, lambda f: f.cold_seconds)))
        ratios = [a / b for a, b in zip(kw, per_seed(results, best, lambda f: f.outside_cmu_minutes))]
        return Target(name, f"no cron reached 0 cold seconds in every seed", None,
                      f"No cron reached 0 cold seconds in all {len(results)} seeds, so there is nothing to hold "
                      f"keepwarm to; against the one that met a cold model least ({label(best)}, "
                      f"{spread(per_seed(results, best, lambda f: f.cold_seconds))} cold s) keepwarm pays "
                      f"{spread(ratios, 2)} x its outside minutes.")
    cheapest = min(warm, key=lambda k: sum(per_seed(results, k, lambda f: f.outside_cmu_minutes)))
    theirs = per_seed(results, cheapest, lambda f: f.outside_cmu_minutes)
    ratios = [a / b for a, b in zip(kw, theirs)]
    floors = [a / b for a, b in zip(per_seed(results, KEEPWARM.key, lambda f: f.limit_outside_cmu_minutes), theirs)]
    others = [k for k in crons if k not in warm]
    reach = (f"The limit itself, the least any strategy can pay with 0 cold seconds, is "
             f"{', '.join(f'{x:.2f}' for x in floors)} of that cron's minutes per seed: "
             + (f"where it is above {CRON_FACTOR}, no strategy can meet this target, keepwarm included. "
                if max(floors) > CRON_FACTOR else "within reach. "))
    detail = (f"{label(cheapest)}: {spread(theirs)} CMU-minutes outside against keepwarm's {spread(kw)}, "
              f"ratio per seed {', '.join(f'{x:.2f}' for x in ratios)}. " + reach
              + (f"The crons starting later ({', '.join(label(k) for k in others)}) met cold models. "
                 if others else "")
              + "A cron that fires early pays for every minute its copy is billed before the open, and its "
              "copy outlives the close by the release time minus however long before the close its last "
              "firing fell; keepwarm's billing starts at the held ready-check and its last call is the "
              "tight end's.")
    return Target(name, f"{spread(ratios, 2)} x {label(cheapest)}", max(ratios) <= CRON_FACTOR, detail)


def calls_target(results: Sequence[Result]) -> Target:
    rates = per_seed(results, KEEPWARM.key, lambda f: f.calls_per_warm_hour)
    polls = sum(r.figures(KEEPWARM.key).not_ready_inside for r in results)
    inside = sum(r.figures(KEEPWARM.key).calls_inside for r in results)
    met = max(abs(x - CALLS_LIMIT) for x in rates) <= 1
    detail = (f"{spread(rates, 2)} against {CALLS_LIMIT:.2f}; {polls} of the {inside:,} calls inside windows "
              "were polls of a model still loading. Beyond one per interval, each window has the tight end's "
              "extra call at close - 14 min, which matters most in short windows.")
    return Target("calls per warm hour within one of one per keep-alive interval",
                  f"{spread(rates, 2)} vs {CALLS_LIMIT:.2f}", met, detail)


def variant_target(results: Sequence[Result]) -> Target:
    platform = results[0].platform
    kw_cold = per_seed(results, KEEPWARM.key, lambda f: f.cold_seconds)
    bests = [r.best_cron() for r in results]
    cron_cold = [r.figures(b).cold_seconds for r, b in zip(results, bests)]
    kw_out = per_seed(results, KEEPWARM.key, lambda f: f.outside_cmu_minutes)
    cron_out = [r.figures(b).outside_cmu_minutes for r, b in zip(results, bests)]
    met = all(a <= b for a, b in zip(kw_cold, cron_cold))
    named = sorted(set(bests), key=bests.index)
    detail = (f"keepwarm {spread(kw_cold)} cold s and {spread(kw_out)} CMU-minutes outside; the best cron "
              f"({', '.join(label(b) for b in named)}) {spread(cron_cold)} cold s and {spread(cron_out)} "
              f"CMU-minutes outside (the limit: {spread(per_seed(results, KEEPWARM.key, lambda f: f.limit_outside_cmu_minutes))}). "
              + variant_note(results))
    return Target(f"{platform.label}: no more cold seconds than the best cron",
                  f"{spread(kw_cold)} s vs {spread(cron_cold)} s", met, detail)


def variant_note(results: Sequence[Result]) -> str:
    """What decides keepwarm's figures on this platform, from what the simulators saw."""
    platform = results[0].platform
    kw = [f for r in results for f in r.per_window[KEEPWARM.key]]
    cold = [f for f in kw if f.cold_seconds > 0]
    where = (f" {len(cold)} windows cold, {sum(1 for f in cold if not f.learned)} of them among a model's first "
             f"three, {sum(f.opened_cold for f in cold)} at the open.") if cold else ""
    copies = [cp for r in results for seen in r.runs[KEEPWARM.key].observed.values() for cp in seen.copies]
    early = [cp for cp in copies if cp.billing_started_at and cp.first_success_at
             and cp.billing_started_at < cp.first_success_at]
    if platform.billing == "load":
        billed = statistics.fmean([(cp.first_success_at - cp.billing_started_at).total_seconds() / 60
                                   for cp in early]) if early else 0.0
        return (f"Billed from the end of each load, keepwarm's copies paid {billed:.1f} minutes on average "
                "before their held ready-check: the cost of the billing-aware pre-warm if Bedrock's rule is "
                "this one (at most the lead minus the load, rounded up to the billing window)." + where)
    if platform.cold_mode == "hold":
        return ("A held trigger whose load ends within the hold is answered, which starts the billing "
                "at the load's end, before the held-back ready-check; the others time out as not ready." + where)
    return where.strip()


def targets(results: Sequence[Result]) -> list[Target]:
    return [cold_target(results), outside_target(results), cron_target(results), calls_target(results)]


# -- the report -----------------------------------------------------------------------------
def main_table(results: Sequence[Result]) -> str:
    header = ["strategy", "cold s inside windows", "windows opened cold", "worst window, cold s",
              "CMU-min outside windows", "outside / limit", "CMU-min in total", "calls per warm hour",
              f"from each model's {LEARNED_FROM_WINDOW}th window: cold s", "... CMU-min outside"]
    rows = []
    for key in results[0].strategies:
        def col(pick: Callable[[Figures], float], learned: bool = False, digits: int = 0) -> str:
            return spread(per_seed(results, key, pick, learned), digits)
        rows.append([label(key), col(lambda f: f.cold_seconds), col(lambda f: f.opened_cold),
                     col(lambda f: f.worst_cold_seconds), col(lambda f: f.outside_cmu_minutes),
                     col(lambda f: f.outside_cmu_minutes / f.limit_outside_cmu_minutes, digits=3),
                     col(lambda f: f.billed_cmu_minutes), col(lambda f: f.calls_per_warm_hour, digits=2),
                     col(lambda f: f.cold_seconds, True), col(lambda f: f.outside_cmu_minutes, True)])
    lim = KEEPWARM.key
    rows.append(["**limit**", "0", "0", "0", spread(per_seed(results, lim, lambda f: f.limit_outside_cmu_minutes)),
                 "1", spread(per_seed(results, lim, lambda f: f.limit_billed_cmu_minutes)), f"{CALLS_LIMIT:.2f}",
                 "0", spread(per_seed(results, lim, lambda f: f.limit_outside_cmu_minutes, True))])
    return table(header, rows, "lrrrrrrrrr")


def variants_table(study_: Study) -> str:
    header = ["platform", "keepwarm cold s", "best cron", "best cron cold s", "keepwarm CMU-min outside",
              "best cron CMU-min outside", "limit", "every cron's cold s (0 / 5 / 10 / 15 min early)"]
    rows = []
    for results in [study_.main, *study_.variants.values()]:
        bests = [r.best_cron() for r in results]
        named = sorted(set(bests), key=bests.index)
        rows.append([
            results[0].platform.label, spread(per_seed(results, KEEPWARM.key, lambda f: f.cold_seconds)),
            ", ".join(k.replace("cron-", "") + " min early" for k in named),
            spread([r.figures(b).cold_seconds for r, b in zip(results, bests)]),
            spread(per_seed(results, KEEPWARM.key, lambda f: f.outside_cmu_minutes)),
            spread([r.figures(b).outside_cmu_minutes for r, b in zip(results, bests)]),
            spread(per_seed(results, KEEPWARM.key, lambda f: f.limit_outside_cmu_minutes)),
            " / ".join(_n(statistics.fmean(per_seed(results, k, lambda f: f.cold_seconds))) for k in results[0].crons),
        ])
    return table(header, rows, "lrlrrrrr")


def targets_table(found: Sequence[Target]) -> str:
    marks = {True: "yes", False: "**no**", None: "n/a"}
    return table(["target", "measured", "met"], [[t.name, t.measured, marks[t.met]] for t in found], "llc")


def summary(results: Sequence[Result]) -> str:
    kw = per_seed(results, KEEPWARM.key, lambda f: f.cold_seconds)
    out = per_seed(results, KEEPWARM.key, lambda f: f.outside_cmu_minutes)
    lim = per_seed(results, KEEPWARM.key, lambda f: f.limit_outside_cmu_minutes)
    windows = results[0].figures(KEEPWARM.key).windows
    crons = "; ".join(f"{label(k)} {spread(per_seed(results, k, lambda f: f.cold_seconds))} s cold and "
                      f"{spread(per_seed(results, k, lambda f: f.outside_cmu_minutes))}"
                      for k in results[0].crons)
    return (f"In short, over {len(results)} seeds ({windows} windows each for seed {results[0].seed}): keepwarm "
            f"met a cold model for {spread(kw)} s inside windows and paid {spread(out)} CMU-minutes outside "
            f"them, against a limit of {spread(lim)}; {crons} CMU-minutes.")


def after_dst(result: Result, hours: int = 48) -> str:
    """How each strategy did on the windows right after a daylight-saving change."""
    changes = dst_changes([s.timezone for s in result.fleet], result.start, result.end)
    zone_of = {s.name: s.timezone for s in result.fleet}

    def near(f: WindowFigures) -> bool:
        return any(zone_of[f.model] == z and at <= f.open < at + timedelta(hours=hours) for z, at in changes)

    rows = {k: summarise([f for f in result.per_window[k] if near(f)], result.platform.tail) for k in result.runs}
    if not rows[KEEPWARM.key].windows:
        return "No window opened within two days after a change."
    return (f"Seed {result.seed}, the {rows[KEEPWARM.key].windows} windows of those zones' models opening within "
            f"{hours} h after the change: " + "; ".join(
                f"{label(k)} {v.cold_seconds:.0f} s cold, {v.outside_cmu_minutes:.0f} CMU-minutes outside"
                for k, v in rows.items()) + ".")


def report(study_: Study, argv: Sequence[str], wall_seconds: float, pngs: Sequence[str] = ()) -> str:
    results = study_.main
    first = results[0]
    fleet = first.fleet
    kinds = {k: sum(1 for s in fleet if s.kind == k) for k in KINDS}
    zones = sorted({s.timezone for s in fleet})
    changes = dst_changes(zones, first.start, first.end)
    found = targets(results)
    variant_found = [variant_target(rs) for rs in study_.variants.values()]
    medians = sorted(s.load_median for s in fleet)
    seeds = ", ".join(str(r.seed) for r in results)
    settings = Settings(table_name="x", queue_url="x")
    lines = [
        "## Keeping models warm: keepwarm against 14-minute crons",
        "",
        f"`{command_line('bench.simulate', argv)}`: wall time {wall_seconds:.0f} s on {machine()}.",
        "",
        summary(results),
        "",
        f"### The documented platform: {study_.models} models, {study_.days} days, seeds {seeds}",
        "",
        "Each cell: the mean over the seeds, and in brackets the least and the most. *Limit*: the least any "
        "strategy can pay with 0 cold seconds (see below).",
        "",
        main_table(results),
        "",
        "### Targets",
        "",
        targets_table(found + variant_found),
        "",
    ]
    for t in found + variant_found:
        verdict = {True: "met", False: "not met", None: "cannot be judged"}[t.met]
        lines.append(f"- **{t.name}**: {verdict}. {t.detail}")
    lines += [
        "",
        f"### Platform variants: {study_.variant_models} models, {study_.days} days, seeds {seeds} each",
        "",
        "If Bedrock behaves otherwise than documented, each simulator option below changes one rule; "
        "the crons and keepwarm (default settings, billing-aware) meet the same draws. The best cron is the "
        "one that met a cold model least (then the cheaper)."
        + ("" if study_.variant_models == study_.models else
           f" Fewer models than the main table ({study_.variant_models}), to keep the run short."),
        "",
        variants_table(study_),
        "",
        "### What ran",
        "",
        f"- {len(fleet)} imported models, {len(zones)} time zones ({', '.join(zones)}); windows: "
        f"{kinds['business']} business-hours (MON-FRI, 8-9.5 h), {kinds['overnight']} overnight batch "
        f"(22:00-02:00 daily), {kinds['short']} with three short windows a day (45-60 min), "
        f"{kinds['cron']} in cron form (a 2 h morning batch MON-SAT and a Sunday evening hour and a half). "
        "Each seed draws its own fleet (kinds and zones in the same rotation, other windows, medians, CMUs).",
        f"- Simulated {first.start:%a %d %b %Y %H:%M} UTC to {first.end:%a %d %b %Y %H:%M} UTC; "
        f"{len(changes)} daylight-saving change(s) inside it: "
        + (", ".join(f"{z} at {at:%d %b %H:%M} UTC" for z, at in changes) or "none") + ". "
        + after_dst(first) + " Local dates whose windows would open in the first 30 minutes or after the end "
        "are excluded (the same `exclude_dates` for every strategy), so only whole windows are counted; each "
        "run continues until every copy has been released.",
        f"- Cold starts: each one drawn by the simulator from a log-normal around the model's own median "
        f"({medians[0]:.0f}-{medians[-1]:.0f} s across seed {first.seed}'s models), sigma {LOAD_SIGMA}: a 90 s "
        f"model takes over 4 min once in {1 / lognormal_tail(90, 240):.0f} cold starts. 1-4 CMUs per copy.",
        f"- keepwarm: `Api.register` for each model (its first window is its first cold start: nothing is "
        "known of it but the fleet), then `Ticker.run` and `Worker.handle` driven by `local.harness.Driver` "
        f"on a `ManualClock` ({first.runs[KEEPWARM.key].notes.get('ticks', 0):,} ticks and "
        f"{first.runs[KEEPWARM.key].notes.get('deliveries', 0):,} queued calls for seed {first.seed}), a "
        "`MemoryStore` and a `SimQueue`, calling the simulator in this process through "
        "`local.harness.SimulatorInvoker`. Default settings: the load trigger goes out the "
        f"p{settings.held_lead_percentile} of the model's predicted load (its own cold starts over the fleet's "
        f"prior) + {settings.poll_seconds} s + {settings.lead_margin_seconds} s before the open; the ready-check "
        f"is held until the billing window's slack before the open (at least {settings.ready_check_margin_seconds} s), "
        f"then polls every {settings.poll_seconds} s; keep-alive 14 min with the tight end. A held call "
        "(the hold variant) keeps its own worker waiting, up to the 60 s read timeout; other calls go out on time, "
        "as concurrent Lambda invocations do.",
        f"- {label(KEEPWARM_PLAIN.key)}: the same with `billing_aware_prewarm` off and `lead_percentile` "
        f"{settings.held_lead_percentile}, the billing-aware one's: the trigger the same percentile of the predicted "
        f"load before the open (the prediction differs a little, from its own samples), then polls every "
        f"{settings.poll_seconds} s, so the first success (and the billing) comes as soon as the copy is ready.",
        f"- crons: calls at each window's open (or 5, 10, 15 minutes before), then every 14 minutes while "
        f"before the close; on `ModelNotReadyException` {BASELINE_RETRIES} more attempts "
        f"{BASELINE_RETRY_SECONDS} s apart, then nothing until the next firing.",
        "",
        "### How the figures are measured",
        "",
        "All from the simulators' own records (`Simulator.inspect`: every call, and every copy's "
        "`load_started_at`, `loaded_at`, `first_success_at`, `billing_started_at`, `released_at`, "
        "`billed_minutes`).",
        "",
        "- **Cold seconds inside windows**: time inside a window during which no copy is loaded "
        "(loaded = from `loaded_at` to `released_at`). A request arriving then meets "
        "`ModelNotReadyException`. **Windows that opened cold**: no loaded copy at the open instant.",
        "- **CMU-minutes billed**: each copy is billed in 5-minute windows from the start of its billing "
        "(its first successful call; its load's end under the pessimistic variant) until its release; the "
        "minutes of those billing windows that fall outside every window of the model are *outside*; times "
        "the model's CMUs.",
        "- **Calls per warm hour**: calls made inside windows (any outcome, polls included) divided by "
        "window hours. Pre-warm calls before the open are not counted.",
        f"- **From each model's {LEARNED_FROM_WINDOW}th window**: the windows after a model's first three "
        "(by which keepwarm has met three of its cold starts), for every strategy alike. Copies (and their "
        "billed minutes) and calls are attributed to the first window closing after they start.",
        f"- **Limit**. Cold seconds: 0. Calls: one per keep-alive interval, 60/14 = {CALLS_LIMIT:.2f} per "
        "hour. Billed minutes: the copy must serve a call by the open and, calling every 14 minutes with the "
        "tightest end (last call at close - 14 min), outlive the close by release - 14 min (1 minute as "
        "documented; 1 minute too when the release is shorter than 14 minutes and the calls come as late as "
        "it allows); the least is therefore a copy billed from exactly the open to that release, in whole "
        "5-minute windows: 5 x ceil((D + tail)/5) minutes for a window of D minutes, times CMUs. A copy "
        "billed from up to one billing window's slack before the open costs no more. A window whose copy is "
        "ready only after the open can come in under the limit: its billing starts later, and its users met "
        "a cold model.",
    ]
    if pngs:
        lines += ["", "### One model's day", "", f"![one model's simulated day under three strategies]({pngs[0]})", "",
                  "Shaded: the model's windows. Bars: a copy loading (light) and loaded (dark); the thin line "
                  "under each bar spans the 5-minute billing windows. Red: cold time inside a window. "
                  "Ticks: calls (green answered, orange `ModelNotReadyException`). Bottom: the first "
                  "window's opening and closing, zoomed in."]
    if len(pngs) > 1:
        lines += ["", "### A billing-aware opening", "", f"![a billing-aware opening]({pngs[1]})", "",
                  "The same opening with the billing-aware pre-warm and without it, on the same lead percentile: the load "
                  "trigger goes out the lead before the open and finds the model cold; without holding back, "
                  "polls find the copy ready as soon as it is and start its billing then; with it, the "
                  "ready-check waits until the billing window's slack before the open, so the 5-minute "
                  "billing grid (ticks under the bars) ends exactly where the tight end's does."]
    return "\n".join(lines) + "\n"


def lognormal_tail(median: float, beyond: float) -> float:
    """P(load > beyond) for the simulator's log-normal with this median."""
    z = math.log(beyond / median) / LOAD_SIGMA
    return 0.5 * math.erfc(z / math.sqrt(2))


# -- the timelines --------------------------------------------------------------------------
TIMELINE_LANES = (KEEPWARM.key, "cron-0", "cron-10")
COLOURS = {"ready": "#1a7f37", "not_ready": "#e36209", "error": "#6f42c1"}


def pick_day(result: Result) -> tuple[ModelSpec, date]:
    """A model with several windows a day, on a day after its first three windows."""
    served = [s for s in result.fleet if result.windows[s.name]]
    if not served:
        raise ValueError("no model has a window in the simulated span")
    candidates = [s for s in served if s.kind == "short"] or served
    spec = next((s for s in candidates if s.timezone == "Europe/London"), candidates[0])
    zone = pytz.timezone(spec.timezone)
    opens = [o for o, _ in result.windows[spec.name]]
    first = opens[min(len(opens), LEARNED_FROM_WINDOW) - 1]
    # The day after that window's day, if the model has windows then.
    day = first.astimezone(zone).date() + timedelta(days=1)
    if not any(o.astimezone(zone).date() == day for o in opens):
        day = first.astimezone(zone).date()
    return spec, day


def _draw_lanes(ax: Any, result: Result, spec: ModelSpec, lanes: Sequence[str], windows: Sequence[tuple[datetime, datetime]],
                lo: datetime, hi: datetime) -> None:
    import matplotlib.dates as mdates

    per_window = {k: {(f.model, f.open): f for f in result.per_window[k]} for k in lanes}
    for o, c in windows:
        ax.axvspan(o, c, color="#cfe2ff", zorder=0)
    for i, key in enumerate(lanes):
        y = float(len(lanes) - 1 - i)
        seen = result.runs[key].observed[spec.name]
        for cp in seen.copies:
            end_load = cp.loaded_at or cp.released_at
            ax.broken_barh([(mdates.date2num(cp.load_started_at),
                             mdates.date2num(end_load) - mdates.date2num(cp.load_started_at))],
                           (y - 0.18, 0.36), color="#b8b8b8", zorder=2)
            if cp.loaded_at is not None:
                ax.broken_barh([(mdates.date2num(cp.loaded_at),
                                 mdates.date2num(cp.released_at) - mdates.date2num(cp.loaded_at))],
                               (y - 0.18, 0.36), color="#4a6fa5", zorder=2)
            if cp.billing_started_at is not None:
                billed_end = cp.billing_started_at + timedelta(minutes=cp.billed_minutes)
                ax.plot([cp.billing_started_at, billed_end], [y - 0.27] * 2, color="#333333", lw=1.2,
                        zorder=3, solid_capstyle="butt")
                for a, _ in cp.billing_windows():
                    ax.plot([a, a], [y - 0.31, y - 0.23], color="#333333", lw=0.7, zorder=3)
        for o, c in windows:
            f = per_window[key].get((spec.name, o))
            for a, b in (f.cold_spans if f else []):
                ax.broken_barh([(mdates.date2num(a), mdates.date2num(b) - mdates.date2num(a))],
                               (y + 0.2, 0.1), color="#d62728", zorder=4)
        for outcome, colour in COLOURS.items():
            times = [c.at for c in seen.calls if c.outcome == outcome and lo <= c.at <= hi]
            if times:
                ax.plot(times, [y + 0.36] * len(times), "|", color=colour, markersize=9, markeredgewidth=1.3, zorder=5)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.5, len(lanes) - 0.4)
    ax.grid(axis="x", color="#e5e5e5", lw=0.6, zorder=1)


def _legend(fig: Any, ncol: int = 7) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="#cfe2ff", label="window"), Patch(color="#b8b8b8", label="copy loading"),
               Patch(color="#4a6fa5", label="copy loaded"),
               Line2D([], [], color="#333333", lw=1.2, label="billed (5-min windows)"),
               Patch(color="#d62728", label="cold inside the window"),
               Line2D([], [], color=COLOURS["ready"], marker="|", ls="", markersize=9, label="call answered"),
               Line2D([], [], color=COLOURS["not_ready"], marker="|", ls="", markersize=9,
                      label="call: ModelNotReadyException")]
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8.5, frameon=False)


def plot_timeline(result: Result, path: Path, lanes: Sequence[str] = TIMELINE_LANES) -> str:
    """Draw one model's day under several strategies; returns a one-line description."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    spec, day = pick_day(result)
    zone = pytz.timezone(spec.timezone)
    day_start = zone.localize(datetime.combine(day, datetime.min.time())).astimezone(UTC)
    day_end = zone.localize(datetime.combine(day + timedelta(days=1), datetime.min.time())).astimezone(UTC)
    windows = [(o, c) for o, c in result.windows[spec.name] if o < day_end and c > day_start]
    lanes = [k for k in lanes if k in result.runs]
    names = [label(k).replace(" every 14 min", "").replace("from the open", "at the open") for k in lanes]

    fig = plt.figure(figsize=(14, 8), dpi=110)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1], hspace=0.45, wspace=0.12)
    full = fig.add_subplot(grid[0, :])
    first_open, first_close = windows[0] if windows else (day_start, day_end)
    span_lo = max(day_start, min(o for o, _ in windows) - timedelta(hours=1)) if windows else day_start
    span_hi = min(day_end, max(c for _, c in windows) + timedelta(hours=1)) if windows else day_end
    panels = [
        (full, span_lo, span_hi, f"{spec.name} ({spec.timezone}, {spec.cmus} CMU, median load "
                                 f"{spec.load_median:.0f} s) on {day:%a %d %b %Y}, local time, seed {result.seed}"),
        (fig.add_subplot(grid[1, 0]), first_open - timedelta(minutes=16), first_open + timedelta(minutes=14),
         f"the {first_open.astimezone(zone):%H:%M} opening"),
        (fig.add_subplot(grid[1, 1]), first_close - timedelta(minutes=18), first_close + timedelta(minutes=22),
         f"the {first_close.astimezone(zone):%H:%M} close"),
    ]
    for ax, lo, hi, title in panels:
        _draw_lanes(ax, result, spec, lanes, windows, lo, hi)
        # Lane names on the left-hand panels only: the right one would write over its neighbour.
        ax.set_yticks([float(len(lanes) - 1 - i) for i in range(len(lanes))],
                      names if ax is not panels[2][0] else [""] * len(lanes), fontsize=8)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
        if ax is full:
            ax.xaxis.set_major_locator(mdates.HourLocator(tz=zone))
        else:
            ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, 5), tz=zone))
        ax.set_title(title, fontsize=10, loc="left")
    _legend(fig)
    fig.subplots_adjust(left=0.16, right=0.98, top=0.94, bottom=0.12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"{spec.name} on {day:%Y-%m-%d}"


def pick_opening(result: Result) -> tuple[ModelSpec, datetime, datetime]:
    """A window from a model's 4th on whose billing-aware copy was loaded before a held
    ready-check: the trigger, the check and the open all to see."""
    tail = result.platform.tail
    for spec in result.fleet:
        if spec.kind != "short":
            continue
        for f in [f for f in result.per_window[KEEPWARM.key] if f.model == spec.name and f.learned]:
            copies = [cp for cp in result.runs[KEEPWARM.key].observed[spec.name].copies
                      if f.open - timedelta(minutes=20) < cp.load_started_at < f.open]
            if (copies and copies[0].loaded_at and copies[0].first_success_at
                    and copies[0].first_success_at - copies[0].loaded_at > timedelta(minutes=2)
                    and f.outside_cmu_minutes == f.limit_outside_cmu_minutes(tail)):
                return spec, f.open, f.close
    f = next(f for f in result.per_window[KEEPWARM.key] if f.learned)
    return next(s for s in result.fleet if s.name == f.model), f.open, f.close


def plot_opening(result: Result, path: Path) -> str:
    """One billing-aware opening beside the same opening without holding back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    spec, opened, closed = pick_opening(result)
    zone = pytz.timezone(spec.timezone)
    lanes = [k for k in (KEEPWARM.key, KEEPWARM_PLAIN.key) if k in result.runs]
    copy = next(cp for cp in result.runs[KEEPWARM.key].observed[spec.name].copies
                if cp.load_started_at < opened <= cp.released_at)
    lo = copy.load_started_at - timedelta(minutes=2)
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=110)
    _draw_lanes(ax, result, spec, lanes, [(opened, closed)], lo, opened + timedelta(minutes=12))
    marks = [(copy.load_started_at, "load trigger"), (copy.loaded_at, "copy ready"),
             (copy.first_success_at, "held ready-check: first success"), (opened, "window opens")]
    for i, (at, text) in enumerate(marks):
        if at is None:
            continue
        ax.axvline(at, color="#555555", lw=0.8, ls=":", zorder=1)
        ax.annotate(text, (mdates.date2num(at), len(lanes) - 0.45 - 0.12 * (i % 2)), fontsize=8,
                    ha="left", xytext=(3, 0), textcoords="offset points")
    lead = (opened - copy.load_started_at).total_seconds() / 60
    held = (opened - copy.first_success_at).total_seconds() / 60 if copy.first_success_at else float("nan")
    ax.set_yticks([float(len(lanes) - 1 - i) for i in range(len(lanes))],
                  ["billing-aware" if k == KEEPWARM.key else "billing-aware off,\nsame percentile" for k in lanes])
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, 2), tz=zone))
    ax.set_title(f"{spec.name} ({spec.timezone}, {spec.cmus} CMU): the {opened.astimezone(zone):%a %H:%M} opening, "
                 f"seed {result.seed}; trigger {lead:.1f} min before the open, ready-check {held:.1f} min before",
                 fontsize=10, loc="left")
    _legend(fig, ncol=4)
    fig.subplots_adjust(left=0.14, right=0.98, top=0.9, bottom=0.24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"{spec.name} at {opened:%Y-%m-%d %H:%M} UTC"


# -- the command ----------------------------------------------------------------------------
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--variant-models", type=int, default=None,
                        help="models in each platform variant's runs (default: --models)")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1),
                        help="runs at once (default: %(default)s)")
    parser.add_argument("--start", default=DEFAULT_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        help="first instant simulated, ISO 8601 UTC (default: %(default)s)")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to write the section into ('' for none)")
    parser.add_argument("--png", default="docs/timeline.png",
                        help="timeline image ('' for none); the billing-aware opening goes beside it, -billing")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    began = time.perf_counter()
    found = study(args.models, args.days, args.seeds, parse_iso(args.start),  # type: ignore[arg-type]
                  variant_models=args.variant_models, processes=args.processes)
    links: list[str] = []
    if args.png:
        png = Path(args.png)
        opening = png.with_name(png.stem + "-billing" + png.suffix)
        log(f"simulate: timeline of {plot_timeline(found.main[0], png)} written to {png}")
        log(f"simulate: opening of {plot_opening(found.main[0], opening)} written to {opening}")
        base = Path(args.out).parent if args.out else Path(".")
        links = [os.path.relpath(png, base), os.path.relpath(opening, base)]
    wall = time.perf_counter() - began
    text = report(found, raw, wall, links)
    print(text)
    if args.out:
        write_section(Path(args.out), "simulate", text)
        log(f"simulate: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
