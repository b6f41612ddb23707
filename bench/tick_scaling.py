"""The tick at scale: how long it takes to claim and queue every model due in one minute,
what that reads and writes, and what it would take in Lambda.

A company's fleet may have thousands of windows opening at 09:00: every one of those
models falls due in the same minute. This benchmark registers 1,000 and 10,000 models,
5% or all of them due before the next tick, and runs one real ``Ticker.run`` (with its
threads, batched sends and deadline) against moto's server (DynamoDB and SQS) in its own
process (see ``Drain`` for the one liberty taken with SQS):

- each DynamoDB and SQS request waits a typical round trip before it is sent
  (``--dynamodb-ms``, ``--sqs-ms``), so that the tick waits on the network as it would in
  AWS; moto's own service time comes on top, and is measured separately (the CPU seconds
  of moto's process), as is the tick's own CPU time;
- the items read, the capacity units read and written and every call are counted from
  the requests and responses as they travel (``bench.capacity``: moto's own capacity
  figures are made up);
- models are written straight in the item shape ``DynamoStore`` gives them (and their
  ARN guard items), by batch writes on a few threads, with the state a warm model has
  after weeks in service: 50 cold-start samples and a batch job's lease. Registering
  through the API one by one would take minutes and measure nothing of interest.

The tick's own deadline is lifted to 600 s, so that the time to claim them all is
measured; how many it queued within its deadline in service (45 s) is reported too. The estimate for Lambda scales the tick's CPU time to the vCPU share of the tick's
memory (Lambda gives one vCPU at 1,769 MB) and sets it against the network waits shared
among the threads.

``python -m bench.tick_scaling [--sizes 1000 10000] [--out docs/benchmarks.md]``
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from bench.common import command_line, commit, log, machine, offline_aws, table, write_section

offline_aws()  # before any boto3 client exists

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from bench.capacity import CapacityMeter, Usage, fullest_model, index_entry, item_size  # noqa: E402
from chalicelib.dynamo import DUE_SHARDS, TABLE_KEYS, DynamoStore, create_table  # noqa: E402
from chalicelib.loop import TICK_HORIZON, Ticker  # noqa: E402
from chalicelib.planner import with_next_due  # noqa: E402
from chalicelib.queue import SqsQueue  # noqa: E402
from chalicelib.records import READINESS_KEPT, Lease, Model, ModelConfig, ModelState, WindowRecord  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from local.stack import free_port, wait_for_http  # noqa: E402

UTC = timezone.utc
# A Tuesday, 10:00 UTC: inside every model's 09:00-18:00 UTC weekday window.
NOW = datetime(2026, 3, 24, 10, 0, tzinfo=UTC)
ARN_PREFIX = "arn:aws:bedrock:us-west-2:123456789012:imported-model/"
WINDOWS = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]
WRITERS = 4
DUE_SHARES = (0.05, 1.0)
# Typical round trips within a region: DynamoDB answers in single-digit milliseconds, SQS
# in ten to twenty.
DYNAMODB_MS = 7.0
SQS_MS = 15.0
# The tick Lambda as deployed; Lambda gives one vCPU at 1,769 MB, CPU in proportion below.
TICK_LAMBDA = json.loads((Path(__file__).resolve().parent.parent / ".chalice" / "config.json").read_text()
                         )["lambda_functions"]["tick"]
TICK_MEMORY_MB = TICK_LAMBDA["lambda_memory_size"]
TICK_TIMEOUT_SECONDS = TICK_LAMBDA["lambda_timeout"]
FULL_VCPU_MB = 1769
TARGET_SECONDS = 50
INDEX_NAMES = " / ".join(index["IndexName"] for index in TABLE_KEYS["GlobalSecondaryIndexes"])
IN_SERVICE_CLAIM_SECONDS = Settings(table_name="t", queue_url="q").tick_claim_seconds


# The last weekdays' 09:00-18:00 windows before NOW, oldest first, as the tick keeps them.
READINESS = tuple(WindowRecord(close - timedelta(hours=9), close, True, 0.0, 540.0, 0, 1) for close in reversed(
    [(NOW - timedelta(days=d)).replace(hour=18) for d in range(1, 30)
     if (NOW - timedelta(days=d)).weekday() < 5][:READINESS_KEPT]))


def settings_for(table_name: str, queue_url: str, claim_seconds: float, concurrency: int) -> Settings:
    return Settings(table_name=table_name, queue_url=queue_url, tick_claim_seconds=claim_seconds,
                    tick_concurrency=concurrency)


def fleet_model(i: int, due: bool, settings: Settings) -> Model:
    """A warm model whose keep-alive falls in the coming minute (due) or later (not),
    holding what weeks in service leave: a full set of cold-start samples, a lease, and
    the readiness of its last windows (judged up to yesterday's close)."""
    config = ModelConfig(name=f"m{i:06d}", model_arn=f"{ARN_PREFIX}ts{i:010d}", timezone="UTC",
                         windows=WINDOWS, created_at=NOW - timedelta(days=60), updated_at=NOW - timedelta(days=1))
    # Spread over the interval so that due times differ, as in a real fleet.
    if due:
        last = NOW - timedelta(minutes=14) + timedelta(seconds=i % 60)  # keep-alive due within 60 s
    else:
        last = NOW - timedelta(minutes=12) + timedelta(seconds=(i * 7) % 720)  # due in 2-14 min
    lease = Lease(f"l{i:012x}", NOW - timedelta(hours=1), NOW + timedelta(hours=2), "nightly-etl")
    state = ModelState(status="warm", last_success_at=last, last_call_at=last,
                       cold_starts=tuple(60 + (i * 7 + k * 13) % 90 + 0.125 for k in range(50)),
                       cold_start_count=50, leases=(lease,), readiness=READINESS,
                       readiness_until=READINESS[-1].window_close, version=51)
    return Model(config, with_next_due(config, state, NOW, settings))


def populate(endpoint: str, table_name: str, models: int, due: int, settings: Settings) -> int:
    """Write the models' items in batches, on a few threads (each with its own session).

    Returns how many of the models written are due before the next tick."""
    due_every = models / due if due else math.inf

    def chunk(lo: int, hi: int) -> int:
        written_due, items = 0, []
        client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint, region_name="us-west-2")
        for i in range(lo, hi):
            # Evenly spread: model i is due when it crosses the next multiple of due_every.
            is_due = math.floor(i / due_every) != math.floor((i + 1) / due_every) if due else False
            model = fleet_model(i, is_due, settings)
            written_due += model.state.next_due_at <= NOW + TICK_HORIZON  # type: ignore[operator]
            items += [DynamoStore._model_item(model), {"pk": {"S": f"arn#{model.config.model_arn}"},
                                                       "sk": {"S": "arn"}, "name": {"S": model.name}}]
        for start in range(0, len(items), 25):  # moto leaves nothing unprocessed
            client.batch_write_item(RequestItems={table_name: [{"PutRequest": {"Item": item}}
                                                               for item in items[start:start + 25]]})
        return written_due

    step = math.ceil(models / WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(chunk, lo, min(models, lo + step)) for lo in range(0, models, step)]
        return sum(future.result() for future in futures)


class Latency:
    """Holds each request back by its service's round trip before it is sent."""

    def __init__(self, events: Any, dynamodb_ms: float, sqs_ms: float):
        self.seconds = {"dynamodb": dynamodb_ms / 1000, "sqs": sqs_ms / 1000}
        events.register("before-send", self._wait)

    def _wait(self, event_name: str, **kwargs: Any) -> None:
        time.sleep(self.seconds.get(event_name.split(".")[1], 0.0))


class Drain:
    """Empties the queue every second while the tick runs (moto's server started with
    purges unlimited, as ``start_moto`` does).

    moto's SQS walks every message it holds, three times, for each message sent (it
    recomputes the queue's counts): with thousands queued, that is what the run would
    measure. The messages are counted from SQS's answers instead (``Successful``)."""

    def __init__(self, sqs: Any, queue_url: str):
        self.sqs, self.queue_url = sqs, queue_url
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)

    def _drain(self) -> None:
        while not self.stopping.wait(1.0):
            self.sqs.purge_queue(QueueUrl=self.queue_url)

    def __enter__(self) -> "Drain":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.thread.join()


def cpu_seconds(pid: Optional[int] = None) -> float:
    """CPU time of this process, or of another (moto's server) from /proc."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Case:
    models: int
    due: int  # written due before the next tick
    found_due: int  # what the tick says it found due
    enqueued: int
    left: int
    concurrency: int
    seconds: float  # the tick's wall time, here
    tick_cpu: float  # this process's CPU seconds during the tick
    moto_cpu: Optional[float]  # moto's process, when it runs in its own
    usage: Usage
    queued_in_time: int  # messages SQS took within the in-service deadline
    dynamodb_ms: float
    sqs_ms: float

    @property
    def queued(self) -> int:
        """Messages SQS took."""
        return sum(self.usage.queued.values())

    @property
    def dynamodb_calls(self) -> int:
        return sum(n for op, n in self.usage.calls.items() if op not in ("SendMessage", "SendMessageBatch"))

    @property
    def sqs_calls(self) -> int:
        return self.usage.calls["SendMessage"] + self.usage.calls["SendMessageBatch"]

    @property
    def waits(self) -> float:
        """Seconds the tick's requests spent on the network, all threads together."""
        return self.dynamodb_calls * self.dynamodb_ms / 1000 + self.sqs_calls * self.sqs_ms / 1000

    def lambda_seconds(self, memory_mb: int) -> tuple[float, float]:
        """What the tick would take in Lambda: between the CPU time or the waits shared
        among the threads, whichever is longer (they overlap), and both one after the other."""
        cpu = self.tick_cpu / min(1.0, memory_mb / FULL_VCPU_MB)
        waits = self.waits / self.concurrency
        return max(cpu, waits), cpu + waits


def measure_tick(endpoint: str, table_name: str, models: int, due: int, *, moto_pid: Optional[int] = None,
                 dynamodb_ms: float = DYNAMODB_MS, sqs_ms: float = SQS_MS, concurrency: int = 16,
                 claim_seconds: float = 600, drain: bool = False) -> Case:
    """Register ``models`` models of which ``due`` are due, then time one tick (draining
    the queue meanwhile, when asked: see :class:`Drain`)."""
    admin = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-west-2")
    create_table(admin, table_name)
    sqs_admin = boto3.client("sqs", endpoint_url=endpoint, region_name="us-west-2")
    queue_url = sqs_admin.create_queue(QueueName=table_name)["QueueUrl"]
    settings = settings_for(table_name, queue_url, claim_seconds, concurrency)
    written_due = populate(endpoint, table_name, models, due, settings)

    # The tick's clients, as Runtime.from_env makes them, from a session that delays and
    # meters every request.
    session = boto3.session.Session(region_name="us-west-2")
    Latency(session.events, dynamodb_ms, sqs_ms)
    meter = CapacityMeter(session.events)
    pool = Config(max_pool_connections=concurrency + DUE_SHARDS)
    store = DynamoStore(table_name, session.client("dynamodb", endpoint_url=endpoint, config=pool))
    queue = SqsQueue(session.client("sqs", endpoint_url=endpoint, config=pool), queue_url)
    ticker = Ticker(store, queue, settings, lambda: NOW)
    moto_began = cpu_seconds(moto_pid) if moto_pid else None
    cpu_began, began = cpu_seconds(), time.perf_counter()
    with Drain(sqs_admin, queue_url) if drain else contextlib.nullcontext():
        report = ticker.run(NOW)
    seconds = time.perf_counter() - began
    tick_cpu = cpu_seconds() - cpu_began - meter.usage.meter_cpu
    moto_cpu = cpu_seconds(moto_pid) - moto_began if moto_pid and moto_began is not None else None
    usage = meter.usage
    in_time = sum(n for at, n in usage.queued_at if at - began <= IN_SERVICE_CLAIM_SECONDS)
    return Case(models, written_due, report.due, report.enqueued, report.left, concurrency, seconds, tick_cpu,
                moto_cpu, usage, in_time, dynamodb_ms, sqs_ms)


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's server in its own process: in this one its CPU would count as the tick's."""
    port = free_port()
    env = {**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}  # see Drain
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/moto-api/", timeout=30, server=moto)
    return moto, url


def run(sizes: Sequence[int], shares: Sequence[float] = DUE_SHARES, **options: Any) -> list[Case]:
    logging.getLogger("keepwarm").setLevel(logging.WARNING)  # a line per claim, tens of thousands
    moto, endpoint = start_moto()
    cases = []
    try:
        for size in sizes:
            for share in shares:
                due = math.ceil(size * share)
                name = f"keepwarm-ticks-{size}-{due}"
                case = measure_tick(endpoint, name, size, due, moto_pid=moto.pid, drain=True, **options)
                log(f"tick_scaling: {size} models, {due} due: tick {case.seconds:.1f} s "
                    f"(CPU {case.tick_cpu:.1f} s, moto {case.moto_cpu:.1f} s), {case.enqueued} queued")
                cases.append(case)
                # Drop the table: moto keeps everything in its process's memory.
                boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-west-2").delete_table(TableName=name)
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=5)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()
    return cases


def item_sizes() -> list[list[str]]:
    """Item and index entry sizes, and what a write of each costs, for a fleet model and for
    the fullest model the API allows."""
    settings = settings_for("sizes", "q", 45, 16)
    rows = []
    for what, model in (("a fleet model here (50 cold starts, a lease)", fleet_model(1, True, settings)),
                        ("the fullest model the API allows", fullest_model())):
        item = DynamoStore._model_item(model)
        entries = [index_entry(item, index) for index in TABLE_KEYS["GlobalSecondaryIndexes"]]
        sizes = [item_size(entry) for entry in entries if entry is not None]
        rows.append([what, f"{item_size(item):,} B ({math.ceil(item_size(item) / 1024)} WCU)",
                     " / ".join(f"{size} B" for size in sizes) + " (1 WCU each)",
                     f"{math.ceil(item_size(item) / 1024)} WCU in each"])
    return rows


def report(cases: Sequence[Case], argv: Sequence[str], wall_seconds: float) -> str:
    rows = []
    for c in cases:
        u = c.usage
        best, worst = c.lambda_seconds(TICK_MEMORY_MB)
        small = c.lambda_seconds(256)
        rows.append([
            f"{c.models:,}", f"{c.due:,}", f"{c.seconds:.1f}", f"{c.queued:,}",
            f"{u.items_read['Query']:,} / {u.items_read['BatchGetItem']:,}", f"{u.read_units:,.0f}",
            f"{sum(u.writes.values()):,}", f"{u.table_write_units:,}",
            " / ".join(f"{u.index_write_units[i['IndexName']]:,}" for i in TABLE_KEYS["GlobalSecondaryIndexes"]),
            ", ".join(f"{n:,} {op}" for op, n in sorted(u.calls.items())),
            f"{sum(u.calls.values()) / c.seconds:,.0f}",
            f"{c.tick_cpu:.1f}", f"{c.moto_cpu:.1f}" if c.moto_cpu is not None else "-",
            f"{best:.1f}-{worst:.1f}", f"{small[0]:.0f}-{small[1]:.0f}",
        ])
    big = max(cases, key=lambda c: c.due)
    lines = [
        "## The tick at scale: every model due in the same minute",
        "",
        f"`{command_line('bench.tick_scaling', argv)}`: measured on {commit()}, wall time {wall_seconds:.0f} s, on {machine()}.",
        "",
        table(["models", "due", "tick s (here)", "queued", "items read (index / items)", "RCU",
               "items written", "table WCU", f"index WCU ({INDEX_NAMES})", "calls", "calls/s", "tick CPU s",
               "moto CPU s", f"Lambda {TICK_MEMORY_MB:,} MB, s", "Lambda 256 MB, s"],
              rows, "rrrrrrrrrlrrrrr"),
        "",
        *verdicts(cases),
        "",
        "Item sizes (DynamoDB's rules) and what one write of the item costs:",
        "",
        table(["model", "item", f"index entries ({INDEX_NAMES})", "had the indexes projected everything"],
              item_sizes(), "llll"),
        "",
        "How it was measured:",
        "",
        f"- One `Ticker.run` per row, the production code: {big.concurrency} threads, ten claims a task, one "
        f"`SendMessageBatch` per task, the due index read shard by shard ({DUE_SHARDS} at once) and the items "
        "with consistent `BatchGetItem`s. moto's server (DynamoDB and SQS) runs in its own process; every "
        f"DynamoDB request waits {big.dynamodb_ms:g} ms and every SQS request {big.sqs_ms:g} ms before it is "
        "sent, typical round trips within a region. The queue is emptied every second during the run, because "
        "moto's SQS walks every message it holds for each one sent; the messages are counted from SQS's "
        "answers to the sends.",
        "- *Tick s (here)* is the wall time on this machine. It includes moto's own service time, on the "
        "same two shared cores: *moto CPU s* is what moto's process spent, and it is what keeps this figure "
        "above what AWS would take. *Tick CPU s* is the tick's own process (planning, the SDK's "
        "serialising, signing and parsing).",
        f"- *Lambda* estimates: Lambda gives the tick a share of a vCPU in proportion to its memory (one "
        f"vCPU at {FULL_VCPU_MB:,} MB; the tick runs at {TICK_MEMORY_MB:,} MB, and one Python process uses "
        "about one vCPU at most), so its CPU time there is the CPU time here over that share (taking this "
        "machine's core for Lambda's vCPU); the network waits are the requests times their round trips, "
        "shared among the threads. The lower figure has them overlap entirely, the higher one adds them.",
        "- *Items read*: index entries the Queries returned, then the items read by `BatchGetItem`. *RCU*: "
        "index Queries are eventually consistent (half a unit per 4 KB), item reads strongly consistent "
        "(a unit per 4 KB each). *WCU*: a unit per KB of the larger of the item before and after, in the "
        "table and in each index whose entry changes (a due time that moves deletes the old entry and "
        "puts the new one: two writes in the due index per claim). Counted from the requests and "
        "responses by `bench.capacity`: moto's own capacity figures are made up.",
        "- Registration wrote the items `DynamoStore._model_item` builds, by batch writes on "
        f"{WRITERS} threads. Models are warm, with their next due time as the planner sets it: due ones "
        "have a keep-alive in the coming minute, the others 2-14 minutes later.",
    ]
    return "\n".join(lines) + "\n"


def verdicts(cases: Sequence[Case]) -> list[str]:
    """Each target, met or not, and why."""
    found = []
    reads_due = all(c.usage.items_read["Query"] == c.usage.items_read["BatchGetItem"] == c.due == c.found_due
                    for c in cases)
    found.append("- **Items read equal the due models**, in every case, whatever the fleet's size: its cost "
                 "follows the due models, 5% due or all." if reads_due else
                 "- **Items read differ from the due models**: see the table.")
    once = all(max(c.usage.writes.values(), default=0) <= 1 and max(c.usage.queued.values(), default=0) <= 1
               for c in cases)
    found.append("- **No model was claimed twice**: one conditional write per due model, and SQS took one "
                 "message for each." if once else "- **Some model was claimed or queued twice**: see the table.")
    short = [c for c in cases if not c.enqueued == c.queued == c.due]
    if short:
        found.append("- **Not every due model was queued**: " + "; ".join(
            f"{c.models:,} models: {c.queued:,} of {c.due:,} queued, {c.left:,} left for the next tick"
            for c in short) + ".")
    big = max(cases, key=lambda c: c.due)
    best, worst = big.lambda_seconds(TICK_MEMORY_MB)
    cpu, waits = big.tick_cpu, big.waits / big.concurrency
    bound = (f"bound by its own CPU ({cpu:.0f} s here, {1000 * cpu / max(1, big.due):.1f} ms a model: the "
             f"SDK's work for each claim, and planning) more than by waiting ({waits:.0f} s of round trips "
             f"over {big.concurrency} threads)" if cpu >= waits else
             f"bound by waiting ({waits:.0f} s of round trips over {big.concurrency} threads) more than by "
             f"its own CPU ({cpu:.0f} s here)")
    found.append(
        f"- **{big.due:,} due models claimed and queued within {TARGET_SECONDS} s of the tick's start, in "
        f"Lambda**: {'met' if worst <= TARGET_SECONDS else 'not met'}, by the estimate: {best:.0f}-{worst:.0f} s "
        f"at {TICK_MEMORY_MB:,} MB. The tick is {bound}. At 256 MB, the old setting, the same work would "
        f"take {big.lambda_seconds(256)[0]:.0f} s or more, past the tick's {TICK_TIMEOUT_SECONDS} s timeout.")
    if big.seconds > TARGET_SECONDS:
        found.append(
            f"- **Here the tick took {big.seconds:.0f} s**, over the target: moto served its requests with "
            f"{big.moto_cpu or 0:.0f} CPU seconds on the same two cores (shared with other work), which AWS "
            f"does elsewhere. Within its in-service deadline ({IN_SERVICE_CLAIM_SECONDS:.0f} s) it had queued "
            f"{big.queued_in_time:,} calls here; in service it would leave the rest to the next tick.")
    return found


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tick_scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dynamodb-ms", type=float, default=DYNAMODB_MS, help="round trip added to each DynamoDB request")
    parser.add_argument("--sqs-ms", type=float, default=SQS_MS, help="round trip added to each SQS request")
    parser.add_argument("--concurrency", type=int, default=16, help="the tick's threads (KEEPWARM_TICK_CONCURRENCY)")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to write the section into ('' for none)")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    began = time.perf_counter()
    cases = run(args.sizes, dynamodb_ms=args.dynamodb_ms, sqs_ms=args.sqs_ms, concurrency=args.concurrency)
    text = report(cases, raw, time.perf_counter() - began)
    print(text)
    if args.out:
        write_section(Path(args.out), "tick_scaling", text)
        log(f"tick_scaling: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
