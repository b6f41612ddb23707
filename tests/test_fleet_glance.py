"""The fleet view at scale: each write keeps the model's glance, and the fleet read from
glances says exactly what planning every model would, or plans the model when its glance
does not cover the moment asked about."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import boto3
import pytest
from helpers import at
from hypothesis import given, settings as hsettings, strategies as st

from chalicelib import fleet
from chalicelib.fleet import from_glance, glance, planned, read_fleet, summary
from chalicelib.inputs import new_config
from chalicelib.records import Lease, Model, ModelState, Override
from chalicelib.settings import Settings
from chalicelib.store import DynamoStore, MemoryStore

SETTINGS = Settings(table_name="t", queue_url="q")
NOW = at(10)  # Monday 10:00 UTC
SCHEDULES = [
    ("Europe/London", [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]),
    ("Asia/Tokyo", [{"start": "08:00", "stop": "08:20"}, {"start": "13:00", "stop": "13:45"}]),
    ("America/New_York", [{"days": "SAT", "start": "22:00", "stop": "02:00"}]),
    ("UTC", [{"start": f"{h:02d}:00", "stop": f"{h:02d}:10"} for h in range(0, 24, 2)]),
]


@st.composite
def models(draw) -> Model:
    zone, windows = draw(st.sampled_from(SCHEDULES))
    cmus = draw(st.sampled_from([None, 1, 4]))
    config = new_config({"model_arn": "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefabcdef",
                         "name": "m", "timezone": zone, "windows": windows, "enabled": draw(st.booleans()),
                         **({"custom_model_units": cmus} if cmus else {})}, NOW, SETTINGS)
    status = draw(st.sampled_from(["cold", "warm", "warming", "error"]))
    ago = timedelta(minutes=draw(st.integers(0, 60)))
    state = ModelState(status=status, last_success_at=NOW - ago if status == "warm" else None,
                       last_call_at=NOW - ago, warming_since=NOW - ago if status == "warming" else None,
                       cold_starts=tuple(draw(st.lists(st.floats(30, 400), max_size=5))))
    if status == "error" or draw(st.booleans()) and status == "warm":
        kind = "model_error" if status == "warm" else draw(st.sampled_from(["fatal", "transient"]))
        state = replace(state, error="SomeException: it failed", error_kind=kind, error_at=NOW - ago)
    if draw(st.booleans()):
        state = replace(state, leases=(Lease("l0123456789ab", NOW - ago, NOW + timedelta(minutes=draw(st.integers(1, 600))),
                                             "nightly-etl"),))
    if draw(st.booleans()):
        state = replace(state, override=Override(draw(st.sampled_from(["warm", "cold"])),
                                                 NOW + timedelta(hours=draw(st.integers(1, 50))), NOW - ago))
    return Model(config, state)


@hsettings(max_examples=60, deadline=None)
@given(models(), st.lists(st.integers(0, 9 * 24 * 60), min_size=1, max_size=6))
def test_a_glance_says_what_planning_says_for_as_long_as_it_answers(model, minutes_later):
    kept = glance(model, NOW, SETTINGS)
    assert from_glance("m", kept, NOW, SETTINGS) == planned(model, NOW, SETTINGS)  # it always covers its own instant
    for minutes in minutes_later:
        later = NOW + timedelta(minutes=minutes)
        shown = from_glance("m", kept, later, SETTINGS)
        assert shown is None or shown == planned(model, later, SETTINGS), later


def test_a_glance_taken_late_in_the_month_prices_the_next_one_too():
    model = Model(new_config({"model_arn": "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefabcdef",
                              "name": "m", "windows": SCHEDULES[0][1], "custom_model_units": 2}, NOW, SETTINGS),
                  ModelState())
    late = at(10, day=19)  # 28 March
    kept = glance(model, late, SETTINGS)
    april = at(10, day=23)  # 1 April: within the four windows it knows
    assert set(kept["months"]) == {"2026-03", "2026-04"}
    assert from_glance("m", kept, april, SETTINGS) == planned(model, april, SETTINGS)
    # The price is applied when read: an operator's new price shows at once.
    dearer = replace(SETTINGS, cmu_prices='{"us-west-2": 1.0}')
    assert from_glance("m", kept, april, dearer).month_cost == planned(model, april, dearer).month_cost


def test_the_next_glance_reuses_the_months_until_what_they_depend_on_changes(monkeypatch):
    model = Model(new_config({"model_arn": "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefabcdef",
                              "name": "m", "windows": SCHEDULES[0][1], "custom_model_units": 2}, NOW, SETTINGS),
                  ModelState(status="warm", last_success_at=NOW))
    first = glance(model, NOW, SETTINGS)
    planned_months = []
    real = fleet._month_minutes
    monkeypatch.setattr(fleet, "_month_minutes", lambda *a: planned_months.append(a[1]) or real(*a))
    again = glance(replace(model, state=replace(model.state, last_success_at=NOW + timedelta(minutes=14))),
                   NOW + timedelta(minutes=14), SETTINGS, first)
    assert planned_months == [] and again["months"] == first["months"]
    longer = replace(model, config=replace(model.config, windows=[{"start": "08:00", "stop": "20:00"}]))
    changed = glance(longer, NOW + timedelta(minutes=14), SETTINGS, first)
    assert len(planned_months) == 1 and changed["months"]["2026-03"] > first["months"]["2026-03"]


def fleet_of(store, n: int, hooked_from: int = 0):
    """``n`` models; those from ``hooked_from`` on written with their glance."""
    for i in range(n):
        store.glance = (lambda m, previous: glance(m, NOW, SETTINGS, previous)) if i >= hooked_from else None
        zone, windows = SCHEDULES[i % len(SCHEDULES)]
        config = new_config({"model_arn": f"arn:aws:bedrock:us-west-2:123456789012:imported-model/m{i:011d}",
                             "name": f"m-{i:03d}", "timezone": zone, "windows": windows,
                             "custom_model_units": 1 + i % 3, "enabled": i % 5 != 4}, NOW, SETTINGS)
        state = [ModelState(), ModelState(status="warm", last_success_at=NOW - timedelta(minutes=i % 20)),
                 ModelState(status="error", error=f"AccessDeniedException: no access to m-{i}", error_kind="fatal",
                            error_at=NOW - timedelta(hours=1))][i % 3]
        store.create(Model(config, state))
    return store


@pytest.mark.parametrize("store", ["memory", "dynamo"])
def test_the_fleet_read_from_glances_is_the_fleet_planned_and_plans_only_models_without_one(
        store, request, monkeypatch):
    if store == "dynamo":
        table = request.getfixturevalue("table")
        kept = DynamoStore(table.name, boto3.client("dynamodb"))
    else:
        kept = MemoryStore()
    fleet_of(kept, 12, hooked_from=4)  # the first four as an older version wrote them: no glance
    expected = [planned(model, NOW + timedelta(minutes=5), SETTINGS) for model in
                (kept.find(f"m-{i:03d}") for i in range(12))]
    replanned = []
    real = fleet.planned
    monkeypatch.setattr(fleet, "planned", lambda model, *a: replanned.append(model.name) or real(model, *a))
    read = read_fleet(kept, SETTINGS, NOW + timedelta(minutes=5))
    assert read == expected
    assert replanned == ["m-000", "m-001", "m-002", "m-003"]
    facts = summary(read, NOW)
    # m-010 was last called 15 minutes before: its copy is assumed released, so it shows cold.
    assert facts["counts"] == {"cold": 5, "warming": 0, "warm": 3, "error": 4} and facts["paused"] == 2


def test_the_benchmark_reads_glances_alone_for_fleet_and_reports_its_row(moto_url):
    import os

    from bench import fleet_view
    from conftest import unique

    name = unique("keepwarm-fleet")
    boto3_client = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-west-2")
    fleet_view.create_table(boto3_client, name)
    settings = replace(fleet_view.settings_for(name, "q", 45, 16), cmu_prices='{"us-west-2": 0.05718}')
    sizes = fleet_view.populate(moto_url, name, 30, settings)
    found = fleet_view.measure(moto_url, name, 30, os.getpid(), 0.0, settings)
    fleet_read = next(m for m in found if m.what == "/fleet")
    # The names in one Query, the glances in one BatchGetItem: no model read whole, none planned.
    assert fleet_read.calls == {"Query": 1, "BatchGetItem": 1}
    text = fleet_view.report(found, {30: 0.1}, sizes, ["--sizes", "30"], 1.0)
    assert "| `/fleet` | 30 |" in text and text.startswith("## The fleet view at scale")


def test_after_real_writes_the_fleet_route_plans_nothing_and_says_what_planning_says(
        runtime, client, driver, clock, monkeypatch):
    from helpers import register

    # As Runtime.from_env sets it, on the simulated clock.
    runtime.store.glance = lambda model, previous: glance(model, clock.now(), runtime.settings, previous)
    for i in range(3):
        register(client, model_arn=f"arn:aws:bedrock:us-west-2:123456789012:imported-model/gl{i:010d}",
                 name=f"g-{i}", custom_model_units=1,
                 windows=[{"start": (clock.now() + timedelta(minutes=10 * i + 5)).strftime("%H:%M"),
                           "stop": (clock.now() + timedelta(minutes=10 * i + 65)).strftime("%H:%M")}])
    driver.run_until(clock.now() + timedelta(minutes=25))  # the tick and worker claim, call and save
    expected = summary([planned(runtime.store.get(f"g-{i}"), clock.now(), runtime.settings) for i in range(3)],
                       clock.now())
    monkeypatch.setattr(fleet, "planned", lambda *a: pytest.fail("a model was planned: its glance was not kept"))
    assert client.http.get("/fleet").json_body == expected
    assert expected["counts"]["warm"] >= 2 and expected["cost"]["models_priced"] == 3


def test_the_fleets_readiness_is_summed_when_recorded_and_absent_otherwise():
    entry = planned(Model(new_config({"model_arn": "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefabcdef",
                                      "name": "m", "windows": SCHEDULES[0][1]}, NOW, SETTINGS), ModelState()),
                    NOW, SETTINGS)
    assert "readiness" not in summary([entry, replace(entry, name="n")], NOW)
    seen = [replace(entry, readiness={"openings": 5, "ready_at_open": 4}),
            replace(entry, name="n", readiness={"openings": 3, "ready_at_open": 3}), replace(entry, name="o")]
    assert summary(seen, NOW)["readiness"] == {"openings": 8, "ready_at_open": 7, "days": 7}
