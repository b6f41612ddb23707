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
from chalicelib.loop import InvokerLike, Ticker, Worker
from chalicelib.queue import SqsQueue, WorkQueue
from chalicelib.settings import Settings
from chalicelib.store import DUE_SHARDS, DynamoStore, Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    queue: WorkQueue
    invoker: InvokerLike
    clock: Callable[[], datetime] = utcnow
    clients: Clients = field(default_factory=Clients)

    @classmethod
    def from_env(cls) -> "Runtime":
        settings = Settings.from_env()
        # The tick's threads and the store's shard readers share each client: a
        # connection each, or urllib3 opens and drops one per call beyond its pool of 10.
        pooled = Config(max_pool_connections=settings.tick_concurrency + DUE_SHARDS)
        store = DynamoStore(settings.table_name, boto3.client("dynamodb", config=pooled))
        queue = SqsQueue(boto3.client("sqs", config=pooled), settings.queue_url)
        clients = Clients()  # one per container, shared by invoking and the control plane
        return cls(settings, store, queue, Invoker(settings, clients), clients=clients)

    @property
    def control(self) -> ControlPlane:
        """Bedrock's control plane (GetImportedModel), through this runtime's clients."""
        return ControlPlane(self.clients)

    @property
    def api(self) -> Api:
        return Api(self.store, self.settings, dispatcher=self.ticker, control=self.control)

    @property
    def ticker(self) -> Ticker:
        return Ticker(self.store, self.queue, self.settings, self.clock)

    @property
    def worker(self) -> Worker:
        return Worker(self.store, self.queue, self.invoker, self.settings, self.clock, self.control)


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
