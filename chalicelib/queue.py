"""The work queue between the tick and the worker (SQS), and its message shape."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional, Protocol, Sequence

from chalicelib.records import Pending, parse_iso

# SQS refuses longer delays; the tick never needs more (it plans a minute ahead).
MAX_DELAY_SECONDS = 900
# SendMessageBatch takes at most ten messages a request.
SEND_BATCH = 10


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


class QueueRefused(Exception):
    """The queue refused one message of a batch that it otherwise took."""


# A message to send and its delay in seconds.
Outgoing = tuple[WorkMessage, int]


class WorkQueue(Protocol):
    """Where queued calls go: SQS in Lambda; the local simulation plays it on its own clock."""

    def send(self, message: WorkMessage, delay_seconds: int) -> None: ...

    def send_batch(self, batch: Sequence[Outgoing]) -> list[Optional[Exception]]:
        """Send every message; for each, None once it is queued, or what stopped it.

        One message's failure must not stop the others: the tick undoes the claim of
        each message that did not go, and only of those."""


class SendsOneByOne:
    """``send_batch`` for a queue with no batch call of its own (the simulations')."""

    def send(self, message: WorkMessage, delay_seconds: int) -> None:
        raise NotImplementedError

    def send_batch(self, batch: Sequence[Outgoing]) -> list[Optional[Exception]]:
        errors: list[Optional[Exception]] = []
        for message, delay in batch:
            try:
                self.send(message, delay)
            except Exception as err:  # this message's trouble, not the batch's
                errors.append(err)
            else:
                errors.append(None)
        return errors


class SqsQueue:
    def __init__(self, sqs_client: Any, queue_url: str):
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, message: WorkMessage, delay_seconds: int) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=message.to_body(),
                               DelaySeconds=delay_seconds)

    def send_batch(self, batch: Sequence[Outgoing]) -> list[Optional[Exception]]:
        """Ten messages a request (SendMessageBatch): a tenth of the round trips.

        SQS may take some entries of a request and refuse others (each is reported in
        ``Failed``); a request that fails as a whole queued none of its messages."""
        errors: list[Optional[Exception]] = []
        for start in range(0, len(batch), SEND_BATCH):
            part = batch[start:start + SEND_BATCH]
            entries = [{"Id": str(i), "MessageBody": message.to_body(), "DelaySeconds": delay}
                       for i, (message, delay) in enumerate(part)]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            except Exception as err:  # unreachable, throttled, denied: none of these went
                errors += [err] * len(part)
                continue
            refused = {f["Id"]: QueueRefused(f"{f.get('Code')}: {f.get('Message', '')}")
                       for f in answer.get("Failed", [])}
            errors += [refused.get(entry["Id"]) for entry in entries]
        return errors


