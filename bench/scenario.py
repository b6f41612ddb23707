"""What one run of ``bench.simulate`` simulates: the platform, the strategies, the scenario
file, and the fleet and its users drawn from a scenario and a seed.

- ``Platform``: how the simulated Bedrock behaves (each field a ``Simulator.add_model`` option).
- The strategies a scenario may name (``STRATEGY_NAMES``): keepwarm, billing-aware or not, the
  crons from the open or 5, 10, 15 minutes before it, and ``cron-tuned``, whose rule
  (``tuned_cron``) follows from the platform and the fleet's cold starts.
- ``Scenario``: a scenario file (JSON, ``bench/scenarios/``), checked by ``parse_scenario``;
  ``SCENARIO_KEYS`` holds every key and its default.
- The fleet (``make_fleet``) and the users' requests in each window (``user_requests``):
  reproducible from the scenario and the seed, the same for every strategy.

Nothing here runs a strategy or measures one: ``bench.figures`` measures what the simulators
saw, ``bench.report`` writes it up, and ``bench.simulate`` runs everything.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pytz

from bench.common import offline_aws

offline_aws()  # before any boto3 client exists

from chalicelib.records import ModelConfig, parse_iso  # noqa: E402
from chalicelib.timeline import window_intervals  # noqa: E402

UTC = timezone.utc
# Tuesday: London's and Berlin's clocks go forward on Sunday 29 March, inside a week from here.
DEFAULT_START = datetime(2026, 3, 24, tzinfo=UTC)
KEEPALIVE = timedelta(minutes=14)
# The mixed fleet's medians (when a scenario names no range): log-normal around this,
# clamped; a scenario's own range replaces both.
MIXED_MEDIAN_SECONDS = 90.0
MIXED_MEDIAN_CLAMP = (55.0, 160.0)
# The crons' SDK-style retry on ModelNotReadyException: this many more attempts, this far apart.
BASELINE_RETRIES = 3
BASELINE_RETRY_SECONDS = 5
# A window opening this soon after the simulation starts leaves no room to pre-warm; such
# windows (and the days they open on) are excluded for every strategy alike.
EDGE = timedelta(minutes=30)
# Users call with this access key, so their calls are told apart from the strategies'.
USER_KEY = "USERREQUEST"
ACCOUNT_ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/"
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Shanghai",
         "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "America/Sao_Paulo", "UTC")
# The z-score of the 99th percentile of a normal distribution.
Z99 = 2.3263478740408408


# -- platforms, scenarios and strategies ------------------------------------------------------
@dataclass(frozen=True)
class Platform:
    """How the simulated Bedrock behaves: each field is a ``Simulator.add_model`` option."""

    key: str
    label: str
    release_seconds: float = 900
    billing: str = "first_success"
    cold_mode: str = "reject"
    hold_seconds: float = 60.0
    release_jitter_seconds: float = 0.0

    def options(self) -> dict[str, Any]:
        return {"release_seconds": self.release_seconds, "billing": self.billing,
                "cold_mode": self.cold_mode, "hold_seconds": self.hold_seconds,
                "release_jitter_seconds": self.release_jitter_seconds}

    @property
    def shortest_release(self) -> timedelta:
        return timedelta(seconds=self.release_seconds - self.release_jitter_seconds)

    @property
    def longest_release(self) -> timedelta:
        return timedelta(seconds=self.release_seconds + self.release_jitter_seconds)

    def describe(self) -> str:
        release = f"idle release after {self.release_seconds / 60:g} min"
        if self.release_jitter_seconds:
            release += f" (+/- {self.release_jitter_seconds / 60:g} min, drawn per copy)"
        cold = ("a cold model answers 429 at once" if self.cold_mode == "reject"
                else f"a cold model holds the call up to {self.hold_seconds:g} s")
        billing = "billing from the first success" if self.billing == "first_success" else "billing from the load's end"
        return f"{release}, {cold}, {billing}"


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the bad key."""


# Every key a scenario file may hold, with its default (a dict: a group of keys).
SCENARIO_KEYS: dict[str, Any] = {
    "name": None, "title": None, "about": None,
    "models": 30, "days": 5, "seeds": [1, 2], "start": "2026-03-24T00:00:00Z",
    "loads": {"median_seconds": [55, 160], "sigma": 0.45},
    "windows": {"minutes": None},
    "platform": {"release_minutes": 15, "release_jitter_minutes": 0, "cold_mode": "reject",
                 "hold_seconds": 60, "billing": "first_success"},
    "traffic": {"requests_per_hour": 20, "at_open": 2},
    "strategies": None,
}


@dataclass(frozen=True)
class Scenario:
    """What one benchmark run simulates (a scenario file, checked)."""

    name: str = "scenario"
    title: str = ""
    about: str = ""
    models: int = 30
    days: int = 5
    seeds: tuple[int, ...] = (1, 2)
    start: datetime = DEFAULT_START
    median_range: Optional[tuple[float, float]] = (55.0, 160.0)  # None: the mixed fleet's draw
    sigma: float = 0.45
    window_minutes: Optional[tuple[int, ...]] = None  # None: the mixed fleet
    platform: Platform = Platform("scenario", "")
    requests_per_hour: float = 20.0
    at_open: int = 2
    strategies: Optional[tuple[str, ...]] = None  # None: keepwarm and every cron

    def strategy_keys(self) -> tuple[str, ...]:
        return self.strategies or DEFAULT_STRATEGIES


def _number(path: str, value: Any, low: float, high: float = math.inf, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ScenarioError(f"{path}: must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not low <= value <= high:
        raise ScenarioError(f"{path}: must be within [{low:g}, {high:g}], got {value!r}")
    return value


def _group(path: str, value: Any, known: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{path}: must be an object, got {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        prefix = f"{path}." if path else ""
        raise ScenarioError(f"unknown key {prefix}{unknown[0]}; known: {', '.join(prefix + k for k in known)}")
    return {**known, **value}


def parse_scenario(data: Any, name: str = "scenario") -> Scenario:
    """A scenario from a file's JSON; every key optional; ``ScenarioError`` names a bad one."""
    top = _group("", data, SCENARIO_KEYS)
    loads = _group("loads", top["loads"], SCENARIO_KEYS["loads"])
    windows = _group("windows", top["windows"], SCENARIO_KEYS["windows"])
    plat = _group("platform", top["platform"], SCENARIO_KEYS["platform"])
    traffic = _group("traffic", top["traffic"], SCENARIO_KEYS["traffic"])
    for key in ("name", "title", "about"):
        if top[key] is not None and not isinstance(top[key], str):
            raise ScenarioError(f"{key}: must be a string")
    seeds = top["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise ScenarioError(f"seeds: must be a non-empty list of integers, got {seeds!r}")
    for i, seed in enumerate(seeds):
        _number(f"seeds[{i}]", seed, 0, integer=True)
    try:
        start = parse_iso(top["start"]) if isinstance(top["start"], str) else None
    except ValueError:
        start = None
    if start is None:
        raise ScenarioError(f"start: must be an ISO 8601 instant with a zone, got {top['start']!r}")
    median = loads["median_seconds"]
    if median is not None:
        if not (isinstance(median, list) and len(median) == 2):
            raise ScenarioError(f"loads.median_seconds: must be [low, high], got {median!r}")
        low = _number("loads.median_seconds[0]", median[0], 1, 3600)
        high = _number("loads.median_seconds[1]", median[1], low, 3600)
        median = (float(low), float(high))
    minutes = windows["minutes"]
    if minutes is not None:
        if not isinstance(minutes, list) or not minutes:
            raise ScenarioError(f"windows.minutes: must be a non-empty list of minutes, got {minutes!r}")
        minutes = tuple(int(_number(f"windows.minutes[{i}]", m, 1, 23 * 60, integer=True)) for i, m in enumerate(minutes))
    release = _number("platform.release_minutes", plat["release_minutes"], 1, 24 * 60)
    jitter = _number("platform.release_jitter_minutes", plat["release_jitter_minutes"], 0)
    if jitter >= release:
        raise ScenarioError("platform.release_jitter_minutes: must be below platform.release_minutes")
    if plat["cold_mode"] not in ("reject", "hold"):
        raise ScenarioError(f"platform.cold_mode: must be reject or hold, got {plat['cold_mode']!r}")
    if plat["billing"] not in ("first_success", "load"):
        raise ScenarioError(f"platform.billing: must be first_success or load, got {plat['billing']!r}")
    hold = _number("platform.hold_seconds", plat["hold_seconds"], 1, 900)
    strategies = top["strategies"]
    if strategies is not None:
        if not isinstance(strategies, list) or not strategies or any(s not in STRATEGY_NAMES for s in strategies):
            raise ScenarioError(f"strategies: must be a list of {', '.join(STRATEGY_NAMES)}, got {strategies!r}")
        strategies = tuple(strategies)
    key = top["name"] or name
    platform = Platform(key, "", release_seconds=release * 60, billing=plat["billing"], cold_mode=plat["cold_mode"],
                        hold_seconds=float(hold), release_jitter_seconds=jitter * 60)
    return Scenario(
        name=key, title=top["title"] or key, about=top["about"] or "",
        models=int(_number("models", top["models"], 1, 10_000, integer=True)),
        days=int(_number("days", top["days"], 1, 366, integer=True)),
        seeds=tuple(seeds), start=start, median_range=median,
        sigma=float(_number("loads.sigma", loads["sigma"], 0, 3)), window_minutes=minutes,
        platform=replace(platform, label=platform.describe()),
        requests_per_hour=float(_number("traffic.requests_per_hour", traffic["requests_per_hour"], 0, 3600)),
        at_open=int(_number("traffic.at_open", traffic["at_open"], 0, 1000, integer=True)),
        strategies=strategies)


def load_scenario(path: Path) -> Scenario:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ScenarioError(f"{path}: not JSON: {err}") from err
    try:
        return parse_scenario(data, path.stem)
    except ScenarioError as err:
        raise ScenarioError(f"{path}: {err}") from err


@dataclass(frozen=True)
class Strategy:
    key: str
    label: str
    early_minutes: Optional[int] = None  # a cron: first firing this long before the open
    interval_minutes: int = 14  # a cron: then every this many minutes while before the close
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
TUNED = "cron-tuned"
STRATEGIES = {s.key: s for s in (KEEPWARM, KEEPWARM_PLAIN, *CRONS)}
STRATEGY_NAMES = (*STRATEGIES, TUNED)
DEFAULT_STRATEGIES = (KEEPWARM.key, *(c.key for c in CRONS), TUNED)


def tuned_cron(platform: Platform, loads: Sequence[tuple[float, float]]) -> Strategy:
    """The careful team's cron: an interval one minute below the shortest release (at most
    14), from the fleet's p99 load, rounded up to 5 minutes, before the open."""
    interval = max(1, min(14, math.ceil(platform.shortest_release.total_seconds() / 60) - 1))
    early = 5 * math.ceil(fleet_p99(loads) / 300)
    return Strategy(TUNED, f"cron every {interval} min from {early} min before the open",
                    early_minutes=early, interval_minutes=interval)


def fleet_p99(loads: Sequence[tuple[float, float]]) -> float:
    """The 99th percentile of a cold start anywhere in the fleet (each model's log-normal,
    ``(median, sigma)``, equally likely), in seconds."""
    def beyond(x: float) -> float:
        return sum(lognormal_tail(m, s, x) for m, s in loads) / len(loads)

    low, high = 0.0, max(m * math.exp(Z99 * s) for m, s in loads) + 1
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if beyond(mid) > 0.01 else (low, mid)
    return high


def lognormal_tail(median: float, sigma: float, beyond: float) -> float:
    """P(load > beyond) for the simulator's log-normal with this median and sigma."""
    if beyond <= 0:
        return 1.0
    if sigma == 0:
        return float(median > beyond)
    return 0.5 * math.erfc(math.log(beyond / median) / sigma / math.sqrt(2))
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
    load_sigma: float = 0.45

    @property
    def load(self) -> dict[str, Any]:
        return {"kind": "lognormal", "median": self.load_median, "sigma": self.load_sigma}

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


def make_fleet(scenario: Scenario, seed: int, start: datetime, end: datetime) -> list[ModelSpec]:
    """The scenario's imported models across time zones, reproducibly: the mixed fleet's
    kinds of window, or one daily window each of a length from ``windows.minutes``,
    opening at a random minute of the day in its zone."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    fleet = []
    for i in range(scenario.models):
        zone = ZONES[i % len(ZONES)]
        if scenario.window_minutes:
            kind = "daily"
            opens = rng.randrange(24 * 60)
            windows = [{"start": _hhmm(opens), "stop": _hhmm(opens + rng.choice(scenario.window_minutes))}]
        else:
            # Shifted every round of zones, so each zone gets every kind of window.
            kind = kinds[(i + i // len(ZONES)) % len(kinds)]
            windows = KINDS[kind](rng)
        if scenario.median_range:
            median = rng.uniform(*scenario.median_range)
        else:
            low, high = MIXED_MEDIAN_CLAMP
            median = min(high, max(low, MIXED_MEDIAN_SECONDS * math.exp(0.25 * rng.gauss(0.0, 1.0))))
        spec = ModelSpec(name=f"{kind}-{i:02d}", arn=f"{ACCOUNT_ARN}kwbench{i:05d}", timezone=zone,
                         kind=kind, windows=tuple(windows), load_median=round(median, 1),
                         cmus=rng.randint(1, 4), load_sigma=scenario.sigma)
        fleet.append(replace(spec, exclude_dates=edge_dates(spec.config(), start, end)))
    return fleet


def user_requests(scenario: Scenario, seed: int, spec: ModelSpec, opened: datetime, closed: datetime) -> list[datetime]:
    """The users' requests in one window: ``at_open`` in its first minute, and a Poisson
    process at ``requests_per_hour`` over the whole window; the same for every strategy."""
    rng = random.Random(f"{seed}:{spec.arn}:{opened.isoformat()}:users")
    first = min(timedelta(minutes=1), closed - opened).total_seconds()
    times = [opened + timedelta(seconds=rng.uniform(0, first)) for _ in range(scenario.at_open)]
    if scenario.requests_per_hour > 0:
        at = opened
        while True:
            at += timedelta(seconds=rng.expovariate(scenario.requests_per_hour / 3600))
            if at >= closed:
                break
            times.append(at)
    # Whole milliseconds: the simulator's clock and its ISO records keep them exactly.
    return sorted(t.replace(microsecond=t.microsecond // 1000 * 1000) for t in times)


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
