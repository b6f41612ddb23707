"""Driving the service on a simulated clock: EventBridge's minute tick and SQS's delays.

In Lambda, EventBridge calls ``tick`` every minute and SQS hands each queued call to
``worker`` once its delay has passed. :class:`Driver` plays both on a manual clock, so a
test or a benchmark runs hours of the real tick and worker code in seconds. The callables
it is given decide how tick and worker are reached: through Chalice's test client (tests),
or directly (benchmarks).
"""
from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from botocore.exceptions import ClientError

from chalicelib.bedrock import classify, request_body
from chalicelib.planner import NOT_READY, READY, CallResult
from chalicelib.queue import SendsOneByOne, WorkMessage

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


class SimQueue(SendsOneByOne):
    """A work queue whose delays run on the simulated clock (SQS's run on the real one).

    The tick's threads send to it at once, hence the lock."""

    def __init__(self, clock: Callable[[], datetime]):
        self._clock = clock
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.sent: list[tuple[datetime, int, WorkMessage]] = []

    def send(self, message: WorkMessage, delay_seconds: int) -> None:
        now = self._clock()
        with self._lock:
            self.sent.append((now, delay_seconds, message))
            heapq.heappush(self._heap, (now + timedelta(seconds=delay_seconds), next(self._seq),
                                        message.to_body()))

    def push_body(self, at: datetime, body: str) -> None:
        """Queue a raw body (a duplicate or a hand-made message) for delivery at ``at``."""
        with self._lock:
            heapq.heappush(self._heap, (at, next(self._seq), body))

    def next_at(self) -> Optional[datetime]:
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[datetime, str]:
        at, _, body = heapq.heappop(self._heap)
        return at, body

    def __len__(self) -> int:
        return len(self._heap)


def tick_event(at: datetime) -> dict[str, Any]:
    """The EventBridge scheduled event for ``at`` (its ``time`` is what the tick plans by)."""
    return {
        "version": "0", "id": f"tick-{at:%Y%m%d%H%M}", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012",
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-west-2",
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/keepwarm-tick"], "detail": {},
    }


def sqs_event(body: str, queue_name: str = "keepwarm-work", receive_count: int = 1) -> dict[str, Any]:
    """The event of a single message."""
    return sqs_batch_event([{"MessageId": f"m-{abs(hash(body)) % 10**12}", "ReceiptHandle": "r", "Body": body,
                             "Attributes": {"ApproximateReceiveCount": str(receive_count)}}], queue_name)


def sqs_batch_event(messages: list[dict[str, Any]], queue_name: str = "keepwarm-work") -> dict[str, Any]:
    """The event Lambda's SQS poller hands the worker for messages as ReceiveMessage
    returns them."""
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message.get("Attributes", {}), "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-west-2:123456789012:{queue_name}",
        "awsRegion": "us-west-2",
    } for message in messages]}


@dataclass
class Driver:
    """Advance a manual clock, firing ticks on each minute and queued work when due."""

    clock: Any  # local.models.ManualClock (now(), set())
    queue: SimQueue
    tick: Callable[[datetime], Any]
    work: Callable[[str], Any]
    # The store's earliest next-due time. When given, ticks that could find nothing due
    # (more than a minute before it, with nothing queued) are skipped: they would do
    # nothing, and skipping them makes a simulated week cost seconds.
    earliest_due: Optional[Callable[[], Optional[datetime]]] = None
    ticks: int = 0
    deliveries: int = 0
    results: list[Any] = field(default_factory=list)

    def run_until(self, end: datetime) -> None:
        now = self.clock.now()
        next_tick = now.replace(second=0, microsecond=0)
        if next_tick < now:
            next_tick += MINUTE
        while True:
            queued = self.queue.next_at()
            if queued is not None and queued < next_tick:
                if queued > end:
                    break
                self.clock.set(max(queued, self.clock.now()))
                _, body = self.queue.pop()
                self.deliveries += 1
                self.results.append(self.work(body))
            else:
                if next_tick > end:
                    break
                if self.earliest_due is not None:
                    skipped = self._first_useful_tick(next_tick, queued, end)
                    if skipped != next_tick:
                        next_tick = skipped
                        continue
                self.clock.set(next_tick)
                self.ticks += 1
                self.tick(next_tick)
                next_tick += MINUTE
        self.clock.set(end)

    def _first_useful_tick(self, next_tick: datetime, queued: Optional[datetime], end: datetime) -> datetime:
        due = self.earliest_due()  # type: ignore[misc]
        limit = min(t for t in (queued, end + MINUTE, due and due - MINUTE) if t is not None)
        if limit <= next_tick:
            return next_tick
        # The last minute boundary at or before the limit: the first tick that may matter.
        return max(next_tick, limit.replace(second=0, microsecond=0))


class SimulatorInvoker:
    """Calls a :class:`local.models.Simulator` in this process, without HTTP: for soaks
    and benchmarks that run hundreds of models for weeks, where the loop, not the wire, is
    under test.

    The body is the service's own (``chalicelib.bedrock.request_body``) and an error answer
    is classified by the service's own ``classify``, from the code and status the
    simulator would have sent; the HTTP path itself is tested elsewhere.

    A call the simulator holds (a cold model in ``hold`` mode) takes its time as it would
    over HTTP, for its caller only: with ``clock`` (the shared simulated clock), ``now``
    is the caller's clock, that clock plus how long its last call was held (up to
    ``read_timeout`` seconds, when the caller gives up and counts the model as still
    loading, as ``chalicelib.bedrock.Invoker`` does). Give ``now`` to the worker and its
    queue, and call ``begin`` before each delivery: other workers' calls, due meanwhile,
    go out on time, as concurrent Lambda invocations do."""

    def __init__(self, simulator: Any, clock: Optional[Callable[[], datetime]] = None, read_timeout: float = 60.0):
        self.simulator = simulator
        self.clock = clock
        self.read_timeout = read_timeout
        self.held = timedelta(0)

    def begin(self) -> None:
        """A new delivery: its worker has waited on nothing yet."""
        self.held = timedelta(0)

    def now(self) -> datetime:
        if self.clock is None:
            raise ValueError("SimulatorInvoker.now needs the shared clock")
        return self.clock() + self.held

    def invoke(self, config: Any, request_format: str) -> CallResult:
        answer = self.simulator.invoke(config.model_arn, request_body(config, request_format))
        if answer.at is not None and self.clock is not None:
            waited = answer.at - self.clock()
            limit = timedelta(seconds=self.read_timeout)
            self.held = min(waited, limit)
            if waited > limit:
                return CallResult(NOT_READY, "ReadTimeoutError",
                                  f"no answer within {self.read_timeout:g} s; counted as still loading")
        if answer.status == 200:
            return CallResult(READY)
        error = {"Code": answer.body.get("__type"), "Message": answer.body.get("message")}
        return classify(ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": answer.status}},
                                    "InvokeModel"))
