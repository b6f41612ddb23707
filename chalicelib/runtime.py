"""The service's parts, built once and lazily from the environment.

Lambda reuses a warm container, so clients and the table handle are made on first use and
kept. Tests, the local runner and the benchmark install their own parts with :func:`use`
(a moto table, a manual clock) instead of patching modules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional

import boto3
from botocore.config import Config

from chalicelib.api import Api, utcnow
from chalicelib.bedrock import ControlPlane, Invoker
from chalicelib.clients import Clients
from chalicelib.dynamo import DUE_SHARDS, DynamoStore
from chalicelib.fleet import glance
from chalicelib.loop import InvokerLike, Ticker, Worker
from chalicelib.notify import CLIENT_CONFIG, EventBus
from chalicelib.queue import SqsQueue, WorkQueue
from chalicelib.settings import Settings
from chalicelib.storage import Store
from chalicelib.telemetry import Journal
from chalicelib.traffic import Traffic


@dataclass
class Runtime:
    settings: Settings
    store: Store
    queue: WorkQueue
    invoker: InvokerLike
    clock: Callable[[], datetime] = utcnow
    clients: Clients = field(default_factory=Clients)
    # Where state changes are put for operators (None: nowhere; the model's events keep them).
    bus: Optional[EventBus] = None

    @classmethod
    def from_env(cls) -> "Runtime":
        settings = Settings.from_env()
        # The tick's threads and the store's shard readers share each client: a
        # connection each, or urllib3 opens and drops one per call beyond its pool of 10.
        pooled = Config(max_pool_connections=settings.tick_concurrency + DUE_SHARDS)
        store = DynamoStore(settings.table_name, boto3.client("dynamodb", config=pooled))
        # Each write keeps what the fleet view needs of the model, so the view plans none.
        store.glance = lambda model, previous: glance(model, utcnow(), settings, previous)
        queue = SqsQueue(boto3.client("sqs", config=pooled), settings.queue_url)
        clients = Clients()  # one per container, shared by invoking and the control plane
        bus = EventBus(boto3.client("events", config=CLIENT_CONFIG))
        return cls(settings, store, queue, Invoker(settings, clients), clients=clients, bus=bus)

    @property
    def control(self) -> ControlPlane:
        """Bedrock's control plane (GetImportedModel), through this runtime's clients."""
        return ControlPlane(self.clients)

    @property
    def journal(self) -> Journal:
        """Events written down, and told: as metrics and on the event bus."""
        return Journal(self.store, self.settings, self.bus, metrics=True)

    @property
    def api(self) -> Api:
        return Api(self.store, self.settings, dispatcher=self.ticker, control=self.control, journal=self.journal,
                   traffic=Traffic(self.clients))

    @property
    def ticker(self) -> Ticker:
        return Ticker(self.store, self.queue, self.settings, self.clock, self.journal)

    @property
    def worker(self) -> Worker:
        return Worker(self.store, self.queue, self.invoker, self.settings, self.clock, self.control, self.journal)


_current: Optional[Runtime] = None


def get_runtime() -> Runtime:
    global _current
    if _current is None:
        _current = Runtime.from_env()
    return _current


def use(runtime: Optional[Runtime]) -> None:
    """Install the parts to use (None: build them from the environment on next use)."""
    global _current
    _current = runtime
