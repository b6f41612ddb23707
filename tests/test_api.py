"""The REST API through Chalice's test client, on moto's DynamoDB."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
import schemathesis
from conftest import ARN_LLAMA, ARN_QWEN
from helpers import at, iso_z

from chalicelib.openapi import DOCUMENT

ARN_PATTERN = DOCUMENT["components"]["schemas"]["Registration"]["properties"]["model_arn"]["pattern"]

JSON = {"Content-Type": "application/json"}
BUSINESS_HOURS = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]


def post(client, body, path="/models"):
    return client.http.post(path, headers=JSON, body=body if isinstance(body, (str, bytes)) else json.dumps(body))


def put(client, name, body):
    return client.http.put(f"/models/{name}", headers=JSON,
                           body=body if isinstance(body, str) else json.dumps(body))


def stored(client) -> list[dict]:
    return client.http.get("/models?limit=100").json_body["models"]


def test_register_with_defaults(client):
    response = post(client, {"model_arn": ARN_LLAMA, "windows": BUSINESS_HOURS})
    assert response.status_code == 201
    model = response.json_body
    assert model["name"] == "llama8b00001"  # the ARN's model id
    assert model["timezone"] == "UTC"
    assert model["keepalive_minutes"] == 14 and model["enabled"] is True
    assert model["request_format"] == "auto"
    assert model["windows"] == BUSINESS_HOURS
    state = model["state"]
    assert state["status"] == "cold" and state["ready"] is False
    assert state["cold_starts"] == {"count": 0, "exact": 0, "bounded": 0, "last_seconds": None,
                                    "p50_seconds": None, "p95_seconds": None, "typical_seconds": 90.0,
                                    "prior": "default"}
    # Monday 08:00 UTC: the pre-warm (billing-aware, by default) its lead before 09:00, and
    # the first call that can succeed held until 08:59, a minute before the open.
    lead = timedelta(seconds=state["prewarm_lead_seconds"])
    assert state["next_action"] == {"kind": "prewarm", "at": iso_z(at(9) - lead)}
    assert state["prewarm"] == {"billing_aware": True, "load_at": iso_z(at(9) - lead),
                                "ready_check_at": "2026-03-09T08:59:00Z", "opens_at": "2026-03-09T09:00:00Z",
                                "why": state["prewarm"]["why"]}
    assert model["billing_aware_prewarm"] is True


def test_register_with_every_option(client):
    body = {"model_arn": ARN_QWEN, "name": "qwen-batch", "timezone": "asia/kolkata",
            "windows": [{"warm": "30 1 * * *", "stop": "0 3 * * *"}], "keepalive_minutes": 9,
            "release_minutes": 10, "enabled": False, "request_format": "custom",
            "request_body": {"inputText": "hi", "maxTokens": 1}}
    model = post(client, body).json_body
    assert model["timezone"] == "Asia/Kolkata"  # canonical spelling
    assert {k: model[k] for k in ("name", "keepalive_minutes", "release_minutes", "enabled",
                                  "request_format", "request_body")} == {
        "name": "qwen-batch", "keepalive_minutes": 9, "release_minutes": 10, "enabled": False,
        "request_format": "custom", "request_body": {"inputText": "hi", "maxTokens": 1}}
    assert model["state"]["next_action"] is None


def test_register_conflicts_on_name_or_arn(client):
    assert post(client, {"model_arn": ARN_LLAMA, "name": "a", "windows": BUSINESS_HOURS}).status_code == 201
    dup_arn = post(client, {"model_arn": ARN_LLAMA, "name": "b", "windows": BUSINESS_HOURS})
    dup_name = post(client, {"model_arn": ARN_QWEN, "name": "a", "windows": BUSINESS_HOURS})
    assert dup_arn.status_code == dup_name.status_code == 409
    assert "model_arn" in dup_arn.json_body["Message"]
    assert "name" in dup_name.json_body["Message"]
    assert [m["name"] for m in stored(client)] == ["a"]


VALID = {"model_arn": ARN_LLAMA, "windows": BUSINESS_HOURS}
DROP = object()  # the field is left out of the body
ARN_RULE = ("expected arn:aws[-cn|-us-gov]:bedrock:<region>:<12-digit account>:imported-model/"
            "<id of exactly 12 lowercase letters and digits>")


@pytest.mark.parametrize("arn, problem", [
    ("arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijk",
     "the model id 'abcdefghijk' has 11 characters"),
    ("arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl\n",
     "the model id 'abcdefghijkl\\n' has 13 characters"),
    ("arn:aws:bedrock:us-west-2:123456789012:imported-model/ABCDEFGHIJKL",
     "the model id 'ABCDEFGHIJKL' is not lowercase letters and digits"),
    ("arn:aws:s3:us-west-2:123456789012:imported-model/abcdefghijkl", "the service is 's3', not bedrock"),
    ("arn:aws:bedrock:us-west-2:123456789012:custom-model/abcdefghijkl",
     "the resource type is 'custom-model', not imported-model"),
    ("arn:aws:bedrock:us-west-2:12345:imported-model/abcdefghijkl", "the account '12345' is not 12 digits"),
    ("arn:aws:bedrock:us-west-2.evil.example:123456789012:imported-model/abcdefghijkl",
     "the region 'us-west-2.evil.example' is not an AWS region name such as us-west-2"),
    ("arn:azure:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl",
     "the partition 'azure' is not aws, aws-cn or aws-us-gov"),
    ("bedrock/abcdefghijkl", "an ARN has six parts separated by ':', starting with arn"),
])
def test_the_arn_error_says_which_part_is_wrong(client, arn, problem):
    response = post(client, {**VALID, "model_arn": arn})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"] == f"model_arn: {arn!r} is not an imported-model ARN: {problem}; {ARN_RULE}"
    assert stored(client) == []


LONG_PARTITION = "arn:aws-" + "a" * 3000 + ":bedrock:us-west-2:123456789012:imported-model/abcdefghijkl"
LONG_REGION = "arn:aws:bedrock:us-" + "west-" * 12 + "2:123456789012:imported-model/abcdefghijkl"


@pytest.mark.parametrize("arn, problem", [
    (LONG_PARTITION, "the partition"),  # was a 500: DynamoDB keys stop at 2,048 bytes
    (LONG_REGION, "the region"),  # was taken, then every call and cost estimate failed in botocore
])
def test_an_arn_whose_partition_or_region_is_longer_than_aws_names_is_refused(client, arn, problem):
    response = post(client, {**VALID, "model_arn": arn})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith("model_arn: "), response.json_body
    assert f": {problem} " in response.json_body["Message"]
    assert stored(client) == []
    assert not re.search(ARN_PATTERN, arn)  # and the document says so


@pytest.mark.parametrize("arn", [ARN_LLAMA,
                                 "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:imported-model/abcdefghijkl",
                                 "arn:aws-iso-b:bedrock:us-isob-east-1:123456789012:imported-model/abcdefghijkl",
                                 "arn:aws-cn:bedrock:cn-northwest-1:123456789012:imported-model/abcdefghijkl",
                                 "arn:aws:bedrock:ap-southeast-2:123456789012:imported-model/abcdefghijkl"])
def test_arns_of_every_partition_are_taken_and_documented(client, arn):
    assert post(client, {**VALID, "model_arn": arn}).status_code == 201
    assert re.search(ARN_PATTERN, arn)


@pytest.mark.parametrize("change, field", [
    ({"model_arn": DROP}, "model_arn"),
    ({"model_arn": "arn:aws:bedrock:us-west-2.evil.example:123456789012:imported-model/abcdefghijkl"}, "model_arn"),
    ({"model_arn": "arn:aws:s3:us-west-2:123456789012:imported-model/abcdefghijkl"}, "model_arn"),
    ({"model_arn": "arn:aws:bedrock:us-west-2:123456789012:custom-model/abcdefghijkl"}, "model_arn"),
    ({"model_arn": "arn:aws:bedrock:us-west-2:12345:imported-model/abcdefghijkl"}, "model_arn"),
    ({"model_arn": 42}, "model_arn"),
    ({"name": "Has Spaces"}, "name"),
    ({"name": "x" * 64}, "name"),
    ({"name": "modèle"}, "name"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": 8}, "timezone"),
    ({"windows": []}, "windows"),
    ({"windows": DROP}, "windows"),
    ({"windows": "MON-FRI"}, "windows"),
    ({"windows": [{"start": "09:00"}]}, "windows[0]"),
    ({"windows": [{"start": "9am", "stop": "18:00"}]}, "windows[0].start"),
    ({"windows": [{"warm": "0 9 * *", "stop": "0 18 * * *"}]}, "windows[0].warm"),
    ({"windows": [{"start": "09:00", "stop": "18:00"}] * 1000}, "windows"),
    ({"keepalive_minutes": 0}, "keepalive_minutes"),
    ({"keepalive_minutes": 15}, "keepalive_minutes"),
    ({"keepalive_minutes": -5}, "keepalive_minutes"),
    ({"keepalive_minutes": 10**12}, "keepalive_minutes"),
    ({"keepalive_minutes": "14"}, "keepalive_minutes"),
    ({"keepalive_minutes": True}, "keepalive_minutes"),
    ({"keepalive_minutes": 10, "release_minutes": 10}, "keepalive_minutes"),
    ({"release_minutes": 5}, "release_minutes"),
    ({"custom_model_units": 0}, "custom_model_units"),
    ({"exclude_dates": ["2026-02-30"]}, "exclude_dates[0]"),
    ({"holidays": {"country": "GB", "region": "x"}}, "holidays"),
    ({"enabled": "yes"}, "enabled"),
    ({"request_format": "xml"}, "request_format"),
    ({"request_format": "custom"}, "request_body"),
    ({"request_body": {"a": 1}}, "request_body"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_registrations_name_the_field_and_store_nothing(client, change, field):
    body = {k: v for k, v in {**VALID, **change}.items() if v is not DROP}
    response = post(client, body)
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(field), response.json_body
    assert stored(client) == []


@pytest.mark.parametrize("key, field", [("colour", "colour"), ("x-colour", 'body["x-colour"]'),
                                        ("", 'body[""]'), ("windows: x", 'body["windows: x"]')])
def test_an_unknown_field_is_named_as_a_path(client, key, field):
    """The Message starts with the field at fault even when the field is no identifier: a
    raw "windows: x" would blame windows, and "" would name nothing."""
    before = post(client, {**VALID, "name": "llama"}).json_body
    response = post(client, {**VALID, "model_arn": ARN_QWEN, key: 1})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(f"{field}: unknown field (known: "), response.json_body
    assert put(client, "llama", {key: 1}).json_body["Message"].startswith(f"{field}: unknown field")
    assert stored(client) == [before]


CUSTOM = {**VALID, "request_format": "custom"}


def nested(levels: int) -> dict:
    body: dict = {"max_tokens": 1}
    for _ in range(levels - 1):
        body = {"inner": body}
    return body


@pytest.mark.parametrize("request_body, message", [
    ({"messages": [{"role": "user", "temperature": float("nan")}]},
     "request_body.messages[0].temperature: NaN is not allowed; numbers must be finite"),
    ({"t": float("inf")}, "request_body.t: Infinity is not allowed; numbers must be finite"),
    ({"t": float("-inf")}, "request_body.t: -Infinity is not allowed; numbers must be finite"),
    ({"t": 1234567890123456789012345678901234567890},
     "request_body.t: 1234567890123456789012345678901234567890 has 40 digits; whole numbers may have at most 38"),
    ({"t": [-(10**38)]}, "request_body.t[0]: -100000000000000000000000000000000000000 has 39 digits"),
    ({"t": 1e100}, "request_body.t: 1e+100 is too large; numbers must be below 1e38 in magnitude"),
    ({"t": -1e-140}, "request_body.t: -1e-140 is too small; numbers other than 0 must be at least 1e-130"),
    ({"": 1}, 'request_body: has an empty key ""; object keys must not be empty'),
    ({"a": [{"": 1}]}, 'request_body.a[0]: has an empty key ""; object keys must not be empty'),
    (nested(17), "request_body" + ".inner" * 16 + ": is nested 17 levels deep; request_body may nest at most 16"),
    ({"t": "x" * 5000}, "request_body: must be at most 4096 bytes as JSON"),
])
def test_request_bodies_that_cannot_be_stored_or_sent_are_refused(client, request_body, message):
    response = post(client, {**CUSTOM, "request_body": request_body})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(message), response.json_body
    assert stored(client) == []


def test_request_bodies_at_the_limits_are_stored_and_survive_changes(client):
    request_body = {"whole": 10**38 - 1, "negative": -(10**38 - 1), "large": 9.9e37, "small": 1e-130,
                    "zero": 0.0, "text": "caf\u00e9 \U0001f600", "deep": nested(16 - 1)}
    response = post(client, {**CUSTOM, "name": "edge", "request_body": request_body})
    assert response.status_code == 201, response.body
    # Read back and written again (a change, the worker's state writes) without a 500.
    changed = put(client, "edge", {"keepalive_minutes": 10})
    assert changed.status_code == 200, changed.body
    kept = client.http.get("/models/edge").json_body["request_body"]
    assert float(kept.pop("large")) == request_body.pop("large")  # DynamoDB gives it back whole
    assert kept == request_body


def test_python_callers_get_the_same_checks(settings, clock):
    from chalicelib.inputs import RequestError, new_config

    body = {**CUSTOM, "request_body": {"temperature": float("nan")}}
    with pytest.raises(RequestError, match=r"^request_body.temperature: NaN is not allowed"):
        new_config(body, clock.now(), settings)


@pytest.mark.parametrize("holidays, message", [
    ({"country": "__class__"}, "holidays.country: '__class__' is not a country the holidays package knows; "
                               "use its ISO 3166 alpha-2 code in capitals, e.g. GB, US, DE"),
    ({"country": "__dict__"}, "holidays.country: '__dict__' is not a country"),
    ({"country": "HolidayBase"}, "holidays.country: 'HolidayBase' is not a country"),
    ({"country": "gb"}, "holidays.country: 'gb' is not a country the holidays package knows; did you mean 'GB'?"),
    ({"country": ""}, "holidays.country: '' is not a country"),
    ({"country": "GB", "subdiv": "England"}, "holidays.subdiv: 'England' is not a subdivision of GB; "
                                             "use one of ENG, NIR, SCT, WLS"),
    ({"country": "GB", "subdiv": "__class__"}, "holidays.subdiv: '__class__' is not a subdivision of GB"),
    ({"country": "US", "subdiv": "XX"}, "holidays.subdiv: 'XX' is not a subdivision of US; use one of AK, AL,"),
    ({"country": "SG", "subdiv": "X"}, "holidays.subdiv: SG has no subdivisions; leave subdiv out"),
    ({"country": 44}, "holidays.country: must be a string"),
])
def test_holiday_calendars_must_be_real(client, holidays, message):
    response = post(client, {**VALID, "holidays": holidays})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(message), response.json_body
    assert len(response.json_body["Message"]) < 400  # the US's 57 subdivisions are trimmed
    assert stored(client) == []


def test_holiday_calendars_are_stored_as_given(client):
    model = post(client, {**VALID, "holidays": {"country": "US", "subdiv": "CA"}}).json_body
    assert model["holidays"] == {"country": "US", "subdiv": "CA"}


@pytest.mark.parametrize("raw, message", [
    ("not json", "body: is not valid JSON (Expecting value at line 1, column 1)"),
    ('{"model_arn": "x" "name": "y"}', "body: is not valid JSON (Expecting ',' delimiter at line 1, column 19)"),
    ('{"model_arn": "x",\n "windows": [}', "body: is not valid JSON (Expecting value at line 2, column 14)"),
    ("[1, 2]", "body: must be a JSON object"),
    ('"text"', "body: must be a JSON object"),
    ("null", "body: must be a JSON object"),
    ("", "body: is required (a JSON object)"),
    (" \n", "body: is required (a JSON object)"),
    (b"\xff\xfe{}", "body: is not valid JSON (not UTF-8 text"),
    ("[" * 100_000, "body: is not valid JSON (nested too deeply"),
    ('{"n": ' + "9" * 5000 + "}", "body: is not valid JSON (a number has more than 4300 digits"),
    ('{"windows": NaN}', "windows: NaN is not allowed; numbers must be finite"),
    ('{"windows": [{"start": -Infinity}]}', "windows[0].start: -Infinity is not allowed; numbers must be finite"),
    ('[1, Infinity]', "body[1]: Infinity is not allowed; numbers must be finite"),
    ('{"name": "\\ud800"}', "name: is not valid Unicode text"),
])
def test_bodies_that_are_not_json_objects(client, raw, message):
    response = post(client, raw)
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(message), response.json_body
    assert stored(client) == []


@pytest.mark.parametrize("method, path", [("POST", "/models"), ("PUT", "/models/llama"),
                                          ("POST", "/models/llama/leases"), ("PUT", "/models/llama/override")])
def test_every_route_with_a_body_parses_it_strictly(client, method, path):
    post(client, {**VALID, "name": "llama"})
    before = client.http.get("/models/llama").json_body
    send = getattr(client.http, method.lower())
    empty = send(path, headers=JSON, body="")
    assert empty.status_code == 400 and empty.json_body["Message"] == "body: is required (a JSON object)"
    nan = send(path, headers=JSON, body='{"minutes": NaN, "state": NaN, "until": NaN, "windows": NaN}')
    assert nan.status_code == 400 and "NaN is not allowed; numbers must be finite" in nan.json_body["Message"]
    assert client.http.get("/models/llama").json_body == before


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/x-www-form-urlencoded"},
                                     {"Content-Type": "text/plain"}])
def test_the_body_is_json_whatever_the_content_type_says(client, headers):
    # curl -d without -H sends application/x-www-form-urlencoded.
    response = client.http.post("/models", headers=headers, body=json.dumps({**VALID, "name": "llama"}))
    assert response.status_code == 201, response.body
    lease = client.http.post("/models/llama/leases", headers=headers, body='{"minutes": 5}')
    assert lease.status_code == 201, lease.body


@pytest.mark.parametrize("key", ["start", "stop"])
def test_the_document_allows_the_times_of_day_the_api_takes(client, key):
    """It allowed a start of 24:00 and anything up to 29:59, which the API refuses."""
    simple = DOCUMENT["components"]["schemas"]["Registration"]["properties"]["windows"]["items"]["oneOf"][0]
    pattern = simple["properties"][key]["pattern"]
    for time in ("00:00", "09:30", "23:59", "24:00", "24:01", "25:00", "29:59", "9:00", "09:60", "0900"):
        window = {"start": "12:00", "stop": "12:00", key: time}
        taken = post(client, {**VALID, "windows": [window]}).status_code == 201
        client.http.delete("/models/" + quote(ARN_LLAMA, safe=""))
        assert taken == bool(re.search(pattern, time)), (key, time, taken)


def test_show_by_name_or_url_encoded_arn(client):
    post(client, {**VALID, "name": "llama"})
    by_arn = client.http.get("/models/" + quote(ARN_LLAMA, safe=""))
    assert by_arn.status_code == 200 and by_arn.json_body["name"] == "llama"
    missing = client.http.get("/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json_body["Message"]


def test_list_is_paginated(client):
    for i in range(5):
        post(client, {**VALID, "model_arn": ARN_LLAMA[:-12] + f"model{i:07d}", "name": f"m{i}"})
    first = client.http.get("/models?limit=2").json_body
    second = client.http.get(f"/models?limit=2&next_token={first['next_token']}").json_body
    third = client.http.get(f"/models?limit=2&next_token={second['next_token']}").json_body
    names = [m["name"] for page in (first, second, third) for m in page["models"]]
    assert names == ["m0", "m1", "m2", "m3", "m4"] and third["next_token"] is None
    assert client.http.get("/models?limit=0").status_code == 400
    assert client.http.get("/models?limit=ten").status_code == 400
    assert client.http.get("/models?next_token=***").status_code == 400


def test_update_changes_the_schedule_and_keeps_the_rest(client):
    post(client, {**VALID, "name": "llama", "keepalive_minutes": 10})
    response = put(client, "llama", {"timezone": "Asia/Shanghai"})
    assert response.status_code == 200
    model = response.json_body
    assert model["timezone"] == "Asia/Shanghai" and model["keepalive_minutes"] == 10
    assert model["windows"] == BUSINESS_HOURS
    # 09:00 Shanghai is 01:00 UTC: Monday's window is already open at 08:00 UTC.
    assert model["state"]["window_open"] is True
    assert model["state"]["next_action"] == {"kind": "warmup", "at": "2026-03-09T08:00:00Z"}


@pytest.mark.parametrize("body, field", [
    ({"model_arn": ARN_QWEN}, "model_arn"),
    ({"name": "other"}, "name"),
    ({"windows": [{"start": "18:00", "stop": "18:00"}]}, "windows[0]"),
    ({"keepalive_minutes": 30}, "keepalive_minutes"),
])
def test_rejected_update_changes_nothing(client, body, field):
    post(client, {**VALID, "name": "llama"})
    before = client.http.get("/models/llama").json_body
    response = put(client, "llama", body)
    assert response.status_code == 400 and response.json_body["Message"].startswith(field)
    assert client.http.get("/models/llama").json_body == before


def test_update_and_delete_of_unknown_models(client):
    assert put(client, "ghost", {"enabled": False}).status_code == 404
    assert client.http.delete("/models/ghost").status_code == 404


def test_delete_by_arn_frees_the_name(client):
    post(client, {**VALID, "name": "llama"})
    assert client.http.delete("/models/" + quote(ARN_LLAMA, safe="")).status_code == 204
    assert client.http.get("/models/llama").status_code == 404
    assert post(client, {**VALID, "name": "llama"}).status_code == 201


def test_windows_preview_across_the_london_spring_change(client):
    post(client, {**VALID, "name": "ldn", "timezone": "Europe/London"})
    response = client.http.get("/models/ldn/windows?from=2026-03-27T00:00:00Z&days=4")
    assert response.status_code == 200
    # Friday on GMT, then (29 March, clocks forward) Monday on BST: an hour earlier in UTC.
    assert response.json_body["windows"] == [
        {"open": "2026-03-27T09:00:00Z", "close": "2026-03-27T18:00:00Z"},
        {"open": "2026-03-30T08:00:00Z", "close": "2026-03-30T17:00:00Z"},
    ]
    assert response.json_body["timezone"] == "Europe/London"


def test_paths_that_cannot_name_a_model_are_404_without_a_lookup(client):
    for path in ("/models/" + "x" * 3000, "/models/Not%20A%20Name", "/models/arn%3Aaws%3As3%3A%3A%3Ab"):
        response = client.http.get(path)
        assert response.status_code == 404, path


@pytest.mark.parametrize("change, field", [
    ({"name": "llama\n"}, "name"),
    ({"model_arn": ARN_LLAMA + "\n"}, "model_arn"),
    ({"name": "llama\n", "model_arn": ARN_LLAMA + "\n"}, "model_arn"),
])
def test_a_trailing_newline_is_not_part_of_a_valid_name_or_arn(client, change, field):
    response = post(client, {**VALID, **change})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(field)
    assert stored(client) == []


def test_a_path_with_a_trailing_newline_names_no_model_and_is_not_looked_up(client, runtime, monkeypatch):
    post(client, {**VALID, "name": "llama"})
    looked_up = []
    get = runtime.store.get
    monkeypatch.setattr(runtime.store, "get", lambda key: looked_up.append(key) or get(key))
    for key in ("llama%0A", quote(ARN_LLAMA + "\n", safe="")):
        for method, path in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/leases"), ("GET", "/events")):
            response = getattr(client.http, method.lower())(f"/models/{key}{path}", headers=JSON, body="{}")
            assert response.status_code == 404, (method, key, path, response.body)
    assert looked_up == []
    lease = post(client, {"minutes": 5}, "/models/llama/leases").json_body
    for lease_id in (quote(lease["id"] + "\n"), "l" + "0" * 12 + "%0A", "x" * 3000):
        response = client.http.get(f"/models/llama/leases/{lease_id}")
        assert response.status_code == 404 and "no lease" in response.json_body["Message"], response.body
    assert client.http.get(f"/models/llama/leases/{lease['id']}").status_code == 200


@pytest.mark.parametrize("query, field", [("from=yesterday", "from"), ("from=2026-03-27T00:00:00", "from"),
                                          ("from=9999-12-31T00:00:00Z", "from"),
                                          ("from=0001-01-01T00:00:00%2B14:00", "from"),
                                          ("days=0", "days"), ("days=1000", "days")])
def test_windows_preview_rejects_bad_queries(client, query, field):
    post(client, {**VALID, "name": "ldn"})
    response = client.http.get(f"/models/ldn/windows?{query}")
    assert response.status_code == 400 and response.json_body["Message"].startswith(field)


def test_events_start_with_registration(client):
    post(client, {**VALID, "name": "llama"})
    put(client, "llama", {"enabled": False})
    events = client.http.get("/models/llama/events").json_body["events"]
    assert [e["kind"] for e in events] == ["updated", "registered"]
    assert events[1]["model_arn"] == ARN_LLAMA
    assert client.http.get("/models/ghost/events").status_code == 404


def documented(method: str, path: str, response) -> None:
    """Fail unless the OpenAPI document describes ``response`` (status, content type, body)
    as an answer of ``method path``: the check schemathesis makes on the running stack."""
    operation = schemathesis.openapi.from_dict(DOCUMENT)[path][method]
    request = requests.Request(method, f"http://127.0.0.1{path}").prepare()
    # Chalice leaves a JSON answer's Content-Type to API Gateway (and chalice local), which
    # say application/json.
    headers = {"Content-Type": ["application/json"], **{name: [value] for name, value in response.headers.items()}}
    operation.validate_response(schemathesis.Response(response.status_code, headers, response.body, request,
                                                      elapsed=0.0, verify=True))


def test_a_model_never_called_is_what_the_document_says(client):
    """A new model has no last call, success or warm-up yet: null, which the document
    first described as a string."""
    post(client, {**VALID, "name": "llama"})
    response = client.http.get("/models/llama")
    assert response.json_body["state"]["last_call_at"] is None
    documented("GET", "/models/{model}", response)
    documented("GET", "/models", client.http.get("/models"))


def test_the_openapi_document_describes_every_route(client):
    from app import app

    doc = client.http.get("/openapi.json").json_body
    assert doc["openapi"].startswith("3.")
    described = {(path, verb.upper()) for path, ops in doc["paths"].items()
                 for verb in ops if verb != "parameters"}
    served = {(path, method) for path, by_method in app.routes.items() for method in by_method}
    assert described == served
    for path, ops in doc["paths"].items():
        for verb, op in ops.items():
            if verb in ("post", "put"):
                assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"], (path, verb)


def test_the_document_names_every_field_the_validators_take_and_no_other():
    """A registration's and a change's fields are the validators' list (inputs.FIELDS):
    a field only one side knows would be refused by the other (the fuzz finds it too, by
    chance and slowly; this says so at once)."""
    from chalicelib.inputs import FIELDS

    schemas = DOCUMENT["components"]["schemas"]
    assert set(schemas["Registration"]["properties"]) == FIELDS == set(schemas["Change"]["properties"])


# -- registration asks Bedrock whether the model exists ---------------------------------------
def control_plane_client(runtime):
    """The bedrock client the API's GetImportedModel goes through, to stub an answer on."""
    from chalicelib.bedrock import CONTROL_PLANE_CONFIG

    return runtime.clients.client("bedrock", "us-west-2", CONTROL_PLANE_CONFIG)


def test_a_registered_model_shows_what_bedrock_said_about_it(client, simulator, clock):
    simulator.add_model(ARN_LLAMA, cmus=4, architecture="llama", instruct_supported=False,
                        imported_at="2025-06-02T10:00:00Z")
    model = post(client, {**VALID, "name": "llama"}).json_body
    assert model["state"]["verification"] == {
        "status": "verified", "checked_at": "2026-03-09T08:00:00Z", "reason": None, "next_check_at": None,
        "architecture": "llama", "imported_at": "2025-06-02T10:00:00Z", "instruct_supported": False,
        "custom_model_units": 4}
    registered = client.http.get("/models/llama/events").json_body["events"][-1]
    assert registered["kind"] == "registered" and registered["verified"] is True


def test_an_arn_bedrock_does_not_know_is_refused_and_says_so(client, simulator):
    simulator.add_model(ARN_LLAMA)
    simulator.remove_model(ARN_LLAMA)  # deleted: GetImportedModel answers 404, as for a wrong ARN
    response = post(client, VALID)
    assert response.status_code == 400, response.body
    message = response.json_body["Message"]
    assert message.startswith(f"model_arn: no imported model {ARN_LLAMA} exists (in account 123456789012, "
                              "region us-west-2)")
    assert f"imported model {ARN_LLAMA} not found by GetImportedModel" in message
    assert stored(client) == []


def test_access_denied_reading_the_model_names_the_missing_permission(client, runtime):
    from botocore.stub import Stubber

    with Stubber(control_plane_client(runtime)) as stub:
        stub.add_client_error("get_imported_model", service_error_code="AccessDeniedException",
                              service_message="User: arn:aws:sts::123456789012:assumed-role/api/x is not "
                                              "authorized to perform: bedrock:GetImportedModel",
                              http_status_code=403)
        response = post(client, VALID)
    assert response.status_code == 400, response.body
    message = response.json_body["Message"]
    assert message.startswith(f"model_arn: keepwarm may not read {ARN_LLAMA}: its roles need "
                              "bedrock:GetImportedModel on it")
    assert "is not authorized to perform: bedrock:GetImportedModel" in message  # AWS's own words
    assert stored(client) == []


def test_an_unreachable_control_plane_registers_the_model_unverified_and_the_worker_checks_it(
        client, runtime, simulator, driver):
    from botocore.stub import Stubber

    from helpers import at

    with Stubber(control_plane_client(runtime)) as stub:
        stub.add_client_error("get_imported_model", service_error_code="InternalServerException",
                              service_message="try again", http_status_code=500)
        response = post(client, {**VALID, "name": "llama"})
    assert response.status_code == 201, response.body
    verification = response.json_body["state"]["verification"]
    assert verification["status"] == "unverified" and verification["checked_at"] is None
    assert "InternalServerException" in verification["reason"]
    # Checked again by the worker, just before the model's next call: the pre-warm.
    prewarm = response.json_body["state"]["next_action"]["at"]
    assert verification["next_check_at"] == prewarm and prewarm.startswith("2026-03-09T08:5")

    driver.run_until(at(9))
    model = client.http.get("/models/llama").json_body
    assert model["state"]["verification"]["status"] == "verified"
    assert model["state"]["verification"]["checked_at"] == prewarm
    kinds = [e["kind"] for e in client.http.get("/models/llama/events").json_body["events"]]
    assert kinds[-2:] == ["verified", "registered"]


def test_the_documents_links_lead_to_its_operations():
    """Each link (a new model to itself and its leases, a new lease to itself) names an
    operation the document has and fills every path parameter that operation needs."""
    links = [link for ops in DOCUMENT["paths"].values() for verb, op in ops.items() if verb != "parameters"
             for answer in op["responses"].values() for link in answer.get("links", {}).values()]
    assert len(links) == 6
    for link in links:
        path, _, verb = link["operationRef"].removeprefix("#/paths/").rpartition("/")
        path = path.replace("~1", "/").replace("~0", "~")
        assert verb in DOCUMENT["paths"][path], link
        assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", path)), link


def test_a_fleet_that_cannot_be_read_does_not_refuse_a_registration(client, runtime, monkeypatch, caplog):
    # The fleet's priors are an improvement: a store that fails to give them leaves the
    # model on the default prior, and says so in the log.
    def broken() -> dict:
        raise RuntimeError("the fleet's item is unreadable")

    monkeypatch.setattr(runtime.store, "fleet_loads", broken)
    response = post(client, {"model_arn": ARN_LLAMA, "windows": BUSINESS_HOURS})
    assert response.status_code == 201, response.json_body
    assert response.json_body["state"]["cold_starts"]["prior"] == "default"
    (record,) = [r for r in caplog.records if r.getMessage() == "fleet_read_failed"]
    assert record.levelname == "WARNING"
