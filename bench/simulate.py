"""keepwarm against the crons teams run today, with users calling, over simulated days.

keepwarm exists for two numbers: how many user requests meet a cold model inside their
windows, and how many model-unit minutes are paid for. This benchmark measures both for a
fleet of imported models, for keepwarm and for the crons a careful team would run, in the
same run, on the same cold-start draws and the same user requests:

- **keepwarm**: the project's real code. Models are registered through ``Api.register``;
  ``Ticker.run`` and ``Worker.handle`` are driven by ``local.harness.Driver`` on a
  ``ManualClock`` (the minute tick, and queued calls when their delay ends), with a
  ``MemoryStore`` and a ``SimQueue``. Calls reach the ``Simulator`` in this process through
  ``local.harness.SimulatorInvoker`` (the service's own request body and error
  classification; the HTTP path is tested elsewhere).
- **crons**: a rule calling each model every 14 minutes from its window's open (``cron-0``),
  or from 5, 10 or 15 minutes before it, while before the close; and ``cron-tuned``, the
  careful team's cron for the platform at hand: an interval one minute below the (shortest)
  release, at most 14, starting the fleet's p99 load, rounded up to 5 minutes, before the
  open. On ``ModelNotReadyException`` the SDK-style retry: a few more attempts a few seconds
  apart, then nothing until the next firing.
- **users**: each window gets user requests (Poisson at a rate per hour, plus a number in
  the window's first minute), drawn once per seed and sent to every strategy's simulator
  at the same instants. They are calls like any other: one that finds a loaded copy starts
  its billing, one that finds none starts a load and meets a cold model (429, or held).

A scenario file (JSON, ``bench/scenarios/``) says what is simulated: the fleet, its load
times, its windows, how the platform behaves (``local.models.Simulator`` options: idle
release, release jitter, a cold model answering 429 or holding the call, billing from the
first success or from the end of the load) and the users' traffic; see
``bench.scenario.SCENARIO_KEYS``. Every figure comes from what the simulators saw (their
calls and their copies' load, billing and release instants), never from a strategy's own
account, and is set against the *floor* (:func:`bench.figures.floor_copies`): the least any
strategy must be billed to keep a copy ready at every instant of every window, knowing the
platform's rules but not when users will call.

``python -m bench.simulate --scenario FILE.json [--scenario ...] [--json OUT.json]
[--out docs/benchmarks.md] [--png docs/timeline.png]`` runs each scenario over its seeds,
writes the figures summed over the seeds as JSON (one scenario) and the markdown section
(``--out ''`` and ``--png ''``: none).

The benchmark's rooms, each importing only those before it: ``bench.scenario`` (the platform,
the strategies, the scenario file, the fleet and its users), ``bench.figures`` (what the
simulators saw, per window, the floor, the targets), ``bench.report`` (the JSON, the markdown
section, the timelines), ``bench.strategies`` (each strategy's run on its own simulator) and
this module (every strategy over every seed of every scenario, and the command).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Optional, Sequence

from bench.common import log, offline_aws, write_section

offline_aws()  # before any boto3 client exists

# Tests and diagnostics reach the benchmark's main names through this module: those below
# that it does not use itself are kept importable from here (the rest: their own modules).
from bench.figures import (FloorBroken, Result, Run, check_floor, cold_users_why, floor_minutes,  # noqa: E402,F401
                           measure, observe, targets)
from bench.report import as_json, plot_opening, plot_timeline, report  # noqa: E402
from bench.scenario import (BASELINE_RETRIES, BASELINE_RETRY_SECONDS, CRONS, DEFAULT_STRATEGIES,  # noqa: E402,F401
                            EDGE, KEEPWARM, STRATEGIES, TUNED, USER_KEY, ModelSpec, Platform, Scenario,
                            ScenarioError, Strategy, fleet_p99, load_scenario, make_fleet, parse_scenario,
                            tuned_cron, user_requests, windows_of)
from bench.strategies import (PING_BODY, USER_PREFIX, Users, bench_settings, new_simulator,  # noqa: E402,F401
                              run_cron, run_keepwarm)

# -- every strategy, every seed -------------------------------------------------------------
def simulate(scenario: Scenario = Scenario(), seed: int = 1, strategies: Optional[Sequence[str]] = None) -> Result:
    start = scenario.start
    end = start + timedelta(days=scenario.days)
    platform = scenario.platform
    fleet = make_fleet(scenario, seed, start, end)
    windows = {spec.name: windows_of(spec, start, end) for spec in fleet}
    users = {spec.name: [user_requests(scenario, seed, spec, o, c) for o, c in windows[spec.name]] for spec in fleet}
    by_arn = {spec.arn: [t for ts in users[spec.name] for t in ts] for spec in fleet}
    last_close = max((c for ws in windows.values() for _, c in ws), default=end)
    # Long enough after the last close for every copy to be released and billed.
    run_end = max(end, last_close) + max(timedelta(hours=1), platform.longest_release * 2)
    log(f"simulate: {scenario.name}, seed {seed}: {len(fleet)} models, {sum(map(len, windows.values()))} windows, "
        f"{sum(map(len, by_arn.values()))} user requests, {start:%Y-%m-%d %H:%M} to {run_end:%Y-%m-%d %H:%M} UTC")
    runs: dict[str, Run] = {}
    labels: dict[str, str] = {}
    for key in strategies or scenario.strategy_keys():
        strategy = tuned_cron(platform, [(s.load_median, s.load_sigma) for s in fleet]) if key == TUNED else STRATEGIES[key]
        labels[key] = strategy.label
        if strategy.is_cron:
            runs[key] = run_cron(fleet, windows, platform, start, run_end, seed, strategy, by_arn)
        else:
            runs[key] = run_keepwarm(fleet, platform, start, run_end, seed, strategy, by_arn)
        log(f"simulate: {scenario.name}, seed {seed}: {key} in {runs[key].wall_seconds:.1f} s ({runs[key].notes})")
    result = Result(fleet, start, end, run_end, windows, runs, {}, seed, scenario, labels=labels)
    for key, run in runs.items():
        result.per_window[key] = [f for spec in fleet for f in measure(spec, windows[spec.name], run.observed[spec.name])]
    result.floor = {spec.name: floor_minutes(windows[spec.name], users[spec.name], platform) for spec in fleet}
    check_floor(result)
    return result


def _simulate_job(job: tuple[Scenario, int]) -> Result:
    return simulate(*job)


def run_scenarios(scenarios: Sequence[Scenario], processes: int = 1) -> dict[str, list[Result]]:
    """Every seed of every scenario, on ``processes`` processes (each run is independent)."""
    jobs = [(s, seed) for s in scenarios for seed in s.seeds]
    if processes > 1 and len(jobs) > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(_simulate_job, jobs, chunksize=1)
    else:
        results = [_simulate_job(job) for job in jobs]
    found: dict[str, list[Result]] = {}
    for (scenario, _), result in zip(jobs, results):
        found.setdefault(scenario.name, []).append(result)
    return found


# -- the command ----------------------------------------------------------------------------
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", action="append", required=True, metavar="FILE.json",
                        help="a scenario file; repeat for several (the report's families, in order)")
    parser.add_argument("--json", default="", help="write the figures as JSON here (one scenario only)")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1),
                        help="runs at once (default: %(default)s)")
    parser.add_argument("--out", default="", help="markdown file to write the section into ('' for none)")
    parser.add_argument("--png", default="",
                        help="timeline image of the first scenario ('' for none); a billing-aware opening "
                             "goes beside it, -billing")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    if args.json and len(args.scenario) > 1:
        parser.error("--json takes one --scenario")
    try:
        scenarios = [load_scenario(Path(p)) for p in args.scenario]
    except (OSError, ScenarioError) as err:
        print(f"bench.simulate: {err}", file=sys.stderr)
        return 2
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        print(f"bench.simulate: two scenarios share a name: {names}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    found = run_scenarios(scenarios, args.processes)
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(found[names[0]]), indent=2) + "\n")
        log(f"simulate: figures written to {args.json}")
    links: list[str] = []
    if args.png:
        png = Path(args.png)
        opening = png.with_name(png.stem + "-billing" + png.suffix)
        first = found[names[0]][0]
        log(f"simulate: timeline of {plot_timeline(first, png)} written to {png}")
        log(f"simulate: opening of {plot_opening(first, opening)} written to {opening}")
        base = Path(args.out).parent if args.out else Path(".")
        links = [os.path.relpath(png, base), os.path.relpath(opening, base)]
    text = report(found, dict(zip(names, args.scenario)), raw, time.perf_counter() - began, links)
    if args.out:
        write_section(Path(args.out), "simulate", text)
        log(f"simulate: written to {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
