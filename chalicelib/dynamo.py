"""The DynamoDB store: the storage contract on one table, and that table's layout.

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
``model#<name>``       ``span#<start>`` one warm span (a copy keepwarm held), expiring too
``fleet#loads``        ``<group>``      running totals of the fleet's exact cold starts
                                        (``all``, ``cmu<N>``): the prior for new models
``fleet#release``      ``<region>``     the shortest idle gap after which a model of
                                        the region was found cold: the others' prior
=====================  ===============  ==============================================

Every write of a model item is conditional on its ``version``, so a late or duplicate
writer fails with :class:`StateConflict` instead of moving a model backwards. The due
index is sparse: a paused model has no ``due_pk`` and costs the tick nothing. So is the
``errors`` index: only a model in status ``error`` has an ``error_pk``, so counting them
(every tick, for the alarm) reads only those. Its one partition key is written only when
a model enters, stays in or leaves ``error``, far below a partition's write rate.

No index key is hot. A DynamoDB partition takes about 1,000 write units a second, and at
09:00 a large fleet's claims and cold-start polls rewrite thousands of models a second:
the due index spreads them over :data:`DUE_SHARDS` partition key values, which the tick
reads in parallel and merges. The indexes project keys only, so an index entry is about
200 bytes whatever the model holds (1 write unit), and the ``model_names`` index, whose
keys never change, is written only when a model is registered or deleted. Readers get
the items themselves with a consistent BatchGetItem.

The store is shared by the tick's threads: every call goes through one boto3 client,
which is thread-safe (a boto3 resource is not), in DynamoDB's typed JSON.
"""
from __future__ import annotations

import heapq
import itertools
import json
import secrets
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import boto3
from botocore.exceptions import ClientError

from chalicelib.leads import FleetLoads
from chalicelib.records import Event, Model, ModelConfig, ModelState, WarmSpan, parse_iso
from chalicelib.storage import (FLEET_PAGE, ModelAlreadyExists, ModelNotFound, StateConflict, Store, StoreError,
                                _next_version, _own, decode_token, due_key, encode_token)


DUE_INDEX = "due_sharded"
MODELS_INDEX = "model_names"
ERRORS_INDEX = "errors"
ERROR_PARTITION = "error"
# Warm spans are kept this long: a year of months to compare, as a bill is read.
WARM_SPAN_DAYS = 400
# Partition key values of the due index. A partition takes about 1,000 writes a second,
# and a model write that moves its due time costs the index two (the old entry out, the
# new one in). At 09:00 a 10,000-model fleet is claimed within the minute and then polled
# every 10 s while it loads: about 1,000 saves, 2,000 index writes, a second. Eight
# partitions take 8,000.
DUE_SHARDS = 8
# BatchGetItem takes 100 keys a request, BatchWriteItem 25 items; what DynamoDB leaves
# unprocessed (throttling) is asked again, backing off, this many times.
BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
BATCH_TRIES = 8
# The fleet view's pages of glances are read this many at once.
FLEET_READERS = 8
# Glances remembered from reads, for the next write of the same model (about 700 B each).
REMEMBERED_GLANCES = 20_000


def due_partition_of(shard: int) -> str:
    """Shard 0 keeps the name of the single partition of tables from before the sharding:
    their models are found there until their next write moves them to their own shard."""
    return "due" if shard == 0 else f"due#{shard}"


DUE_PARTITIONS = tuple(due_partition_of(shard) for shard in range(DUE_SHARDS))


def due_partition(name: str) -> str:
    """The due index partition of a model: a stable hash of its name (Python's own hash
    differs from process to process)."""
    return due_partition_of(zlib.crc32(name.encode()) % DUE_SHARDS)

def _typed(value: Any) -> dict[str, Any]:
    """A plain value as DynamoDB's typed JSON. Done here rather than by boto3's resource
    layer, which is not thread-safe and copies every request and walks each value again
    on the way out and on the way back: the tick's CPU time is what bounds it."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {k: _typed(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_typed(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} {value!r}")


def _plain(value: dict[str, Any]) -> Any:
    """The plain value of DynamoDB's typed JSON: numbers as int when whole, else float."""
    for kind, raw in value.items():
        if kind == "S":
            return raw
        if kind == "N":
            try:
                return int(raw)
            except ValueError:
                number = Decimal(raw)
                return int(number) if number == number.to_integral_value() else float(number)
        if kind == "M":
            return {k: _plain(v) for k, v in raw.items()}
        if kind == "L":
            return [_plain(v) for v in raw]
        if kind == "BOOL":
            return raw
        if kind == "NULL":
            return None
    raise TypeError(f"not a value this service stores: {value!r}")


def _typed_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _typed(value) for name, value in item.items()}


def _json(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _record(value: dict[str, Any]) -> dict[str, Any]:
    """A model's config or state: JSON text, or a map in items written before it was text."""
    return json.loads(value["S"]) if "S" in value else _plain(value)


def _incarnation_of(item: dict[str, Any]) -> Optional[str]:
    return item["incarnation"]["S"] if "incarnation" in item else None


def _owned(items: Iterable[dict[str, Any]], incarnation: Optional[str]) -> Iterator[dict[str, Any]]:
    return (item for item in items if _own(_incarnation_of(item), incarnation))


def _conditional_failed(err: ClientError) -> bool:
    return err.response["Error"]["Code"] in (
        "ConditionalCheckFailedException", "TransactionCanceledException")


class DynamoStore(Store):
    """The production store, over a boto3 DynamoDB client (made from the environment when
    not given): clients are thread-safe, so the tick's threads share one."""

    def __init__(self, table_name: str, client: Any = None):
        self._name = table_name
        self._client = client if client is not None else boto3.client("dynamodb")
        self._glances: dict[str, str] = {}

    # -- item shapes -------------------------------------------------------------
    @staticmethod
    def _model_key(name: str) -> dict[str, Any]:
        return _typed_item({"pk": f"model#{name}", "sk": "model"})

    @staticmethod
    def _arn_key(arn: str) -> dict[str, Any]:
        return _typed_item({"pk": f"arn#{arn}", "sk": "arn"})

    def _item(self, model: Model) -> dict[str, Any]:
        text = self._glance_text(model)
        if text is not None:
            self._glances[model.name] = text
        return self._model_item(model, text)

    @staticmethod
    def _model_item(model: Model, glance: Optional[str] = None) -> dict[str, Any]:
        """The model's item, typed: its key, its index keys, and config and state as JSON
        text. Nothing queries inside them, and as a hundred typed values (a state holds 50
        cold-start samples) the SDK checks, serialises and parses them one by one: as text,
        the tick's CPU time per claim fell by about a third (measured against moto)."""
        item: dict[str, Any] = {
            "pk": f"model#{model.name}",
            "sk": "model",
            "entity": "model",
            "name": model.name,
            "config": _json(model.config.to_item()),
            "state": _json(model.state.to_item()),
            "version": model.state.version,
        }
        if model.state.next_due_at is not None:
            item["due_pk"] = due_partition(model.name)
            item["next_due_at"] = due_key(model.state.next_due_at)
        if model.state.status == "error":
            item["error_pk"] = ERROR_PARTITION
        if glance is not None:
            item["glance"] = glance
        return _typed_item(item)

    def _load(self, item: dict[str, Any]) -> Model:
        model = Model(ModelConfig.from_item(_record(item["config"])), ModelState.from_item(_record(item["state"])))
        if self.glance is not None and "glance" in item:
            # A model is read before it is written (every write is conditional on what was
            # read): its next glance reuses what did not change.
            if len(self._glances) >= REMEMBERED_GLANCES:
                self._glances.clear()
            self._glances[model.name] = item["glance"]["S"]
        return model

    def _previous_glance(self, name: str) -> Optional[str]:
        return self._glances.get(name)

    @staticmethod
    def _until_processed(call: Callable[..., dict[str, Any]], request: dict[str, Any],
                         leftover: str) -> list[dict[str, Any]]:
        """The answers to a batch request, sent again with what DynamoDB left unprocessed
        (``leftover``: throttling) until nothing is left, backing off."""
        answers = []
        for attempt in range(BATCH_TRIES):
            answers.append(call(RequestItems=request))
            request = answers[-1].get(leftover) or {}
            if not request:
                return answers
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
        raise StoreError(f"DynamoDB left part of a batch unprocessed after {BATCH_TRIES} tries")

    def _get_many(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items with these keys that exist, in the keys' order: consistent reads
        (an index entry may be older than its item; the item is the truth)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {self._name: {"Keys": keys[start:start + BATCH_GET_KEYS], "ConsistentRead": True}}
            for answer in self._until_processed(self._client.batch_get_item, request, "UnprocessedKeys"):
                found.update((item["pk"]["S"], item) for item in answer["Responses"].get(self._name, []))
        return [found[key["pk"]["S"]] for key in keys if key["pk"]["S"] in found]

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
        guard = {"pk": f"arn#{model.config.model_arn}", "sk": "arn", "name": model.name}
        try:
            self._client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._name, "Item": self._item(model),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self._name, "Item": _typed_item(guard),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ModelAlreadyExists("name", model.name) from None
            guard = self._get(self._arn_key(model.config.model_arn))
            raise ModelAlreadyExists("model_arn", model.config.model_arn,
                                     guard["name"]["S"] if guard else None) from None
        return model

    def _get(self, key: dict[str, Any]) -> Optional[dict[str, Any]]:
        return self._client.get_item(TableName=self._name, Key=key, ConsistentRead=True).get("Item")

    def find(self, key: str) -> Optional[Model]:
        name = key
        if key.startswith("arn:"):
            guard = self._get(self._arn_key(key))
            if guard is None:
                return None
            name = guard["name"]["S"]
        item = self._get(self._model_key(name))
        return self._load(item) if item else None

    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        kwargs: dict[str, Any] = {
            "TableName": self._name,
            "IndexName": MODELS_INDEX,
            "KeyConditionExpression": "entity = :e",
            "ExpressionAttributeValues": {":e": {"S": "model"}},
            "Limit": limit,
        }
        if token:
            name = decode_token(token)
            kwargs["ExclusiveStartKey"] = {**self._model_key(name), **_typed_item({"entity": "model", "name": name})}
        page = self._client.query(**kwargs)
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", [])]
        models = [self._load(item) for item in self._get_many(keys)]
        last = page.get("LastEvaluatedKey")
        return models, encode_token(last["name"]["S"]) if last and keys else None

    def find_many(self, names: Sequence[str]) -> dict[str, Model]:
        return {model.name: model for model in map(self._load, self._get_many([self._model_key(n) for n in names]))}

    def fleet(self) -> Iterator[tuple[str, Optional[dict[str, Any]], Callable[[], Optional[Model]]]]:
        """Every model's glance: the names from the ``model_names`` index in one paged pass,
        then the glances alone, a hundred a request, several requests at once; a model with
        no glance kept (written by an older version, or with no glance hook) is read whole."""
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in self._query(
            IndexName=MODELS_INDEX, KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": "model"}})]
        chunks = [keys[i:i + FLEET_PAGE] for i in range(0, len(keys), FLEET_PAGE)]
        with ThreadPoolExecutor(FLEET_READERS) as pool:
            for found in pool.map(self._glance_page, chunks):
                yield from found

    def _glance_page(self, keys: list[dict[str, Any]]) -> list[tuple[str, Optional[dict[str, Any]],
                                                               Callable[[], Optional[Model]]]]:
        request = {self._name: {"Keys": keys, "ProjectionExpression": "#pk, #glance",
                                "ExpressionAttributeNames": {"#pk": "pk", "#glance": "glance"}}}
        glances: dict[str, Optional[str]] = {}
        for answer in self._until_processed(self._client.batch_get_item, request, "UnprocessedKeys"):
            glances.update((item["pk"]["S"], item.get("glance", {}).get("S"))
                           for item in answer["Responses"].get(self._name, []))
        whole = {item["pk"]["S"]: self._load(item)
                 for item in self._get_many([key for key in keys if glances.get(key["pk"]["S"], "") is None])}
        found = []
        for key in keys:
            pk = key["pk"]["S"]
            if pk not in glances:
                continue  # deleted since the index was read
            text, model = glances[pk], whole.get(pk)
            found.append((pk[len("model#"):], json.loads(text) if text else None, (lambda m=model: m)))
        return found

    def save(self, model: Model, expected_version: int) -> Model:
        model = _next_version(model, expected_version)
        try:
            self._client.put_item(
                TableName=self._name,
                Item=self._item(model),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": _typed(expected_version)},
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
        # What is left under the model's key once its item is gone: events, warm spans.
        history = list(self._query(KeyConditionExpression="pk = :pk",
                                   ExpressionAttributeValues=_typed_item({":pk": f"model#{name}"}),
                                   ProjectionExpression="pk, sk"))
        try:
            for start in range(0, len(history), BATCH_WRITE_ITEMS):
                deletes = [{"DeleteRequest": {"Key": key}} for key in history[start:start + BATCH_WRITE_ITEMS]]
                self._until_processed(self._client.batch_write_item, {self._name: deletes}, "UnprocessedItems")
        except StoreError:
            pass  # the model is gone; what is left behind expires through its TTL

    def _due_keys(self, partition: str, until: str) -> list[dict[str, Any]]:
        return list(self._query(IndexName=DUE_INDEX,
                                KeyConditionExpression="due_pk = :d AND next_due_at <= :until",
                                ExpressionAttributeValues=_typed_item({":d": partition, ":until": until})))

    def due(self, until: datetime) -> Iterator[Model]:
        """Reads every shard at once, merges them in time order, then reads the items
        themselves a hundred at a time, several requests at once, yielding the first
        hundred while the rest are read."""
        limit = due_key(until)
        with ThreadPoolExecutor(DUE_SHARDS) as pool:
            shards = pool.map(lambda partition: self._due_keys(partition, limit), DUE_PARTITIONS)
            entries = list(heapq.merge(*shards, key=lambda entry: entry["next_due_at"]["S"]))
            chunks = [[{"pk": e["pk"], "sk": e["sk"]} for e in entries[i:i + BATCH_GET_KEYS]]
                      for i in range(0, len(entries), BATCH_GET_KEYS)]
            for items in pool.map(self._get_many, chunks):
                for item in items:
                    # Still due: the index lags its items a little.
                    if "next_due_at" in item and item["next_due_at"]["S"] <= limit:
                        yield self._load(item)

    def earliest_due(self) -> Optional[datetime]:
        firsts = [self._client.query(TableName=self._name, IndexName=DUE_INDEX,
                                     KeyConditionExpression="due_pk = :d",
                                     ExpressionAttributeValues={":d": {"S": partition}}, Limit=1).get("Items", [])
                  for partition in DUE_PARTITIONS]
        keys = [items[0]["next_due_at"]["S"] for items in firsts if items]
        return parse_iso(min(keys)) if keys else None

    def add_event(self, name: str, event: Event, ttl_days: int, incarnation: Optional[str] = None) -> None:
        expires = event.at + timedelta(days=ttl_days)
        item: dict[str, Any] = {
            "pk": f"model#{name}",
            # Events of one instant keep the order they were written in.
            "sk": f"event#{due_key(event.at)}#{time.time_ns():020d}{secrets.token_hex(2)}",
            "expires_at": int(expires.timestamp()),
            "event": event.to_item(),
        }
        if incarnation is not None:
            item["incarnation"] = incarnation
        self._client.put_item(TableName=self._name, Item=_typed_item(item))

    def events(self, name: str, limit: int = 50, incarnation: Optional[str] = None) -> list[dict[str, Any]]:
        found = self._query(KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
                            ExpressionAttributeValues=_typed_item({":pk": f"model#{name}", ":ev": "event#"}),
                            ScanIndexForward=False, Limit=limit)
        return [_plain(item["event"]) for item in itertools.islice(_owned(found, incarnation), limit)]

    # -- the fleet's load times: one small item per group, updated with ADD ---------------
    FLEET_PK = "fleet#loads"

    def add_fleet_load(self, groups: Sequence[str], log_seconds: float) -> None:
        for group in groups:
            self._client.update_item(
                TableName=self._name,
                Key=_typed_item({"pk": self.FLEET_PK, "sk": group}),
                UpdateExpression="ADD #c :one, #t :y, #s :yy",
                ExpressionAttributeNames={"#c": "count", "#t": "total", "#s": "squares"},
                ExpressionAttributeValues=_typed_item({":one": 1, ":y": log_seconds,
                                                       ":yy": log_seconds * log_seconds}),
            )

    def fleet_loads(self) -> dict[str, FleetLoads]:
        page = self._client.query(TableName=self._name, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues=_typed_item({":pk": self.FLEET_PK}))
        loads = {}
        for item in page.get("Items", []):
            plain = {name: _plain(value) for name, value in item.items()}
            if "count" not in plain:  # an item no load was added to yet (moto shows one mid-update)
                continue
            loads[plain["sk"]] = FleetLoads(int(plain["count"]), float(plain["total"]), float(plain["squares"]))
        return loads

    # -- each region's shortest idle gap found cold: one small item per region ----------
    RELEASE_PK = "fleet#release"

    def add_region_release(self, region: str, gap_minutes: float) -> None:
        try:
            self._client.update_item(
                TableName=self._name,
                Key=_typed_item({"pk": self.RELEASE_PK, "sk": region}),
                UpdateExpression="SET #m = :m",
                ConditionExpression="attribute_not_exists(#m) OR #m > :m",
                ExpressionAttributeNames={"#m": "minutes"},
                ExpressionAttributeValues=_typed_item({":m": gap_minutes}),
            )
        except ClientError as err:
            if not _conditional_failed(err):
                raise  # a shorter gap is already kept otherwise

    def region_releases(self) -> dict[str, float]:
        page = self._client.query(TableName=self._name, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues=_typed_item({":pk": self.RELEASE_PK}))
        return {_plain(item["sk"]): float(_plain(item["minutes"])) for item in page.get("Items", [])}

    def events_since(self, name: str, since: datetime, limit: int = 500,
                     incarnation: Optional[str] = None) -> list[dict[str, Any]]:
        found = self._query(
            # "~" sorts after every character of an event's key.
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues=_typed_item({":pk": f"model#{name}", ":first": f"event#{due_key(since)}",
                                                   ":last": "event#~"}),
            ScanIndexForward=False, Limit=limit)
        return [_plain(item["event"]) for item in itertools.islice(_owned(found, incarnation), limit)]

    def put_warm_span(self, name: str, span: WarmSpan, incarnation: Optional[str] = None) -> None:
        item: dict[str, Any] = {
            # A late writer's span of a deleted model must not take the key of a new one's.
            "pk": f"model#{name}", "sk": f"span#{due_key(span.start)}" + (f"#{incarnation}" if incarnation else ""),
            "expires_at": int((span.end + timedelta(days=WARM_SPAN_DAYS)).timestamp()),
            "span": span.to_item(),
        }
        if incarnation is not None:
            item["incarnation"] = incarnation
        self._client.put_item(TableName=self._name, Item=_typed_item(item))

    def warm_spans(self, name: str, start: datetime, end: datetime,
                   incarnation: Optional[str] = None) -> list[WarmSpan]:
        # Latest first, back to the first span that ended before ``start`` (a model's
        # spans follow one another: a copy is held until it is released).
        found: list[WarmSpan] = []
        for item in self._query(KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                                ExpressionAttributeValues=_typed_item({":pk": f"model#{name}", ":first": "span#",
                                                                       ":last": f"span#{due_key(end)}"}),
                                ScanIndexForward=False):
            if not _own(_incarnation_of(item), incarnation):
                continue
            span = WarmSpan.from_item(_plain(item["span"]))
            if span.end <= start:
                break
            if span.start < end:
                found.append(span)
        return found[::-1]

    def error_count(self) -> int:
        kwargs: dict[str, Any] = {
            "TableName": self._name, "IndexName": ERRORS_INDEX, "Select": "COUNT",
            "KeyConditionExpression": "error_pk = :e", "ExpressionAttributeValues": {":e": {"S": ERROR_PARTITION}},
        }
        count = 0
        while True:
            page = self._client.query(**kwargs)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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
        {"AttributeName": "error_pk", "AttributeType": "S"},
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
        {"IndexName": ERRORS_INDEX,
         "KeySchema": [{"AttributeName": "error_pk", "KeyType": "HASH"},
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
