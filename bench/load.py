"""Load: a thousand models whose windows open at the same minute, 10% of calls throttled.

``python -m bench.load [--models 1000] [--throttle 0.1] [--workers 4]``

The real Api (registration), Ticker and Worker, the DynamoDB store on moto's server (real
conditional writes), the simulator over HTTP with per-model log-normal load times and
fault injection, on a simulated clock. Calls that come due at the same simulated instant
are handled by a pool of threads, as concurrent Lambda invocations would be. Measures when
each model became ready relative to its window's opening, how many calls that took, and
checks that no update was lost (every model warm, one cold start each, no claim left).
Each model's first cold start is led by the planner's prior: nothing is known of it yet.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from bench.common import command_line, commit, env, machine, offline_aws, table, write_section
from local.stack import free_port, wait_for_http

UTC = timezone.utc
OPEN = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def arn(i: int) -> str:
    return f"arn:aws:bedrock:us-west-2:123456789012:imported-model/load{i:08d}"


def run(models: int, throttle: float, workers: int, seed: int = 1, store_kind: str = "dynamo") -> dict[str, Any]:
    offline_aws()
    for noisy in ("werkzeug", "keepwarm"):  # one line a request or a call, tens of thousands
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import boto3

    from chalicelib.api import Api
    from chalicelib.bedrock import Invoker
    from chalicelib.dynamo import DynamoStore, create_table
    from chalicelib.loop import Ticker, Worker
    from chalicelib.memstore import MemoryStore
    from chalicelib.queue import WorkMessage
    from chalicelib.settings import Settings
    from local.harness import SimQueue
    from local.simulator import ManualClock, Simulator, SimulatorServer

    # moto in its own process: in this one it would compete for the GIL with the workers.
    host, port = "127.0.0.1", free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_http(f"http://{host}:{port}/moto-api/", timeout=30)
    clock = ManualClock(OPEN - timedelta(minutes=10))
    sim = Simulator(clock=clock.now, seed=seed)
    started = time.perf_counter()
    try:
        with SimulatorServer(sim) as server, env(AWS_ENDPOINT_URL_DYNAMODB=f"http://{host}:{port}",
                                                 AWS_ENDPOINT_URL_BEDROCK_RUNTIME=server.url):
            if store_kind == "dynamo":
                create_table(boto3.client("dynamodb"), "keepwarm-load")
                store: Any = DynamoStore("keepwarm-load")
            else:
                store = MemoryStore()
            settings = Settings(table_name="keepwarm-load", queue_url="sim")
            queue = SimQueue(clock.now)
            ticker = Ticker(store, queue, settings, clock.now)
            worker = Worker(store, queue, Invoker(settings), settings, clock.now)
            api = Api(store, settings)
            for i in range(models):
                sim.add_model(arn(i), {"kind": "lognormal", "median": 60 + (i % 7) * 10, "sigma": 0.45},
                              throttle_rate=throttle, seed=seed * 100_000 + i)
                api.register({"model_arn": arn(i), "name": f"m{i:05d}", "timezone": "UTC",
                              "windows": [{"start": "09:00", "stop": "18:00"}]}, clock.now())
            registered = time.perf_counter()

            end = OPEN + timedelta(minutes=30)
            tick_at = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                while True:
                    queued = queue.next_at()
                    if queued is not None and queued < tick_at and queued <= end:
                        clock.set(max(queued, clock.now()))
                        batch = []
                        while queue.next_at() is not None and queue.next_at() <= clock.now():
                            batch.append(queue.pop()[1])
                        list(pool.map(lambda body: worker.handle(WorkMessage.from_body(body)), batch))
                    elif tick_at <= end:
                        clock.set(tick_at)
                        ticker.run(tick_at)
                        tick_at += timedelta(minutes=1)
                    else:
                        break
            simulated = time.perf_counter()

            ready_after: list[float] = []
            checked_after: list[float] = []
            lost: list[str] = []
            calls = throttled = 0
            for i in range(models):
                seen = sim.inspect(arn(i))
                calls += len(seen["calls"])
                throttled += sum(c["outcome"] == "throttled" for c in seen["calls"])
                first_ok = next((c["at"] for c in seen["calls"] if c["outcome"] == "ready"), None)
                loaded = next((c["loaded_at"] for c in seen["copies"] if c["loaded_at"]), None)
                model = store.get(f"m{i:05d}")
                if (first_ok is None or loaded is None or model.state.status != "warm"
                        or model.state.cold_start_count != 1):
                    lost.append(model.name)
                    continue
                # Ready when the copy finished loading; the first answered call (the held-back
                # ready-check) may come later, just before the open, to start the billing late.
                ready_after.append((datetime.fromisoformat(loaded.replace("Z", "+00:00")) - OPEN).total_seconds())
                checked_after.append((datetime.fromisoformat(first_ok.replace("Z", "+00:00")) - OPEN).total_seconds())
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=5)
        except subprocess.TimeoutExpired:  # werkzeug may not stop on SIGTERM at once
            moto.kill()
            moto.wait()
    ready_after.sort()
    checked_after.sort()
    return {
        "models": models, "throttle": throttle, "workers": workers, "store": store_kind, "calls": calls, "throttled": throttled,
        "not_warm": lost, "ready_after": ready_after, "checked_after": checked_after,
        "registration_s": registered - started, "simulation_s": simulated - registered,
    }


def pct(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


def report(r: dict[str, Any], argv: list[str]) -> str:
    from chalicelib.settings import Settings

    settings = Settings(table_name="x", queue_url="x")
    ready = r["ready_after"]
    checked = r["checked_after"]
    late = [s for s in ready if s > 0]
    rows = [
        ["models, all opening at 09:00 UTC", r["models"]],
        ["calls throttled", f"{r['throttled']} of {r['calls']} ({100 * r['throttled'] / max(1, r['calls']):.1f}%)"],
        ["models warm by 09:30 with one cold start each (no lost update)",
         f"{r['models'] - len(r['not_warm'])} of {r['models']}"],
        ["copy loaded by the open", f"{len(ready) - len(late)} of {r['models']}"],
        ["copy loaded at, relative to 09:00: median / p95 / latest",
         f"{statistics.median(ready):+.0f} s / {pct(ready, 95):+.0f} s / {ready[-1]:+.0f} s" if ready else "-"],
        ["first answered call (the ready-check), relative to 09:00: median / p95 / latest",
         f"{statistics.median(checked):+.0f} s / {pct(checked, 95):+.0f} s / {checked[-1]:+.0f} s" if checked else "-"],
        ["calls per model", f"{r['calls'] / r['models']:.1f}"],
        ["wall time: registering / simulating 40 minutes",
         f"{r['registration_s']:.0f} s / {r['simulation_s']:.0f} s"],
    ]
    return "\n".join([
        f"## Load: {r['models']:,} models opening at the same minute ({'DynamoDB on moto' if r['store'] == 'dynamo' else 'in-memory store'})",
        "",
        f"`{command_line('bench.load', argv)}`: measured on {commit()}, on {machine()}.",
        "",
        "Every model's window opens at 09:00 UTC; load times are log-normal (medians 60-120 s, "
        f"sigma 0.45); {r['throttle']:.0%} of calls are answered `ThrottlingException`. The real "
        "registration, tick and worker code runs against "
        + ("DynamoDB on moto's server, in its own process (real conditional writes)"
           if r["store"] == "dynamo" else
           "the in-memory store (the same conditional-write contract, checked by the store "
           "contract test; moto's DynamoDB slows down sharply past a few hundred models)")
        + f" and the simulator over HTTP, with {r['workers']} worker threads handling the calls "
        "due at each instant.",
        "",
        table(["", "measured"], rows, "lr"),
        "",
        "What bounds it: each model's first cold start is led by the planner's prior alone (a log-normal "
        f"of median {settings.prior_load_median_seconds:g} s and sigma {settings.prior_load_sigma:g}, nothing "
        "being known of the model yet): the load trigger goes out the "
        f"p{settings.held_lead_percentile} of that prediction + {settings.poll_seconds} s + "
        f"{settings.lead_margin_seconds} s before the open (at most {settings.lead_max_seconds} s), and the "
        f"ready-check that starts the billing is held back until {settings.ready_check_margin_seconds} s before "
        f"the open, then polls every {settings.poll_seconds} s. "
        "A model whose load takes longer than that lead, or whose trigger is throttled (retried after 5 s, "
        "doubling), is loaded late by the difference; its own cold starts then lengthen its lead. Nothing "
        "here waits on the number of models: the tick claims each model with one conditional write and "
        "the calls run concurrently.",
    ])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--throttle", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--store", choices=("dynamo", "memory"), default="dynamo",
                        help="DynamoDB on moto's server, or the in-memory store with the same "
                             "conditional-write contract (moto slows down sharply past a few "
                             "hundred models with their events)")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    shown = [f"--models {args.models}", f"--throttle {args.throttle}", f"--workers {args.workers}",
             f"--store {args.store}"]
    result = run(args.models, args.throttle, args.workers, store_kind=args.store)
    text = report(result, shown)
    print(text)
    write_section(args.out, f"load-{args.store}", text)
    return 0 if not result["not_warm"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
