"""The fleet view at scale: how long ``GET /fleet``, ``/status`` and the dashboard's widget
take for 1,000 and 10,000 models, and what they read.

Each write of a model keeps its glance (chalicelib.fleet): what the fleet view needs of it,
so the view reads glances rather than planning every model again (about 2 ms a model).
This benchmark writes the models' items as ``DynamoStore`` writes them, glance included,
into DynamoDB on moto's server in its own process, then runs the code each route runs:

- ``/fleet``: ``fleet.summary(fleet.read_fleet(...))``;
- ``/status``: ``fleetpage.render_page(...)`` (the figures over every model, the worst 100
  drawn with their events);
- the widget: ``fleetpage.render_widget(...)``.

Each DynamoDB request waits a typical round trip before it is sent (``--dynamodb-ms``), so
the reads wait on the network as they would in AWS; moto's own service time comes on top
(its process's CPU seconds are reported). The estimate for Lambda scales the view's own
CPU time to the vCPU share of its function's memory (one vCPU at 1,769 MB) and adds the
round trips, shared among the readers. For comparison, planning every model (what the view
did before glances) is timed on the same models, without any reads.

Models are spread like a fleet's: most warm inside a 09:00-18:00 window with a batch job's
lease and 50 cold starts measured, a third cold, one in twenty in error.

``python -m bench.fleet_view [--sizes 1000 10000] [--out docs/benchmarks.md]``
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional, Sequence

from bench.common import command_line, log, machine, offline_aws, table, write_section

offline_aws()  # before any boto3 client exists

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from bench.capacity import item_size  # noqa: E402
from bench.tick_scaling import NOW, Latency, cpu_seconds, fleet_model, settings_for, start_moto  # noqa: E402
from chalicelib import fleet, fleetpage  # noqa: E402
from chalicelib.dynamo import FLEET_READERS, DynamoStore, create_table  # noqa: E402
from chalicelib.records import Event, Model  # noqa: E402

DYNAMODB_MS = 7.0
WRITERS = 4
TARGET_SECONDS = 3.0
FULL_VCPU_MB = 1769
CONFIG = json.loads((Path(__file__).resolve().parent.parent / ".chalice" / "config.json").read_text())
API_MEMORY_MB = CONFIG["lambda_memory_size"]
WIDGET_MEMORY_MB = CONFIG["lambda_functions"]["fleet_widget"]["lambda_memory_size"]
# Events of a drawn model's morning: a keep-alive every 14 minutes since 08:57.
EVENTS_PER_MODEL = 8


def spread(model: Model, i: int) -> Model:
    """Some models cold (their copy released long ago), some in error, the rest warm."""
    state = model.state
    if i % 20 == 7:
        state = replace(state, status="error", error=f"AccessDeniedException: not authorized on m{i:06d}",
                        error_kind="fatal", error_at=NOW - timedelta(minutes=30))
    elif i % 3 == 1:
        state = replace(state, status="cold", last_success_at=NOW - timedelta(hours=20), leases=())
    return replace(model, config=replace(model.config, custom_model_units=1 + i % 4), state=state)


def populate(endpoint: str, table_name: str, models: int, settings: Any) -> tuple[int, int]:
    """Write the models' items (with their glances, as of the write) and the drawn ones'
    events; returns the largest item and glance sizes."""
    def chunk(lo: int, hi: int) -> tuple[int, int]:
        client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint, region_name="us-west-2")
        items, largest, glance_largest = [], 0, 0
        for i in range(lo, hi):
            model = spread(fleet_model(i, False, settings), i)
            text = json.dumps(fleet.glance(model, NOW - timedelta(minutes=3), settings), separators=(",", ":"))
            item = DynamoStore._model_item(model, text)
            largest, glance_largest = max(largest, item_size(item)), max(glance_largest, len(text))
            items += [item, {"pk": {"S": f"arn#{model.config.model_arn}"}, "sk": {"S": "arn"},
                             "name": {"S": model.name}}]
        for start in range(0, len(items), 25):  # moto leaves nothing unprocessed
            client.batch_write_item(RequestItems={table_name: [{"PutRequest": {"Item": item}}
                                                               for item in items[start:start + 25]]})
        return largest, glance_largest

    step = math.ceil(models / WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        sizes = list(pool.map(lambda lo: chunk(lo, min(models, lo + step)), range(0, models, step)))
    # The drawn rows read their events: give the worst hundred a morning's keep-alives.
    store = DynamoStore(table_name, boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-west-2"))
    for i in [i for i in range(models) if i % 20 == 7][:fleetpage.MAX_ROWS]:
        for k in range(EVENTS_PER_MODEL):
            store.add_event(f"m{i:06d}", Event(NOW - timedelta(minutes=63 - 14 * k), "call", {"outcome": "ready"}), 30)
    return max(s[0] for s in sizes), max(s[1] for s in sizes)


class Calls:
    """Counts the requests a client sends, by operation."""

    def __init__(self, events: Any):
        self.count: dict[str, int] = {}
        events.register("before-send.dynamodb", self._count)

    def _count(self, request: Any, **kwargs: Any) -> None:
        operation = request.headers.get("X-Amz-Target", b"").decode().split(".")[-1] or "?"
        self.count[operation] = self.count.get(operation, 0) + 1


@dataclass
class Measure:
    what: str
    seconds: float  # wall time here
    cpu: float  # this process's CPU seconds
    moto_cpu: float
    calls: dict[str, int]
    memory_mb: int
    dynamodb_ms: float
    models: int
    size: int  # bytes of the answer

    def lambda_seconds(self) -> tuple[float, float]:
        """CPU time over the function's vCPU share, with the round trips shared among the
        readers overlapping it entirely, or added."""
        cpu = self.cpu / min(1.0, self.memory_mb / FULL_VCPU_MB)
        waits = sum(self.calls.values()) * self.dynamodb_ms / 1000 / FLEET_READERS
        return max(cpu, waits), cpu + waits


def measure(endpoint: str, table_name: str, models: int, moto_pid: int, dynamodb_ms: float,
            settings: Any) -> list[Measure]:
    session = boto3.session.Session(region_name="us-west-2")
    Latency(session.events, dynamodb_ms, 0.0)
    calls = Calls(session.events)
    store = DynamoStore(table_name, session.client("dynamodb", endpoint_url=endpoint,
                                                   config=Config(max_pool_connections=FLEET_READERS + 2)))
    now = NOW
    event = {"widgetContext": {"timezone": {"label": "UTC", "offsetISO": "+00:00"}}}
    routes = [("/fleet", API_MEMORY_MB, lambda: json.dumps(fleet.summary(fleet.read_fleet(store, settings, now), now))),
              ("/status", API_MEMORY_MB, lambda: fleetpage.render_page(store, settings, now, refresh_seconds=5)),
              ("widget", WIDGET_MEMORY_MB, lambda: fleetpage.render_widget(store, settings, now, event))]
    found = []
    for what, memory, run in routes:
        calls.count.clear()
        moto_began, cpu_began, began = cpu_seconds(moto_pid), cpu_seconds(), time.perf_counter()
        answer = run()
        found.append(Measure(what, time.perf_counter() - began, cpu_seconds() - cpu_began,
                             cpu_seconds(moto_pid) - moto_began, dict(calls.count), memory, dynamodb_ms, models,
                             len(answer)))
        log(f"fleet_view: {models} models, {what}: {found[-1].seconds:.2f} s (CPU {found[-1].cpu:.2f} s)")
    return found


def planning_seconds(models: int, settings: Any) -> float:
    """CPU seconds to plan every model as the view did before glances (no reads)."""
    fleet_models = [spread(fleet_model(i, False, settings), i) for i in range(models)]
    began = cpu_seconds()
    for model in fleet_models:
        fleet.planned(model, NOW, settings)
    return cpu_seconds() - began


def run(sizes: Sequence[int], dynamodb_ms: float) -> tuple[list[Measure], dict[int, float], tuple[int, int]]:
    logging.getLogger("keepwarm").setLevel(logging.WARNING)
    moto, endpoint = start_moto()
    found, planning, sizes_seen = [], {}, (0, 0)
    try:
        for size in sizes:
            name = f"keepwarm-fleet-{size}"
            admin = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-west-2")
            create_table(admin, name)
            settings = settings_for(name, "q", 45, 16)
            settings = replace(settings, cmu_prices='{"us-west-2": 0.05718}')
            sizes_seen = populate(endpoint, name, size, settings)
            found += measure(endpoint, name, size, moto.pid, dynamodb_ms, settings)
            planning[size] = planning_seconds(size, settings)
    finally:
        moto.terminate()  # its tables go with it
        try:
            moto.wait(timeout=30)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()
    return found, planning, sizes_seen


def report(found: Sequence[Measure], planning: dict[int, float], sizes_seen: tuple[int, int],
           argv: Sequence[str], wall: float) -> str:
    rows = []
    for m in found:
        best, worst = m.lambda_seconds()
        rows.append([f"`{m.what}`" if m.what.startswith("/") else "dashboard widget", f"{m.models:,}",
                     f"{m.seconds:.2f}", f"{m.cpu:.2f}", f"{m.moto_cpu:.2f}",
                     ", ".join(f"{n:,} {op}" for op, n in sorted(m.calls.items())),
                     f"{m.memory_mb:,} MB: {best:.1f}-{worst:.1f}",
                     f"{planning[m.models]:.1f} s" if m.what == "/fleet" else ""])
    big = max(m.models for m in found)
    at_big = [m for m in found if m.models == big]
    met = all(m.lambda_seconds()[1] <= TARGET_SECONDS for m in at_big)
    fleet_big = next(m for m in at_big if m.what == "/fleet")
    item, glance_bytes = sizes_seen
    lines = [
        "## The fleet view at scale: `/fleet`, `/status` and the widget for 10,000 models",
        "",
        f"`{command_line('bench.fleet_view', argv)}`: wall time {wall:.0f} s, on {machine()}.",
        "",
        table(["route", "models", "s (here)", "view CPU s", "moto CPU s", "DynamoDB calls",
               "Lambda estimate, s", "planning every model instead (CPU)"], rows, "lrrrrlll"),
        "",
        f"- **`/fleet`, `/status` and the widget answer within {TARGET_SECONDS:.0f} s for {big:,} models, in "
        f"Lambda**: {'met' if met else 'not met'}, by the estimate (the higher figure adds every round trip to "
        f"the CPU time). `/fleet` took {fleet_big.seconds:.1f} s here, of which moto's process spent "
        f"{fleet_big.moto_cpu:.1f} CPU seconds on the same two cores. Planning every model, as the view did "
        f"before glances, takes {planning[big]:.0f} CPU seconds at {big:,} models before any read, a whole "
        f"vCPU's time (the API function has {API_MEMORY_MB:,} MB, the widget {WIDGET_MEMORY_MB:,}: one vCPU).",
        f"- What it reads: the names from the `model_names` index in one paged Query, then the glances a "
        f"hundred a `BatchGetItem`, {FLEET_READERS} at once. A glance here is at most {glance_bytes:,} bytes of "
        f"JSON in an item of at most {item:,} bytes; a `BatchGetItem` is charged on whole items, so one view "
        f"costs about {big * math.ceil(item / 4096) / 2:,.0f} read units at {big:,} models (eventually "
        "consistent). `/status` and the widget also read the worst 100 models whole, with their events.",
        "- A glance is computed at each write of the model (about 0.4 ms with the months reused from the "
        "glance read with the model, 2 ms when its schedule, timings or learned lead changed): the view plans "
        "only a model whose glance is missing (written by an older version) or does not cover the moment "
        "asked about (more than 8 days or 4 windows after its last write, or a month it did not price).",
        f"- Every DynamoDB request waited {found[0].dynamodb_ms:g} ms before it was sent. *View CPU s* is this "
        "process (the SDK's parsing, the glances, rendering); the Lambda estimate divides it by the "
        "function's vCPU share (one vCPU at 1,769 MB), taking this machine's core for Lambda's vCPU.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_view", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dynamodb-ms", type=float, default=DYNAMODB_MS, help="round trip added to each DynamoDB request")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to write the section into ('' for none)")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    began = time.perf_counter()
    found, planning, sizes_seen = run(args.sizes, args.dynamodb_ms)
    text = report(found, planning, sizes_seen, raw, time.perf_counter() - began)
    print(text)
    if args.out:
        write_section(Path(args.out), "fleet_view", text)
        log(f"fleet_view: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
