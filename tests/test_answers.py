"""Answers a user would read and act on: a change that touches only what it names, costs
and projections that follow one rule, previews that do not invent a close, a model's
history that is its own. Through Chalice's test client on moto's DynamoDB."""
from __future__ import annotations

from datetime import datetime, timezone

from conftest import ARN_LLAMA
from helpers import at, send

UTC = timezone.utc
LEAP_DAY = [{"warm": "0 9 29 2 *", "stop": "0 17 29 2 *"}]
OFFICE = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]
ALWAYS = [{"days": "MON-SUN", "start": "00:00", "stop": "24:00"}]


def test_a_stored_window_that_opens_no_more_can_still_be_paused_edited_and_applied(client, clock):
    clock.set(datetime(2027, 6, 1, tzinfo=UTC))
    body = {"model_arn": ARN_LLAMA, "name": "leap", "windows": LEAP_DAY}
    assert send(client, "POST", "/models", body).status_code == 201
    clock.set(datetime(2028, 3, 1, tzinfo=UTC))  # the last 29 February for four years is past
    paused = send(client, "PUT", "/models/leap", {"enabled": False})
    assert paused.status_code == 200, paused.body
    assert paused.json_body["enabled"] is False
    edited = send(client, "PUT", "/models/leap", {"keepalive_minutes": 10})
    assert edited.status_code == 200, edited.body
    # keepwarm apply checks every entry of a fleet file, schedule included, as a dry run.
    applied = send(client, "PUT", "/models/leap?dry_run=true",
                   {"model_arn": ARN_LLAMA, "windows": LEAP_DAY, "enabled": True})
    assert applied.status_code == 200, applied.body
    # A schedule the request does change is still checked against now.
    refused = send(client, "PUT", "/models/leap", {"windows": [{"warm": "0 9 29 2 *", "stop": "0 18 29 2 *"}]})
    assert refused.status_code == 400 and "never opens" in refused.json_body["Message"]
    moved = send(client, "PUT", "/models/leap", {"timezone": "Europe/Berlin"})
    assert moved.status_code == 400 and "never opens" in moved.json_body["Message"]


def test_a_request_that_ran_into_a_delete_leaves_nothing_in_the_next_models_history(client, clock, runtime,
                                                                                      monkeypatch):
    body = {"model_arn": ARN_LLAMA, "name": "llama", "windows": OFFICE, "custom_model_units": 1}
    assert send(client, "POST", "/models", body).status_code == 201
    add_event = runtime.store.add_event

    def deleted_first(name, event, *args):
        if event.kind == "updated":  # a DELETE that lands between the PUT's write and its event
            runtime.store.delete(name)
        add_event(name, event, *args)

    monkeypatch.setattr(runtime.store, "add_event", deleted_first)
    assert send(client, "PUT", "/models/llama", {"keepalive_minutes": 10}).status_code == 200
    monkeypatch.undo()
    clock.advance(1)
    assert send(client, "POST", "/models", body).status_code == 201
    events = client.http.get("/models/llama/events").json_body["events"]
    assert [e["kind"] for e in events] == ["registered"]


def test_a_paused_model_projects_nothing_more_wherever_its_cost_is_shown(client):
    body = {"model_arn": ARN_LLAMA, "name": "llama", "windows": OFFICE, "custom_model_units": 2, "enabled": False}
    assert send(client, "POST", "/models", body).status_code == 201
    cost = client.http.get("/models/llama/cost?days=30").json_body
    assert cost["paused"] is True and "paused" in cost["note"] and '"enabled": true' in cost["note"]
    assert (cost["windows"], cost["billed_minutes"], cost["cost"]) == (0, 0, 0.0)
    month = cost["month_to_date"]
    assert month["projected_minutes"] == month["billed_minutes"] == 0 and month["projected_cost"] == 0.0
    fleet = client.http.get("/fleet").json_body
    assert fleet["cost"]["projected"] == 0.0 and fleet["paused"] == 1
    # Resumed, it projects its windows again, and says nothing about pausing.
    send(client, "PUT", "/models/llama", {"enabled": True})
    cost = client.http.get("/models/llama/cost?days=30").json_body
    assert cost["paused"] is False and cost["note"] is None and cost["billed_minutes"] > 0
    assert cost["month_to_date"]["projected_minutes"] > 0


def test_an_always_open_preview_shows_no_close_it_does_not_know(client):
    assert send(client, "POST", "/models", {"model_arn": ARN_LLAMA, "name": "always",
                                            "windows": ALWAYS}).status_code == 201
    shown = client.http.get("/models/always/windows?from=2026-03-09T00:00:00Z&days=7").json_body
    assert shown["to"] == "2026-03-16T00:00:00Z"
    assert [w["close"] for w in shown["windows"]] == [None]
    assert shown["windows"][0]["still_open_at"] == shown["to"]
    # A window that does close within reach still shows its close.
    assert send(client, "POST", "/models", {"model_arn": ARN_LLAMA.replace("llama8b00001", "llama8b00002"),
                                            "name": "office", "windows": OFFICE}).status_code == 201
    office = client.http.get("/models/office/windows?from=2026-03-09T00:00:00Z&days=1").json_body["windows"]
    assert office == [{"open": "2026-03-09T09:00:00Z", "close": "2026-03-09T18:00:00Z"}]


def test_a_lease_on_a_model_in_error_promises_no_ready_time(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    simulator.set_faults(ARN_LLAMA, denied=True)
    assert send(client, "POST", "/models", {"model_arn": ARN_LLAMA, "name": "llama", "windows": OFFICE}).status_code == 201
    lease = send(client, "POST", "/models/llama/leases", {"minutes": 60}).json_body
    driver.run_until(at(8, 2))
    shown = client.http.get(f"/models/llama/leases/{lease['id']}").json_body
    assert shown["status"] == "error" and shown["error"].startswith("AccessDeniedException")
    assert shown["ready"] is False and shown["expected_ready_at"] is None
