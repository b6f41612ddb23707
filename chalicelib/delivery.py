"""Batches of queued calls as Lambda's SQS poller delivers them to the worker.

The worker takes up to :data:`WORKER_BATCH` messages an invocation and handles them at
once, each on its own thread: a call may wait for the model up to the invoke read
timeout, and ten such calls one after another would outlast the worker's Lambda. Its
answer names the messages that failed (the event source's ``ReportBatchItemFailures``),
so SQS makes only those visible again and deletes the others: one bad message does not
bring its neighbours back. The local runner honours the same answer.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Protocol, Sequence

from chalicelib.queue import WorkMessage

# Messages an invocation takes: SQS hands out ten at most without a batching window, and
# a window would hold back calls timed to the second.
WORKER_BATCH = 10


class WorkerLike(Protocol):
    def handle(self, message: WorkMessage) -> str: ...

    def failed(self, body: str, receive_count: int, error: BaseException) -> None: ...


def handle_batch(worker: WorkerLike, records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """Handle every record (SQS event records, as dicts) and answer which ones failed.

    When every record failed, raise the first one's error instead: Lambda then retries
    the batch whole, as it would retry the failures named, and counts an error in the
    function's metrics, where a worker failing through and through belongs. One bad
    message among good ones shows in the log (``worker_failed``) and, on its last
    delivery, on its model."""

    def one(record: dict[str, Any]) -> Optional[Exception]:
        try:
            worker.handle(WorkMessage.from_body(record["body"]))
        except Exception as err:  # this message's failure: SQS redelivers it alone
            receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
            worker.failed(record["body"], receives, err)
            return err
        return None

    with ThreadPoolExecutor(max(1, len(records)), thread_name_prefix="message") as pool:
        errors = list(pool.map(one, records))
    failures = [record["messageId"] for record, error in zip(records, errors) if error is not None]
    if records and len(failures) == len(records):
        raise errors[0]  # type: ignore[misc]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
