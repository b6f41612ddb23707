"""One contract for every store: the DynamoDB one (on moto's server) and the in-memory one."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.records import Event, Model, ModelConfig, ModelState, Pending, WarmSpan
from chalicelib.store import (
    BadPageToken,
    DynamoStore,
    MemoryStore,
    ModelAlreadyExists,
    ModelNotFound,
    StateConflict,
)

UTC = timezone.utc
T0 = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


def model(name: str, model_id: str | None = None, due: datetime | None = None) -> Model:
    model_id = model_id or (name + "0" * 12)[:12]
    config = ModelConfig(
        name=name,
        model_arn=f"arn:aws:bedrock:us-west-2:123456789012:imported-model/{model_id}",
        timezone="Asia/Shanghai",
        windows=[{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}],
        created_at=T0, updated_at=T0,
    )
    return Model(config, ModelState(next_due_at=due))


@pytest.fixture(params=["dynamo", "memory"])
def store(request):
    if request.param == "memory":
        return MemoryStore()
    return DynamoStore(request.getfixturevalue("table"))


def test_create_then_find_by_name_and_by_arn(store):
    created = store.create(model("alpha"))
    assert created.state.version == 1
    by_name = store.get("alpha")
    by_arn = store.get(created.config.model_arn)
    assert by_name == by_arn == created
    assert by_name.config.windows == [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]


def test_name_and_arn_are_unique(store):
    store.create(model("alpha", "aaaaaaaaaaaa"))
    with pytest.raises(ModelAlreadyExists) as err:
        store.create(model("alpha", "bbbbbbbbbbbb"))
    assert err.value.field == "name"
    with pytest.raises(ModelAlreadyExists) as err:
        store.create(model("beta", "aaaaaaaaaaaa"))
    assert err.value.field == "model_arn"
    # The failed attempts left nothing behind.
    assert store.find("beta") is None
    assert store.find(model("x", "bbbbbbbbbbbb").config.model_arn) is None


def test_unknown_model(store):
    assert store.find("nope") is None
    assert store.find("arn:aws:bedrock:us-west-2:123456789012:imported-model/zzzzzzzzzzzz") is None
    with pytest.raises(ModelNotFound):
        store.get("nope")
    with pytest.raises(ModelNotFound):
        store.delete("nope")


def test_save_is_conditional_on_version(store):
    first = store.create(model("alpha"))
    warm = replace(first, state=replace(first.state, status="warm", last_success_at=T0,
                                        cold_starts=(61.5, 70.25), cold_start_count=2))
    saved = store.save(warm, expected_version=1)
    assert saved.state.version == 2
    # A writer that read version 1 has lost: its write must not land.
    stale = replace(first, state=replace(first.state, status="cold"))
    with pytest.raises(StateConflict):
        store.save(stale, expected_version=1)
    stored = store.get("alpha")
    assert stored.state.status == "warm"
    assert stored.state.cold_starts == (61.5, 70.25)
    assert stored.state.last_success_at == T0


def test_save_of_a_deleted_model_conflicts(store):
    created = store.create(model("alpha"))
    store.delete("alpha")
    with pytest.raises(StateConflict):
        store.save(created, expected_version=1)
    assert store.find("alpha") is None


def test_pending_claim_round_trips(store):
    created = store.create(model("alpha"))
    claim = Pending("abc123", "keepalive", T0 + timedelta(seconds=42), attempt=2)
    store.save(replace(created, state=replace(created.state, pending=claim)), 1)
    assert store.get("alpha").state.pending == claim


def test_due_returns_only_models_due_in_time_order(store):
    store.create(model("late", due=T0 + timedelta(minutes=30)))
    store.create(model("soon", due=T0 + timedelta(seconds=30)))
    store.create(model("now", due=T0))
    store.create(model("paused"))  # nothing due: not in the index at all
    # Sub-second instants must order correctly against whole seconds.
    store.create(model("halfsec", due=T0 + timedelta(milliseconds=500)))
    due = [m.name for m in store.due(T0 + timedelta(minutes=1))]
    assert due == ["now", "halfsec", "soon"]
    assert [m.name for m in store.due(T0)] == ["now"]
    assert [m.name for m in store.due(T0 - timedelta(milliseconds=1))] == []


def test_clearing_next_due_takes_a_model_off_the_index(store):
    created = store.create(model("alpha", due=T0))
    assert [m.name for m in store.due(T0 + timedelta(minutes=1))] == ["alpha"]
    store.save(replace(created, state=replace(created.state, next_due_at=None)), 1)
    assert list(store.due(T0 + timedelta(days=365))) == []


def test_list_pages_in_name_order(store):
    for i, name in enumerate(["delta", "alpha", "charlie", "bravo", "echo"]):
        store.create(model(name, f"{i:012d}"))
    page1, token = store.list(2)
    page2, token2 = store.list(2, token)
    page3, token3 = store.list(2, token2)
    assert [m.name for m in page1 + page2 + page3] == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert token3 is None
    with pytest.raises(BadPageToken):
        store.list(2, "%%%not-a-token")


def test_delete_removes_model_arn_and_events(store):
    created = store.create(model("alpha"))
    store.add_event("alpha", Event(T0, "registered"), ttl_days=30)
    store.delete("alpha")
    assert store.find("alpha") is None
    assert store.find(created.config.model_arn) is None
    # The name and ARN are free again, with no old events.
    store.create(model("alpha"))
    assert store.events("alpha") == []


def test_events_newest_first_with_limit(store):
    store.create(model("alpha"))
    for minute in range(5):
        store.add_event("alpha", Event(T0 + timedelta(minutes=minute), "call",
                                       {"outcome": "ready", "latency_ms": 12, "seconds": 1.5}),
                        ttl_days=30)
    events = store.events("alpha", limit=3)
    assert [e["at"] for e in events] == ["2026-03-09T08:04:00Z", "2026-03-09T08:03:00Z",
                                         "2026-03-09T08:02:00Z"]
    assert events[0] == {"at": "2026-03-09T08:04:00Z", "kind": "call", "outcome": "ready",
                         "latency_ms": 12, "seconds": 1.5}


def test_events_expire_through_ttl(table):
    store = DynamoStore(table)
    store.create(model("alpha"))
    store.add_event("alpha", Event(T0, "registered"), ttl_days=30)
    item = table.query(KeyConditionExpression="pk = :p AND begins_with(sk, :e)",
                       ExpressionAttributeValues={":p": "model#alpha", ":e": "event#"})["Items"][0]
    assert int(item["expires_at"]) == int((T0 + timedelta(days=30)).timestamp())
    ttl = table.meta.client.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_earliest_due(store):
    assert store.earliest_due() is None
    store.create(model("late", due=T0 + timedelta(hours=2)))
    store.create(model("soon", due=T0 + timedelta(seconds=90)))
    store.create(model("paused"))
    assert store.earliest_due() == T0 + timedelta(seconds=90)


def test_events_since_an_instant_newest_first(store):
    store.create(model("alpha"))
    for minute in range(5):
        store.add_event("alpha", Event(T0 + timedelta(minutes=minute), "call"), ttl_days=30)
    since = [e["at"] for e in store.events_since("alpha", T0 + timedelta(minutes=3))]
    assert since == ["2026-03-09T08:04:00Z", "2026-03-09T08:03:00Z"]
    assert [e["at"] for e in store.events_since("alpha", T0, limit=2)] == ["2026-03-09T08:04:00Z",
                                                                            "2026-03-09T08:03:00Z"]
    assert store.events_since("alpha", T0 + timedelta(hours=1)) == []


def test_warm_spans_are_kept_extended_and_found_by_the_range_they_overlap(store):
    store.create(model("alpha"))
    minutes = lambda n: T0 + timedelta(minutes=n)  # noqa: E731
    store.put_warm_span("alpha", WarmSpan(minutes(0), minutes(15)))
    store.put_warm_span("alpha", WarmSpan(minutes(0), minutes(29)))  # a keep-alive held the same copy
    store.put_warm_span("alpha", WarmSpan(minutes(120), minutes(135)))
    assert store.warm_spans("alpha", minutes(-60), minutes(600)) == [
        WarmSpan(minutes(0), minutes(29)), WarmSpan(minutes(120), minutes(135))]
    assert store.warm_spans("alpha", minutes(20), minutes(121)) == [
        WarmSpan(minutes(0), minutes(29)), WarmSpan(minutes(120), minutes(135))]
    assert store.warm_spans("alpha", minutes(29), minutes(120)) == []
    assert store.warm_spans("alpha", minutes(130), minutes(131)) == [WarmSpan(minutes(120), minutes(135))]
    store.delete("alpha")
    store.create(model("alpha"))
    assert store.warm_spans("alpha", minutes(-60), minutes(600)) == []


def test_models_in_error_are_counted(store):
    alpha = store.create(model("alpha", "aaaaaaaaaaaa"))
    beta = store.create(model("beta", "bbbbbbbbbbbb"))
    assert store.error_count() == 0
    failed = store.save(replace(alpha, state=replace(alpha.state, status="error", error="x")), 1)
    store.save(replace(beta, state=replace(beta.state, status="error", error="y")), 1)
    assert store.error_count() == 2
    store.save(replace(failed, state=replace(failed.state, status="cold", error=None)), 2)
    assert store.error_count() == 1
    store.delete("beta")
    assert store.error_count() == 0
