"""Shared fixtures: moto's server for DynamoDB and SQS, the imported-model simulator,
and the service's runtime wired to them over real HTTP on loopback.

Nothing here can reach AWS: credentials are fake, and every client the service builds is
pointed at a loopback endpoint through the standard ``AWS_ENDPOINT_URL_*`` variables.
"""
from __future__ import annotations

import itertools
import logging
import os
import secrets
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import boto3
import pytest

from bench.common import offline_aws  # the benchmarks' own: the same offline environment

offline_aws()  # fake credentials; every service on a closed loopback port until a fixture says otherwise

from moto.server import ThreadedMotoServer  # noqa: E402

from chalicelib import runtime as runtime_module  # noqa: E402
from chalicelib.bedrock import Invoker  # noqa: E402
from chalicelib.queue import SqsQueue  # noqa: E402
from chalicelib.runtime import Runtime  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store import DynamoStore, create_table  # noqa: E402
from local.harness import Driver, SimQueue, sqs_event, tick_event  # noqa: E402
from local.simulator import ManualClock, Simulator, SimulatorServer  # noqa: E402
from live import running_stack  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server, one line a request

UTC = timezone.utc
_names = itertools.count()
# The same process may run the suite twice (pytest.main twice; an IDE's re-run): names carry
# a token of this import, so a second run never meets the first one's tables and queues.
_run = secrets.token_hex(3)

ARN_LLAMA = "arn:aws:bedrock:us-west-2:123456789012:imported-model/llama8b00001"
ARN_QWEN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/qwen7b000001"


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{_run}-{next(_names)}"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends live in this process, not in the server: start from none of an
    # earlier run's tables, queues and buses.
    _reset_moto(url)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
    os.environ["AWS_ENDPOINT_URL_SQS"] = url
    yield url
    _reset_moto(url)
    server.stop()


def _reset_moto(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()


@pytest.fixture
def table(moto_url: str):
    name = unique("keepwarm")
    create_table(boto3.client("dynamodb"), name)
    return boto3.resource("dynamodb").Table(name)


@pytest.fixture
def sqs(moto_url: str):
    return boto3.client("sqs")


@pytest.fixture
def queue_url(sqs) -> str:
    return sqs.create_queue(QueueName=unique("keepwarm-work"))["QueueUrl"]


@pytest.fixture
def clock() -> ManualClock:
    # Monday 2026-03-09, 08:00 UTC: a working day, after the US DST change.
    return ManualClock(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))


@pytest.fixture
def simulator(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The simulator as ``make run`` has it: registering a model asks GetImportedModel
    about it, so any well-formed ARN is a model (loading in 60 s) unless a test added it
    first with other settings, or removed it."""
    sim = Simulator(clock=clock.now, auto_create=60)
    with SimulatorServer(sim) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", server.url)
        yield sim


@pytest.fixture
def settings(table, queue_url: str) -> Settings:
    return Settings.from_env({"KEEPWARM_TABLE": table.name, "KEEPWARM_QUEUE_URL": queue_url})


@pytest.fixture
def sim_queue(clock: ManualClock) -> SimQueue:
    return SimQueue(clock.now)


@pytest.fixture
def runtime(settings: Settings, table, simulator: Simulator, clock: ManualClock,
            sim_queue: SimQueue) -> Iterator[Runtime]:
    """The service on a simulated clock: moto DynamoDB, the simulator, a simulated queue."""
    rt = Runtime(settings, DynamoStore(table.name), sim_queue, Invoker(settings), clock=clock.now)
    runtime_module.use(rt)
    yield rt
    runtime_module.use(None)


@pytest.fixture
def sqs_runtime(settings: Settings, table, sqs, simulator: Simulator, clock: ManualClock) -> Iterator[Runtime]:
    """The same, but with moto's SQS as the work queue."""
    rt = Runtime(settings, DynamoStore(table.name), SqsQueue(sqs, settings.queue_url), Invoker(settings),
                 clock=clock.now)
    runtime_module.use(rt)
    yield rt
    runtime_module.use(None)


@pytest.fixture
def client(runtime):
    """Chalice's test client: routes, ``tick`` and ``worker`` as Lambda runs them."""
    from chalice.test import Client

    from app import app

    with Client(app) as c:
        yield c


@pytest.fixture
def driver(client, clock: ManualClock, sim_queue: SimQueue, runtime: Runtime) -> Driver:
    """Simulated time: EventBridge's tick each minute, queued calls when their delay ends
    (minutes in which no tick could find anything due are skipped)."""
    return Driver(
        clock, sim_queue,
        tick=lambda when: client.lambda_.invoke("tick", tick_event(when)).payload,
        work=lambda body: client.lambda_.invoke("worker", sqs_event(body)).payload,
        earliest_due=runtime.store.earliest_due,
    )


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory) -> Path:
    """Where the local stack writes its endpoints and its log (what ``make run`` prints)."""
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="module")
def stack(stack_dir: Path) -> Iterator[dict[str, str]]:
    """The local stack as ``make run`` starts it, once for the module that asks for it."""
    with running_stack(stack_dir) as endpoints:
        yield endpoints
