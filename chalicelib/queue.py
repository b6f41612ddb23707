"""The work queue between the tick and the worker (SQS), and its message shape."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.records import Pending, parse_iso

# SQS refuses longer delays; the tick never needs more (it plans a minute ahead).
MAX_DELAY_SECONDS = 900


class BadMessage(ValueError):
    """A message body this service did not write."""


@dataclass(frozen=True)
class WorkMessage:
    model: str
    action: Pending

    def to_body(self) -> str:
        return json.dumps({"model": self.model, **self.action.to_item()})

    @classmethod
    def from_body(cls, body: str) -> "WorkMessage":
        try:
            data = json.loads(body)
            return cls(data["model"], Pending(str(data["id"]), str(data["kind"]),
                                              parse_iso(data["at"]),  # type: ignore[arg-type]
                                              int(data.get("attempt", 0))))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise BadMessage(f"unreadable work message {body[:200]!r}: {err}") from None


def delay_until(at: datetime, now: datetime) -> int:
    """Whole seconds to wait so that a message sent ``now`` arrives no earlier than ``at``."""
    return max(0, min(MAX_DELAY_SECONDS, math.ceil((at - now).total_seconds())))


class WorkQueue(Protocol):
    """Where queued calls go: SQS in Lambda; the local simulation plays it on its own clock."""

    def send(self, message: WorkMessage, delay_seconds: int) -> None: ...


class SqsQueue:
    def __init__(self, sqs_client: Any, queue_url: str):
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, message: WorkMessage, delay_seconds: int) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=message.to_body(),
                               DelaySeconds=delay_seconds)


