"""Persistence: models (config + live state in one item), the ARN guard, and events.

One DynamoDB table, single-table layout:

=====================  ===============  ==============================================
pk                     sk               what
=====================  ===============  ==============================================
``model#<name>``       ``model``        config map, state map, ``version``; ``entity``
                                        and ``name`` feed the ``models`` index;
                                        ``due_pk`` and ``next_due_at`` (only while the
                                        model has something due) feed the ``due`` index
``arn#<model arn>``    ``arn``          the name registered for that ARN (uniqueness)
``model#<name>``       ``event#<at>#…`` one event, expiring through the ``expires_at`` TTL
``model#<name>``       ``span#<start>`` one warm span (a copy keepwarm held), expiring too
=====================  ===============  ==============================================

Every write of a model item is conditional on its ``version``, so a late or duplicate
writer fails with :class:`StateConflict` instead of moving a model backwards. The ``due``
index is sparse: a paused model has no ``due_pk`` and costs the tick nothing. So is the
``errors`` index: only a model in status ``error`` has an ``error_pk``, so counting them
(every tick, for the alarm) reads only those. Its one partition key is written only when
a model enters, stays in or leaves ``error``, far below a partition's write rate.
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator, Optional

from botocore.exceptions import ClientError

from chalicelib.records import Event, Model, ModelConfig, ModelState, WarmSpan, parse_iso, require_aware


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


DUE_INDEX = "due"
MODELS_INDEX = "models"
ERRORS_INDEX = "errors"
DUE_PARTITION = "due"
ERROR_PARTITION = "error"
# Warm spans are kept this long: a year of months to compare, as a bill is read.
WARM_SPAN_DAYS = 400


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

    @abstractmethod
    def events_since(self, name: str, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """The model's events at or after ``since``, newest first, at most ``limit``."""

    @abstractmethod
    def put_warm_span(self, name: str, span: WarmSpan) -> None:
        """Record a warm span, or move the end of the one that starts at the same instant
        (each success of a held copy takes its assumed release further)."""

    @abstractmethod
    def warm_spans(self, name: str, start: datetime, end: datetime) -> list[WarmSpan]:
        """The model's warm spans overlapping [start, end), earliest first."""

    @abstractmethod
    def error_count(self) -> int:
        """How many models are in status ``error`` (read without reading every model)."""


def _next_version(model: Model, expected_version: int) -> Model:
    return replace(model, state=replace(model.state, version=expected_version + 1))


class MemoryStore(Store):
    """In-process store with the same semantics, for unit tests and simulations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, Any]] = {}
        self._arns: dict[str, str] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._spans: dict[str, dict[datetime, WarmSpan]] = {}
        self._errors: set[str] = set()
        # name -> due key, for the models that have something due: the DynamoDB store's
        # sparse index, so that due() reads only those (simulations tick every minute).
        self._due: dict[str, str] = {}

    def _put(self, model: Model) -> None:
        # Kept as JSON text, so callers never share mutable state with the store.
        self._models[model.name] = {
            "version": model.state.version, "model_arn": model.config.model_arn,
            "json": json.dumps({"config": model.config.to_item(), "state": model.state.to_item()}),
        }
        if model.state.next_due_at is None:
            self._due.pop(model.name, None)
        else:
            self._due[model.name] = due_key(model.state.next_due_at)
        if model.state.status == "error":
            self._errors.add(model.name)
        else:
            self._errors.discard(model.name)

    @staticmethod
    def _load(item: dict[str, Any]) -> Model:
        stored = json.loads(item["json"])
        return Model(ModelConfig.from_item(stored["config"]), ModelState.from_item(stored["state"]))

    def create(self, model: Model) -> Model:
        with self._lock:
            if model.name in self._models:
                raise ModelAlreadyExists("name", model.name)
            if model.config.model_arn in self._arns:
                raise ModelAlreadyExists("model_arn", model.config.model_arn)
            model = _next_version(model, 0)
            self._put(model)
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
            if item is None or item["version"] != expected_version:
                raise StateConflict(f"{model.name}: version is not {expected_version}")
            model = _next_version(model, expected_version)
            self._put(model)
            return model

    def delete(self, name: str) -> None:
        with self._lock:
            item = self._models.pop(name, None)
            if item is None:
                raise ModelNotFound(name)
            self._arns.pop(item["model_arn"], None)
            self._events.pop(name, None)
            self._spans.pop(name, None)
            self._due.pop(name, None)
            self._errors.discard(name)

    def due(self, until: datetime) -> Iterator[Model]:
        limit = due_key(until)
        with self._lock:
            rows = sorted((key, name) for name, key in self._due.items() if key <= limit)
            return iter([self._load(self._models[name]) for _, name in rows])

    def earliest_due(self) -> Optional[datetime]:
        with self._lock:
            return parse_iso(min(self._due.values())) if self._due else None

    def add_event(self, name: str, event: Event, ttl_days: int) -> None:
        with self._lock:
            self._events.setdefault(name, []).append(json.loads(json.dumps(event.to_item())))

    def events(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(reversed(self._events.get(name, ())))
        # Stable: events of one instant stay newest first.
        rows.sort(key=lambda e: due_key(parse_iso(e["at"])), reverse=True)
        return rows[:limit]

    def events_since(self, name: str, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        first = due_key(since)
        with self._lock:
            count = len(self._events.get(name, ()))
        return [e for e in self.events(name, count) if due_key(parse_iso(e["at"])) >= first][:limit]

    def put_warm_span(self, name: str, span: WarmSpan) -> None:
        with self._lock:
            self._spans.setdefault(name, {})[span.start] = span

    def warm_spans(self, name: str, start: datetime, end: datetime) -> list[WarmSpan]:
        with self._lock:
            spans = list(self._spans.get(name, {}).values())
        return sorted((s for s in spans if s.start < end and s.end > start), key=lambda s: s.start)

    def error_count(self) -> int:
        with self._lock:
            return len(self._errors)


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
        # The resource's own client: it takes and returns plain Python values, not
        # DynamoDB's typed JSON.
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
            item["due_pk"] = DUE_PARTITION
            item["next_due_at"] = due_key(model.state.next_due_at)
        if model.state.status == "error":
            item["error_pk"] = ERROR_PARTITION
        return _to_dynamo(item)

    @staticmethod
    def _load(item: dict[str, Any]) -> Model:
        item = _from_dynamo(item)
        return Model(ModelConfig.from_item(item["config"]), ModelState.from_item(item["state"]))

    # -- Store -------------------------------------------------------------------
    def create(self, model: Model) -> Model:
        model = _next_version(model, 0)
        try:
            self._client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table.name, "Item": self._model_item(model),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self._table.name,
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

    def find(self, key: str) -> Optional[Model]:
        name = key
        if key.startswith("arn:"):
            guard = self._table.get_item(Key=self._arn_key(key), ConsistentRead=True).get("Item")
            if guard is None:
                return None
            name = guard["name"]
        item = self._table.get_item(Key=self._model_key(name), ConsistentRead=True).get("Item")
        return self._load(item) if item else None

    def list(self, limit: int, token: Optional[str] = None) -> tuple[list[Model], Optional[str]]:
        kwargs: dict[str, Any] = {
            "IndexName": MODELS_INDEX,
            "KeyConditionExpression": "entity = :e",
            "ExpressionAttributeValues": {":e": "model"},
            "Limit": limit,
        }
        if token:
            name = decode_token(token)
            kwargs["ExclusiveStartKey"] = {**self._model_key(name), "entity": "model", "name": name}
        page = self._table.query(**kwargs)
        models = [self._load(item) for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return models, encode_token(last["name"]) if last and models else None

    def save(self, model: Model, expected_version: int) -> Model:
        model = _next_version(model, expected_version)
        try:
            self._table.put_item(
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
                {"Delete": {"TableName": self._table.name,
                            "Key": self._model_key(name),
                            "ConditionExpression": "attribute_exists(pk)"}},
                {"Delete": {"TableName": self._table.name,
                            "Key": self._arn_key(model.config.model_arn)}},
            ])
        except ClientError as err:
            if _conditional_failed(err):
                raise ModelNotFound(name) from None
            raise
        with self._table.batch_writer() as batch:
            for key in self._history_keys(name):
                batch.delete_item(Key=key)

    def _history_keys(self, name: str) -> Iterator[dict[str, str]]:
        """What is left under the model's key once its item is gone: events, warm spans."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"model#{name}"},
            "ProjectionExpression": "pk, sk",
        }
        while True:
            page = self._table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def due(self, until: datetime) -> Iterator[Model]:
        kwargs: dict[str, Any] = {
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_pk = :d AND next_due_at <= :until",
            "ExpressionAttributeValues": {":d": DUE_PARTITION, ":until": due_key(until)},
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                yield self._load(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def earliest_due(self) -> Optional[datetime]:
        page = self._table.query(IndexName=DUE_INDEX, KeyConditionExpression="due_pk = :d",
                                 ExpressionAttributeValues={":d": DUE_PARTITION}, Limit=1,
                                 ProjectionExpression="next_due_at")
        items = page.get("Items", [])
        return parse_iso(items[0]["next_due_at"]) if items else None

    def add_event(self, name: str, event: Event, ttl_days: int) -> None:
        expires = event.at + timedelta(days=ttl_days)
        self._table.put_item(Item=_to_dynamo({
            "pk": f"model#{name}",
            # Events of one instant keep the order they were written in.
            "sk": f"event#{due_key(event.at)}#{time.time_ns():020d}{secrets.token_hex(2)}",
            "expires_at": int(expires.timestamp()),
            "event": event.to_item(),
        }))

    def events(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        page = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
            ExpressionAttributeValues={":pk": f"model#{name}", ":ev": "event#"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_from_dynamo(item["event"]) for item in page.get("Items", [])]

    def events_since(self, name: str, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            # "~" sorts after every character of an event's key.
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {":pk": f"model#{name}", ":first": f"event#{due_key(since)}",
                                          ":last": "event#~"},
            "ScanIndexForward": False,
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = self._table.query(**kwargs, Limit=limit - len(found))
            found += [_from_dynamo(item["event"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def put_warm_span(self, name: str, span: WarmSpan) -> None:
        self._table.put_item(Item={
            "pk": f"model#{name}", "sk": f"span#{due_key(span.start)}",
            "expires_at": int((span.end + timedelta(days=WARM_SPAN_DAYS)).timestamp()),
            "span": span.to_item(),
        })

    def warm_spans(self, name: str, start: datetime, end: datetime) -> list[WarmSpan]:
        # Latest first, back to the first span that ended before ``start``.
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {":pk": f"model#{name}", ":first": "span#",
                                          ":last": f"span#{due_key(end)}"},
            "ScanIndexForward": False,
        }
        found: list[WarmSpan] = []
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                span = WarmSpan.from_item(item["span"])
                if span.end <= start:
                    return found[::-1]
                if span.start < end:
                    found.append(span)
            if "LastEvaluatedKey" not in page:
                return found[::-1]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def error_count(self) -> int:
        kwargs: dict[str, Any] = {
            "IndexName": ERRORS_INDEX, "Select": "COUNT",
            "KeyConditionExpression": "error_pk = :e", "ExpressionAttributeValues": {":e": ERROR_PARTITION},
        }
        count = 0
        while True:
            page = self._table.query(**kwargs)
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
         "Projection": {"ProjectionType": "ALL"}},
        {"IndexName": MODELS_INDEX,
         "KeySchema": [{"AttributeName": "entity", "KeyType": "HASH"},
                       {"AttributeName": "name", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
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

