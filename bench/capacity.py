"""What DynamoDB charges for what the service does: item sizes by DynamoDB's published
rules, the entry each index keeps of an item, and a meter that sums the items and
capacity units of every call a client sends.

moto answers with made-up capacity figures, so they are computed here from the requests
and responses as they go over the wire (DynamoDB's typed JSON), by the rules of the
DynamoDB developer guide ("Item sizes and formats", "Read and write capacity units"):
a string is its UTF-8 bytes, a number one byte per two significant digits plus one, a
boolean or null one byte, a list or map three bytes plus one byte per element plus its
elements (and, in a map, their names). A write costs one unit per KB of the larger of the
item before and after, in the table and again in each index whose entry it changes (an
entry whose key changes is deleted and put: two writes); a strongly consistent read costs
one unit per 4 KB, an eventually consistent one half that (index Queries are eventually
consistent).
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from chalicelib.dynamo import TABLE_KEYS
from chalicelib.inputs import MAX_ACTIVE_LEASES, MAX_EXCLUDE_DATES, MAX_REQUEST_BODY_BYTES
from chalicelib.records import (
    COLD_START_SAMPLES,
    READINESS_KEPT,
    Lease,
    Model,
    ModelConfig,
    ModelState,
    Override,
    Pending,
    WindowRecord,
)

TABLE_KEY_NAMES = [k["AttributeName"] for k in TABLE_KEYS["KeySchema"]]


def value_size(value: dict[str, Any]) -> int:
    """The size of one typed value, without its attribute name."""
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = re.sub(r"[^0-9]", "", raw.split("e")[0].split("E")[0]).strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(raw) if isinstance(raw, bytes) else len(raw) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in raw)
    raise ValueError(f"not a DynamoDB value: {value!r}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for a typed item: each attribute's name and value."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def index_entry(item: dict[str, Any], index: dict[str, Any]) -> Optional[dict[str, Any]]:
    """What an index keeps of a typed item (None: the item is not in this sparse index)."""
    keys = [k["AttributeName"] for k in index["KeySchema"]]
    if any(k not in item for k in keys):
        return None
    projection = index["Projection"]
    if projection["ProjectionType"] == "ALL":
        return dict(item)
    kept = set(TABLE_KEY_NAMES + keys + projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in kept}


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


@dataclass
class Usage:
    """What a set of DynamoDB and SQS calls read, wrote and cost."""

    calls: Counter = field(default_factory=Counter)
    items_read: Counter = field(default_factory=Counter)  # by operation
    read_units: float = 0.0
    writes: Counter = field(default_factory=Counter)  # PutItems, by item key
    table_write_units: int = 0
    index_write_units: Counter = field(default_factory=Counter)  # by index
    largest_index_write: int = 0  # bytes: the largest index entry any write put
    queued: Counter = field(default_factory=Counter)  # messages SQS took, by the model they name
    queued_at: list[tuple[float, int]] = field(default_factory=list)  # when SQS took them, and how many
    # CPU seconds the meter itself spent, in the threads it measured: not theirs.
    meter_cpu: float = 0.0


class CapacityMeter:
    """Sums what every DynamoDB and SQS call reads and writes, through the given botocore
    event emitters (a client's ``meta.events``, or a session's ``events`` before its
    clients are made).

    Listens to ``before-send`` (the request's body) and ``before-parse`` (the response's
    body), so it sees exactly what travels. Remembers the last version of each item it
    saw, so a write is charged for the index entries it really changes."""

    def __init__(self, *emitters: Any):
        self.usage = Usage()
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._sending = threading.local()  # a SendMessageBatch's entries, until its answer
        for events in emitters:
            events.register("before-send", self._request)
            events.register("before-parse", self._response)

    def _request(self, request: Any, event_name: str, **kwargs: Any) -> None:
        began = time.thread_time()
        _, service, operation = event_name.split(".")
        with self._lock:
            self.usage.calls[operation] += 1
            if service == "dynamodb" and operation == "PutItem":
                self._put(json.loads(request.body)["Item"])
            elif service == "sqs" and operation == "SendMessageBatch":
                self._sending.entries = {e["Id"]: json.loads(e["MessageBody"])["model"]
                                         for e in json.loads(request.body)["Entries"]}
            self.usage.meter_cpu += time.thread_time() - began

    def _response(self, operation_model: Any, response_dict: dict[str, Any], **kwargs: Any) -> None:
        if response_dict["status_code"] != 200:
            return
        began = time.thread_time()
        name, body = operation_model.name, json.loads(response_dict["body"] or b"{}")
        with self._lock:
            if name == "Query":
                items = body.get("Items", [])
                self.usage.items_read[name] += len(items)
                self.usage.read_units += read_units(sum(map(item_size, items)), consistent=False)
            elif name == "BatchGetItem":
                for items in body.get("Responses", {}).values():
                    self._read(name, items)
            elif name == "GetItem" and "Item" in body:
                self._read(name, [body["Item"]])
            elif name == "SendMessageBatch":
                taken = [self._sending.entries[entry["Id"]] for entry in body.get("Successful", [])]
                self.usage.queued.update(taken)
                self.usage.queued_at.append((time.perf_counter(), len(taken)))
            self.usage.meter_cpu += time.thread_time() - began

    def _read(self, operation: str, items: list[dict[str, Any]]) -> None:
        self.usage.items_read[operation] += len(items)
        for item in items:
            self.usage.read_units += read_units(item_size(item), consistent=True)
            self._known[self._key(item)] = item

    @staticmethod
    def _key(item: dict[str, Any]) -> tuple[str, str]:
        return item["pk"]["S"], item["sk"]["S"]

    def _put(self, item: dict[str, Any]) -> None:
        old = self._known.get(self._key(item), {})
        self._known[self._key(item)] = item
        self.usage.writes[self._key(item)] += 1
        self.usage.table_write_units += write_units(max(item_size(old), item_size(item)))
        for index in TABLE_KEYS["GlobalSecondaryIndexes"]:
            before, after = index_entry(old, index), index_entry(item, index)
            if before == after:
                continue
            keys = [k["AttributeName"] for k in index["KeySchema"]]
            moved = before is not None and after is not None and any(before[k] != after[k] for k in keys)
            units = write_units(item_size(after)) if after is not None else 0
            if before is not None and (after is None or moved):
                units += write_units(item_size(before))  # the old entry is deleted
            self.usage.index_write_units[index["IndexName"]] += units
            if after is not None:
                self.usage.largest_index_write = max(self.usage.largest_index_write, item_size(after))


def fullest_model(now: datetime = datetime(2026, 3, 24, 10, 0, tzinfo=timezone.utc)) -> Model:
    """A model holding as much as the API lets it: the longest name, 20 cron windows, a
    4 KB custom request body, a year of excluded dates, 20 leases with the longest
    holders, a full set of cold-start samples, an override, a learned interval, an error
    and a call in flight. What its item costs bounds what any model's item costs."""
    name = "m" * 63
    day = timedelta(days=1)
    config = ModelConfig(
        name=name, model_arn="arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:imported-model/abcdefghijkl",
        timezone="America/Argentina/ComodRivadavia",
        windows=[{"warm": f"{i} 8 * * MON-FRI", "stop": f"{i} 17 * * MON-FRI"} for i in range(20)],
        keepalive_minutes=7, release_minutes=120, request_format="custom",
        request_body={"prompt": "x" * (MAX_REQUEST_BODY_BYTES - 40), "max_tokens": 1},
        exclude_dates=tuple((now.date() + i * day).isoformat() for i in range(MAX_EXCLUDE_DATES)),
        holidays={"country": "GB", "subdiv": "ENG"}, custom_model_units=4,
        created_at=now - 400 * day, updated_at=now - day)
    state = ModelState(
        status="error", last_success_at=now, last_call_at=now, warming_since=now,
        error="x" * 400, error_kind="transient", error_at=now,
        pending=Pending("0123456789abcdef", "keepalive", now + timedelta(seconds=42), attempt=7),
        next_due_at=now + timedelta(minutes=5),
        cold_starts=tuple(100 + i + 0.123 for i in range(COLD_START_SAMPLES)), cold_start_count=12345,
        leases=tuple(Lease(f"l{i:012x}", now, now + timedelta(minutes=720), "h" * 100)
                     for i in range(MAX_ACTIVE_LEASES)),
        override=Override("warm", now + 31 * day, now),
        learned_keepalive_minutes=3, learned_release_minutes=7, keepalive_reason="x" * 200,
        readiness=tuple(WindowRecord(now - i * day - timedelta(hours=9, seconds=0.123), now - i * day, False,
                                     12345.678, 532.123, 99, 99) for i in range(READINESS_KEPT, 0, -1)),
        readiness_until=now, version=987654)
    return Model(config, state)
