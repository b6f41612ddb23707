"""AWS clients, made once per service and region and kept.

Lambda reuses a warm container, and an imported model is only reachable in its own
region, so the worker and the API each hold one client per service and region they have
needed. Each service is always built with the one botocore ``Config`` its caller passes
(the invoke timeouts for bedrock-runtime, the short control-plane ones for bedrock).
Endpoints come from boto3's standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which is
how the tests and the local stack reach their stand-ins.
"""
from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config


class Clients:
    """boto3 clients by (service, region); thread-safe (the local runner has worker threads)."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str, config: Config) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._made:
                self._made[key] = boto3.client(service, region_name=region, config=config)
            return self._made[key]
