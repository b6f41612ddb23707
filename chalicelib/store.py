"""Persistence: models (config + live state in one item), the ARN guard, and events.

One DynamoDB table, single-table layout:

=====================  ===============  ==============================================
pk                     sk               what
=====================  ===============  ==============================================
``model#<name>``       ``model``        config map, state map, ``version``; ``entity``
                                        and ``name`` feed the ``model_names`` index;
                                        ``due_pk`` (the model's shard) and
                                        ``next_due_at`` (only while the model has
                                        something due) feed the ``due_sharded`` index
``arn#<model arn>``    ``arn``          the name registered for that ARN (uniqueness)
``model#<name>``       ``event#<at>#…`` one event, expiring through the ``expires_at`` TTL
=====================  ===============  ==============================================

Every write of a model item is conditional on its ``version``, so a late or duplicate
writer fails with :class:`StateConflict` instead of moving a model backwards. The due
index is sparse: a paused model has no ``due_pk`` and costs the tick nothing.

No index key is hot. A DynamoDB partition takes about 1,000 write units a second, and at
09:00 a large fleet's claims and cold-start polls rewrite thousands of models a second:
the due index spreads them over :data:`DUE_SHARDS` partition key values, which the tick
reads in parallel and merges. Both indexes project keys only, so an index entry is about
200 bytes whatever the model holds (1 write unit), and the ``model_names`` index, whose
keys never change, is written only when a model is registered or deleted. Readers get
the items themselves with a consistent BatchGetItem.

The store is shared by the tick's threads: every call goes through the table's boto3
client, which is thread-safe (a boto3 resource is not).
"""
from __future__ import annotations

import base64
import binascii
import heapq
import json
import secrets
import threading
import time
import zlib
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator, Optional

from botocore.exceptions import ClientError

from chalicelib.records import Event, Model, ModelConfig, ModelState, parse_iso, require_aware


class StoreError(Exception):
    """Base of the domain errors a store raises instead of ClientError."""


class ModelNotFound(StoreError):
    def __init__(self, key: str):
        super().__init__(f"no model named or with ARN {key!r}")
        self.key = key


class ModelAlreadyExists(StoreError):
    def __init__(self, field: str, value: str):
        super().__init__(f"{field}: a model with {field} {value!r} is already registered")
        self.field = field


class StateConflict(StoreError):
    """The model changed (or vanished) since it was read."""


class BadPageToken(StoreError):
    pass


DUE_INDEX = "due_sharded"
MODELS_INDEX = "model_names"
# Partition key values of the due index. A partition takes about 1,000 writes a second,
# and a model write that moves its due time costs the index two (the old entry out, the
# new one in). At 09:00 a 10,000-model fleet is claimed within the minute and then polled
# every 10 s while it loads: about 1,000 saves, 2,000 index writes, a second. Eight
# partitions take 8,000.
DUE_SHARDS = 8
# BatchGetItem takes 100 keys a request; keys DynamoDB leaves unprocessed (throttling)
# are asked again, backing off, this many times.
BATCH_GET_KEYS = 100
BATCH_GET_TRIES = 8


def due_partition_of(shard: int) -> str:
    """Shard 0 keeps the name of the single partition of tables from before the sharding:
    their models are found there until their next write moves them to their own shard."""
    return "due" if shard == 0 else f"due#{shard}"


DUE_PARTITIONS = tuple(due_partition_of(shard) for shard in range(DUE_SHARDS))


def due_partition(name: str) -> str:
    """The due index partition of a model: a stable hash of its name (Python's own hash
    differs from process to process)."""
    return due_partition_of(zlib.crc32(name.encode()) % DUE_SHARDS)


def due_key(at: datetime) -> str:
    """Fixed-width UTC text, so that string order in the index is time order."""
    at = require_aware(at).astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        name = ""
    if not name or encode_token(name) != token:
        raise BadPageToken(f"next_token: {token[:100]!r} is not a token this service issued")
    return name


class Store(ABC):
    """What the service needs from storage; one contract test runs on every implementation."""

    @abstractmethod
    def create(self, model: Model) -> Model:
        """Store a new model (version 1). Raises ModelAlreadyExists naming the field."""

    @abstractmethod
    def find(self, key: str) -> Optional[Model]:
        """The model with this name or ARN, or None."""

    def get(self, key: str) -> Model:
        model = self.find(key)
        if model is None:
            raise ModelNotFound(key)
        return model

    @abstractmethod
    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        """A page of models in name order and the token of the next page (None at the end)."""

    @abstractmethod
    def save(self, model: Model, expected_version: int) -> Model:
        """Write config and state if the stored version is still ``expected_version``.

        Returns the model with its new version; raises StateConflict otherwise."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove the model, its ARN guard and its events. Raises ModelNotFound."""

    @abstractmethod
    def due(self, until: datetime) -> Iterator[Model]:
        """Models whose next due time is at or before ``until``, earliest first."""

    def earliest_due(self) -> Optional[datetime]:
        """The earliest next-due time of any model (for simulations that skip idle ticks)."""
        first = next(self.due(datetime.max.replace(tzinfo=timezone.utc)), None)
        return first.state.next_due_at if first else None

    @abstractmethod
    def add_event(self, name: str, event: Event, ttl_days: int) -> None: ...

    @abstractmethod
    def events(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        """The model's events, newest first."""


def _next_version(model: Model, expected_version: int) -> Model:
    return replace(model, state=replace(model.state, version=expected_version + 1))


class MemoryStore(Store):
    """In-process store with the same semantics, for unit tests and simulations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, Any]] = {}
        self._arns: dict[str, str] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}

    @staticmethod
    def _load(item: dict[str, Any]) -> Model:
        return Model(ModelConfig.from_item(item["config"]), ModelState.from_item(item["state"]))

    @staticmethod
    def _dump(model: Model) -> dict[str, Any]:
        # Round-trip through JSON so callers never share mutable state with the store.
        return json.loads(json.dumps({"config": model.config.to_item(), "state": model.state.to_item()}))

    def create(self, model: Model) -> Model:
        with self._lock:
            if model.name in self._models:
                raise ModelAlreadyExists("name", model.name)
            if model.config.model_arn in self._arns:
                raise ModelAlreadyExists("model_arn", model.config.model_arn)
            model = _next_version(model, 0)
            self._models[model.name] = self._dump(model)
            self._arns[model.config.model_arn] = model.name
            return model

    def find(self, key: str) -> Optional[Model]:
        with self._lock:
            name = self._arns.get(key, key)
            item = self._models.get(name)
            return self._load(item) if item else None

    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        after = decode_token(token) if token else ""
        with self._lock:
            names = sorted(n for n in self._models if n > after)
            page = [self._load(self._models[n]) for n in names[:limit]]
        more = len(names) > limit
        return page, encode_token(page[-1].name) if more and page else None

    def save(self, model: Model, expected_version: int) -> Model:
        with self._lock:
            item = self._models.get(model.name)
            if item is None or item["state"]["version"] != expected_version:
                raise StateConflict(f"{model.name}: version is not {expected_version}")
            model = _next_version(model, expected_version)
            self._models[model.name] = self._dump(model)
            return model

    def delete(self, name: str) -> None:
        with self._lock:
            item = self._models.pop(name, None)
            if item is None:
                raise ModelNotFound(name)
            self._arns.pop(item["config"]["model_arn"], None)
            self._events.pop(name, None)

    def due(self, until: datetime) -> Iterator[Model]:
        limit = due_key(until)
        with self._lock:
            rows = [
                (due_key(m.state.next_due_at), m)
                for m in map(self._load, self._models.values())
                if m.state.next_due_at is not None
            ]
        rows.sort(key=lambda row: row[0])
        return iter([m for key, m in rows if key <= limit])

    def add_event(self, name: str, event: Event, ttl_days: int) -> None:
        with self._lock:
            self._events.setdefault(name, []).append(json.loads(json.dumps(event.to_item())))

    def events(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(reversed(self._events.get(name, ())))
        # Stable: events of one instant stay newest first.
        rows.sort(key=lambda e: due_key(parse_iso(e["at"])), reverse=True)
        return rows[:limit]


def _to_dynamo(value: Any) -> Any:
    """boto3's resource layer wants Decimal, not float, and no empty-string keys."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _conditional_failed(err: ClientError) -> bool:
    return err.response["Error"]["Code"] in (
        "ConditionalCheckFailedException", "TransactionCanceledException")


class DynamoStore(Store):
    """The production store, over a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any):
        self._table = table
        self._name = table.name
        # The resource's own client: thread-safe, and it takes and returns plain Python
        # values, not DynamoDB's typed JSON.
        self._client = table.meta.client

    # -- item shapes -------------------------------------------------------------
    @staticmethod
    def _model_key(name: str) -> dict[str, str]:
        return {"pk": f"model#{name}", "sk": "model"}

    @staticmethod
    def _arn_key(arn: str) -> dict[str, str]:
        return {"pk": f"arn#{arn}", "sk": "arn"}

    def _model_item(self, model: Model) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self._model_key(model.name),
            "entity": "model",
            "name": model.name,
            "config": model.config.to_item(),
            "state": model.state.to_item(),
            "version": model.state.version,
        }
        if model.state.next_due_at is not None:
            item["due_pk"] = due_partition(model.name)
            item["next_due_at"] = due_key(model.state.next_due_at)
        return _to_dynamo(item)

    @staticmethod
    def _load(item: dict[str, Any]) -> Model:
        item = _from_dynamo(item)
        return Model(ModelConfig.from_item(item["config"]), ModelState.from_item(item["state"]))

    def _get_many(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        """The items with these keys that exist, in the keys' order: consistent reads
        (an index entry may be older than its item; the item is the truth)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {self._name: {"Keys": keys[start:start + BATCH_GET_KEYS], "ConsistentRead": True}}
            for attempt in range(BATCH_GET_TRIES):
                page = self._client.batch_get_item(RequestItems=request)
                found.update((item["pk"], item) for item in page["Responses"].get(self._name, []))
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(2.0, 0.05 * 2 ** attempt))
            else:
                raise StoreError(f"DynamoDB left {len(request[self._name]['Keys'])} keys unread "
                                 f"after {BATCH_GET_TRIES} tries")
        return [found[key["pk"]] for key in keys if key["pk"] in found]

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query finds, page after page."""
        kwargs["TableName"] = self._name
        while True:
            page = self._client.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- Store -------------------------------------------------------------------
    def create(self, model: Model) -> Model:
        model = _next_version(model, 0)
        try:
            self._client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._name, "Item": self._model_item(model),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self._name,
                         "Item": {**self._arn_key(model.config.model_arn), "name": model.name},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ModelAlreadyExists("name", model.name) from None
            raise ModelAlreadyExists("model_arn", model.config.model_arn) from None
        return model

    def _get(self, key: dict[str, str]) -> Optional[dict[str, Any]]:
        return self._client.get_item(TableName=self._name, Key=key, ConsistentRead=True).get("Item")

    def find(self, key: str) -> Optional[Model]:
        name = key
        if key.startswith("arn:"):
            guard = self._get(self._arn_key(key))
            if guard is None:
                return None
            name = guard["name"]
        item = self._get(self._model_key(name))
        return self._load(item) if item else None

    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        kwargs: dict[str, Any] = {
            "TableName": self._name,
            "IndexName": MODELS_INDEX,
            "KeyConditionExpression": "entity = :e",
            "ExpressionAttributeValues": {":e": "model"},
            "Limit": limit,
        }
        if token:
            name = decode_token(token)
            kwargs["ExclusiveStartKey"] = {**self._model_key(name), "entity": "model", "name": name}
        page = self._client.query(**kwargs)
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", [])]
        models = [self._load(item) for item in self._get_many(keys)]
        last = page.get("LastEvaluatedKey")
        return models, encode_token(last["name"]) if last and keys else None

    def save(self, model: Model, expected_version: int) -> Model:
        model = _next_version(model, expected_version)
        try:
            self._client.put_item(
                TableName=self._name,
                Item=self._model_item(model),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": expected_version},
            )
        except ClientError as err:
            if _conditional_failed(err):
                raise StateConflict(f"{model.name}: version is not {expected_version}") from None
            raise
        return model

    def delete(self, name: str) -> None:
        model = self.find(name)
        if model is None:
            raise ModelNotFound(name)
        try:
            self._client.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self._name,
                            "Key": self._model_key(name),
                            "ConditionExpression": "attribute_exists(pk)"}},
                {"Delete": {"TableName": self._name,
                            "Key": self._arn_key(model.config.model_arn)}},
            ])
        except ClientError as err:
            if _conditional_failed(err):
                raise ModelNotFound(name) from None
            raise
        with self._table.batch_writer() as batch:
            for key in self._query(KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
                                   ExpressionAttributeValues={":pk": f"model#{name}", ":ev": "event#"},
                                   ProjectionExpression="pk, sk"):
                batch.delete_item(Key=key)

    def _due_keys(self, partition: str, until: str) -> list[dict[str, Any]]:
        return list(self._query(IndexName=DUE_INDEX,
                                KeyConditionExpression="due_pk = :d AND next_due_at <= :until",
                                ExpressionAttributeValues={":d": partition, ":until": until}))

    def due(self, until: datetime) -> Iterator[Model]:
        """Reads every shard at once, merges them in time order, then reads the items
        themselves a hundred at a time, several requests at once, yielding the first
        hundred while the rest are read."""
        limit = due_key(until)
        with ThreadPoolExecutor(DUE_SHARDS) as pool:
            shards = pool.map(lambda partition: self._due_keys(partition, limit), DUE_PARTITIONS)
            entries = list(heapq.merge(*shards, key=lambda entry: entry["next_due_at"]))
            chunks = [[{"pk": e["pk"], "sk": e["sk"]} for e in entries[i:i + BATCH_GET_KEYS]]
                      for i in range(0, len(entries), BATCH_GET_KEYS)]
            for items in pool.map(self._get_many, chunks):
                for model in map(self._load, items):
                    # Still due: the index lags its items a little.
                    due = model.state.next_due_at
                    if due is not None and due_key(due) <= limit:
                        yield model

    def earliest_due(self) -> Optional[datetime]:
        firsts = [self._client.query(TableName=self._name, IndexName=DUE_INDEX,
                                     KeyConditionExpression="due_pk = :d",
                                     ExpressionAttributeValues={":d": partition}, Limit=1).get("Items", [])
                  for partition in DUE_PARTITIONS]
        keys = [items[0]["next_due_at"] for items in firsts if items]
        return parse_iso(min(keys)) if keys else None

    def add_event(self, name: str, event: Event, ttl_days: int) -> None:
        expires = event.at + timedelta(days=ttl_days)
        self._client.put_item(TableName=self._name, Item=_to_dynamo({
            "pk": f"model#{name}",
            # Events of one instant keep the order they were written in.
            "sk": f"event#{due_key(event.at)}#{time.time_ns():020d}{secrets.token_hex(2)}",
            "expires_at": int(expires.timestamp()),
            "event": event.to_item(),
        }))

    def events(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        page = self._client.query(
            TableName=self._name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
            ExpressionAttributeValues={":pk": f"model#{name}", ":ev": "event#"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_from_dynamo(item["event"]) for item in page.get("Items", [])]


# The table as the code expects it; the local stack and tests create it from this, and
# the deployment template declares the same keys and indexes.
TABLE_KEYS = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "due_pk", "AttributeType": "S"},
        {"AttributeName": "next_due_at", "AttributeType": "S"},
        {"AttributeName": "entity", "AttributeType": "S"},
        {"AttributeName": "name", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {"IndexName": DUE_INDEX,
         "KeySchema": [{"AttributeName": "due_pk", "KeyType": "HASH"},
                       {"AttributeName": "next_due_at", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
        {"IndexName": MODELS_INDEX,
         "KeySchema": [{"AttributeName": "entity", "KeyType": "HASH"},
                       {"AttributeName": "name", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
    ],
}
TTL_ATTRIBUTE = "expires_at"


def create_table(client: Any, table_name: str) -> None:
    """Create the table (on-demand) with its TTL; for the local stack and tests."""
    client.create_table(TableName=table_name, BillingMode="PAY_PER_REQUEST", **TABLE_KEYS)
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )

