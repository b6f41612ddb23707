"""The service's parts, built once and lazily from the environment.

Lambda reuses a warm container, so clients and the table handle are made on first use and
kept. Tests, the local runner and the benchmark install their own parts with :func:`use`
(a moto table, a manual clock) instead of patching modules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

import boto3
from botocore.config import Config

from chalicelib.api import Api, utcnow
from chalicelib.bedrock import Invoker
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
    _bedrock: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Runtime":
        settings = Settings.from_env()
        # The tick's threads and the store's shard readers share each client: a
        # connection each, or urllib3 opens and drops one per call beyond its pool of 10.
        clients = Config(max_pool_connections=settings.tick_concurrency + DUE_SHARDS)
        store = DynamoStore(settings.table_name, boto3.client("dynamodb", config=clients))
        queue = SqsQueue(boto3.client("sqs", config=clients), settings.queue_url)
        return cls(settings, store, queue, Invoker(settings))

    def bedrock(self, region: str) -> Any:
        """The Bedrock control-plane client for a region (GetImportedModel), made once."""
        if region not in self._bedrock:
            self._bedrock[region] = boto3.client("bedrock", region_name=region)
        return self._bedrock[region]

    @property
    def api(self) -> Api:
        return Api(self.store, self.settings, dispatcher=self.ticker, bedrock=self.bedrock)

    @property
    def ticker(self) -> Ticker:
        return Ticker(self.store, self.queue, self.settings, self.clock)

    @property
    def worker(self) -> Worker:
        return Worker(self.store, self.queue, self.invoker, self.settings, self.clock)


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
