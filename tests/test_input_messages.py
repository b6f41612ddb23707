"""Input the API refuses or takes, and what its answer says: dates as people write them,
a lease without its length, an ARN of the wrong kind of model, an ARN that is taken, a
place given for a time zone. Through Chalice's test client on moto's DynamoDB."""
from __future__ import annotations

import pytest
from conftest import ARN_LLAMA, ARN_QWEN
from helpers import send

from chalicelib.schedule import Schedule, ScheduleError

OFFICE = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]


def register(client, **body):
    return send(client, "POST", "/models", {"model_arn": ARN_LLAMA, "name": "llama", "windows": OFFICE, **body})


@pytest.mark.parametrize("written", ["2026-W10-1", "2026W101", "20260309", "2026-068", "2026-3-9", "2026-03-09\n"])
def test_a_date_is_taken_only_as_yyyy_mm_dd(client, written):
    # fromisoformat reads "2026-W10-1" as Monday 2 March: it would have been kept as another day.
    response = register(client, exclude_dates=["2026-12-25", written])
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith("exclude_dates[1]: ") and "YYYY-MM-DD" in response.json_body["Message"]
    assert client.http.get("/models/llama").status_code == 404


@pytest.mark.parametrize("written", ["2026-W11-1T09:00:00Z", "20260316T090000Z", "2026-03-16T09Z"])
def test_an_instant_is_taken_only_in_the_extended_calendar_form(client, written):
    assert register(client).status_code == 201
    response = send(client, "PUT", "/models/llama/override", {"state": "warm", "until": written})
    assert response.status_code == 400 and response.json_body["Message"].startswith("until: "), response.body
    preview = client.http.get(f"/models/llama/windows?from={written}")
    assert preview.status_code == 400 and preview.json_body["Message"].startswith("from: ")
    assert client.http.get("/models/llama").json_body["state"]["override"] is None


def test_a_lease_without_minutes_says_they_are_required(client):
    assert register(client).status_code == 201
    for body in ({}, {"holder": "nightly-batch"}):
        response = send(client, "POST", "/models/llama/leases", body)
        assert response.status_code == 400
        message = response.json_body["Message"]
        assert message.startswith("minutes: is required") and "got 0" not in message
    assert client.http.get("/models/llama/leases").json_body["leases"] == []


def test_a_foundation_model_arn_is_refused_saying_keepwarm_keeps_imported_models_warm(client):
    arn = "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    response = send(client, "POST", "/models", {"model_arn": arn, "windows": OFFICE})
    assert response.status_code == 400
    message = response.json_body["Message"]
    assert "not 12 digits" not in message
    assert "foundation-model" in message and "imported models" in message
    assert "expected arn:aws[-cn|-us-gov]:bedrock:<region>:<12-digit account>:imported-model/" in message


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_conflict_on_an_arn_names_the_model_that_holds_it(client, dry_run):
    assert register(client, name="support-bot").status_code == 201
    path = "/models?dry_run=true" if dry_run else "/models"
    response = send(client, "POST", path, {"model_arn": ARN_LLAMA, "name": "other", "windows": OFFICE})
    assert response.status_code == 409
    assert "'support-bot'" in response.json_body["Message"] and "model_arn" in response.json_body["Message"]
    # A name conflict names the name, as before; nothing else is stored.
    taken = send(client, "POST", path, {"model_arn": ARN_QWEN, "name": "support-bot", "windows": OFFICE})
    assert taken.status_code == 409 and "name 'support-bot'" in taken.json_body["Message"]
    assert [m["name"] for m in client.http.get("/models").json_body["models"]] == ["support-bot"]


@pytest.mark.parametrize("typed, zone", [("Berlin", "Europe/Berlin"), ("berlin", "Europe/Berlin"),
                                         ("Tokyo", "Asia/Tokyo"), ("new york", "America/New_York"),
                                         ("NEW_YORK", "America/New_York"), ("Kolkata", "Asia/Kolkata"),
                                         ("sao paulo", "America/Sao_Paulo"), ("Atlantis", None)])
def test_a_place_given_as_a_zone_suggests_the_zone(typed, zone):
    with pytest.raises(ScheduleError) as refused:
        Schedule.from_dict(typed, OFFICE)
    assert refused.value.field == "timezone"
    if zone is None:
        assert "did you mean" not in str(refused.value)
    else:
        assert f"did you mean {zone!r}?" in str(refused.value)


def test_the_api_answers_a_place_with_its_zone(client):
    response = register(client, timezone="Berlin")
    assert response.status_code == 400
    assert response.json_body["Message"] == ("timezone: 'Berlin' is not an IANA time zone name; "
                                             "did you mean 'Europe/Berlin'?")
