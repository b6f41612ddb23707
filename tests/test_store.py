"""One contract for every store: the DynamoDB one (on moto's server) and the in-memory one."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import boto3
import pytest

from bench.capacity import CapacityMeter, fullest_model, index_entry, item_size
from chalicelib.records import Event, Model, ModelConfig, ModelState, Pending, WarmSpan, WindowRecord
from chalicelib.store import (
    DUE_INDEX,
    DUE_PARTITIONS,
    MODELS_INDEX,
    TABLE_KEYS,
    BadPageToken,
    DynamoStore,
    MemoryStore,
    ModelAlreadyExists,
    ModelNotFound,
    StateConflict,
    due_partition,
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
    return DynamoStore(request.getfixturevalue("table").name)


def test_create_then_find_by_name_and_by_arn(store):
    created = store.create(model("alpha"))
    assert created.state.version == 1
    by_name = store.get("alpha")
    by_arn = store.get(created.config.model_arn)
    assert by_name == by_arn == created
    assert by_name.config.windows == [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]


def test_a_models_window_readiness_records_come_back_as_saved(store):
    created = store.create(model("alpha"))
    records = tuple(WindowRecord(T0 + timedelta(days=i, hours=1), T0 + timedelta(days=i, hours=10), i % 2 == 0,
                                 0.0 if i % 2 == 0 else (None if i == 3 else 612.5), 540.0 - i * 0.125, i, 1)
                    for i in range(5))
    saved = store.save(replace(created, state=replace(created.state, readiness=records,
                                                       readiness_until=records[-1].window_close)), 1)
    found = store.get("alpha")
    assert found == saved and found.state.readiness == records
    assert [r.to_view()["late_seconds"] for r in found.state.readiness] == [0.0, 612.5, 0.0, None, 0.0]


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


def test_everything_a_model_may_hold_round_trips(store):
    fullest = fullest_model()
    body = {"whole": 12345678901234567890123456789012345678, "tiny": 1e-130, "tenth": 0.1, "negative": -3,
            "yes": True, "nothing": None, "nested": [[{"é": "ü ✓"}], []], "empty": {}, "float_whole": 2.0}
    model = replace(fullest, config=replace(fullest.config, request_body=body))
    created = store.create(model)
    assert store.get(model.name) == created
    assert created.config.request_body == body and created.state.leases == fullest.state.leases


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
    store = DynamoStore(table.name)
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
def test_the_fleets_cold_starts_add_up_per_group(store):
    import math

    assert store.fleet_loads() == {}
    for seconds in (60.0, 90.0, 120.0):
        store.add_fleet_load(["all", "cmu4"], math.log(seconds))
    store.add_fleet_load(["all"], math.log(300.0))
    loads = store.fleet_loads()
    assert {group: totals.count for group, totals in loads.items()} == {"all": 4, "cmu4": 3}
    logs = [math.log(s) for s in (60.0, 90.0, 120.0)]
    assert loads["cmu4"].total == pytest.approx(sum(logs))
    assert loads["cmu4"].squares == pytest.approx(sum(y * y for y in logs))
    # Not models: they are not listed, counted as due, or in the way of a model's name.
    assert store.list(10)[0] == [] and store.earliest_due() is None


def test_a_state_with_bounded_cold_starts_and_a_prior_round_trips(store):
    from chalicelib.leads import Prior

    state = ModelState(cold_starts=(61.5,), cold_start_bounds=((0.0, 331.0), (20.0, 60.0)), cold_start_count=3,
                       lead_prior=Prior(4.5, 0.45, 10.0, "fleet cmu4: 12 cold starts"),
                       ready_check_at=T0 + timedelta(minutes=56))
    created = store.create(replace(model("bounded"), state=state))
    assert store.get("bounded").state == replace(state, version=created.state.version)


def test_due_merges_every_shard_in_time_order(store):
    # Forty models whose due times run against their names, so that each shard's own
    # order says nothing about the merged one.
    for i in range(40):
        store.create(model(f"m{i:02d}", f"{i:012d}", due=T0 + timedelta(seconds=40 - i)))
    store.create(model("later", "later0000000", due=T0 + timedelta(minutes=5)))
    due = list(store.due(T0 + timedelta(minutes=1)))
    assert [m.name for m in due] == [f"m{i:02d}" for i in reversed(range(40))]
    assert [m.state.next_due_at for m in due] == sorted(m.state.next_due_at for m in due)


def raw_items(table) -> list[dict]:
    return [i for i in table.scan()["Items"] if i["sk"] == "model"]


def test_due_models_are_spread_over_every_shard(table):
    store = DynamoStore(table.name)
    for i in range(40):
        store.create(model(f"m{i:02d}", f"{i:012d}", due=T0))
    partitions = {item["due_pk"] for item in raw_items(table)}
    assert partitions == set(DUE_PARTITIONS) and len(partitions) == 8


def test_a_model_written_before_the_sharding_is_found_and_moves_to_its_shard(table):
    store = DynamoStore(table.name)
    created = store.create(model("alpha", due=T0))
    assert due_partition("alpha") != "due"
    # As the single-partition layout wrote it: every due model under "due".
    table.update_item(Key={"pk": "model#alpha", "sk": "model"}, UpdateExpression="SET due_pk = :d",
                      ExpressionAttributeValues={":d": "due"})
    assert [m.name for m in store.due(T0)] == ["alpha"]
    store.save(replace(created, state=replace(created.state, next_due_at=T0 + timedelta(seconds=1))), 1)
    assert raw_items(table)[0]["due_pk"] == due_partition("alpha")
    assert [m.name for m in store.due(T0 + timedelta(seconds=1))] == ["alpha"]


def test_a_model_item_written_with_maps_still_loads(table):
    store = DynamoStore(table.name)
    fullest = fullest_model()
    created = store.create(fullest)
    # As items were written before config and state became JSON text: maps.
    as_maps = json.loads(json.dumps({":c": created.config.to_item(), ":s": created.state.to_item()}),
                         parse_float=Decimal)
    table.update_item(Key={"pk": f"model#{created.name}", "sk": "model"}, UpdateExpression="SET #c = :c, #s = :s",
                      ExpressionAttributeNames={"#c": "config", "#s": "state"}, ExpressionAttributeValues=as_maps)
    assert isinstance(raw_items(table)[0]["state"], dict)
    assert store.get(created.name) == created
    assert [m.name for m in store.due(created.state.next_due_at)] == [created.name]


def test_every_index_write_of_the_fullest_model_costs_one_write_unit(table):
    """Indexes keep keys only: however much a model holds (its item here is over 14 KB, so
    projecting it all would cost 15 units in each index, every save), an index entry stays
    under 1 KB, and a save that changes only state leaves the names index alone."""
    client = boto3.client("dynamodb")
    store = DynamoStore(table.name, client)
    fullest = fullest_model()
    item = store._model_item(fullest)
    assert item_size(item) > 14 * 1024
    entries = {i["IndexName"]: index_entry(item, i) for i in TABLE_KEYS["GlobalSecondaryIndexes"]}
    assert all(entry is not None and item_size(entry) <= 1024 for entry in entries.values()), entries

    meter = CapacityMeter(client.meta.events)
    created = store.create(fullest)
    store.find(created.name)  # what the meter compares the next write with
    moved = replace(created.state, next_due_at=created.state.next_due_at + timedelta(minutes=1))
    saved = store.save(replace(created, state=moved), created.state.version)
    # The due entry moved (the old one out, the new one in); the names entry did not.
    assert dict(meter.usage.index_write_units) == {DUE_INDEX: 2}
    assert meter.usage.largest_index_write <= 1024
    assert meter.usage.table_write_units == (item_size(item) + 1023) // 1024
    store.save(replace(saved, state=replace(saved.state, cold_starts=(1.0,))), saved.state.version)
    assert dict(meter.usage.index_write_units) == {DUE_INDEX: 2}
    assert MODELS_INDEX not in meter.usage.index_write_units


def test_a_deleted_models_late_writes_are_not_the_history_of_its_successor(store):
    # A request or a call still running when the model was deleted writes after the delete,
    # as the registration it read: the model registered under the name again never reads it.
    first = store.create(model("alpha"))
    store.delete("alpha")
    second = store.create(replace(model("alpha"), config=replace(model("alpha").config,
                                                                   created_at=T0 + timedelta(seconds=1))))
    assert first.incarnation != second.incarnation
    store.add_event("alpha", Event(T0, "call", {"outcome": "ready"}), 30, first.incarnation)
    store.put_warm_span("alpha", WarmSpan(T0, T0 + timedelta(minutes=15)), first.incarnation)
    store.add_event("alpha", Event(T0 + timedelta(seconds=1), "registered"), 30, second.incarnation)
    assert [e["kind"] for e in store.events("alpha", incarnation=second.incarnation)] == ["registered"]
    assert [e["kind"] for e in store.events_since("alpha", T0, incarnation=second.incarnation)] == ["registered"]
    assert store.warm_spans("alpha", T0, T0 + timedelta(hours=1), second.incarnation) == []
    # Each registration's own, and what was written before incarnations were, read as before.
    store.put_warm_span("alpha", WarmSpan(T0, T0 + timedelta(minutes=20)), second.incarnation)
    store.add_event("alpha", Event(T0 + timedelta(seconds=2), "updated"), 30)
    assert [e["kind"] for e in store.events("alpha", incarnation=second.incarnation)] == ["updated", "registered"]
    assert store.warm_spans("alpha", T0, T0 + timedelta(hours=1), second.incarnation) == [
        WarmSpan(T0, T0 + timedelta(minutes=20))]
    assert [e["kind"] for e in store.events("alpha", incarnation=first.incarnation)] == ["updated", "call"]


def test_a_fleet_item_no_load_was_added_to_yet_is_no_group(table):
    # moto's server can show an item mid-update (its key before the ADD); a reader must
    # not fail a registration on it.
    from chalicelib.store import DynamoStore

    store = DynamoStore(table.name)
    store._client.put_item(TableName=table.name, Item={"pk": {"S": DynamoStore.FLEET_PK}, "sk": {"S": "cmu9"}})
    store.add_fleet_load(["all"], 4.5)
    assert set(store.fleet_loads()) == {"all"}
