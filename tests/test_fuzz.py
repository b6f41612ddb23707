"""Bad input, generated: over a thousand requests of every shape to every route that takes
input. None may get a 5xx, and a rejected one must leave everything stored as it was.

In process, on a simulated clock, through Chalice's test client: so it can send what no
schema describes (nesting a hundred thousand deep, lone surrogates, 5,000-digit numbers, any
text as a body), instants at datetime's limits, and zones, crons and ARNs chosen to reach
deep into validation, a thousand of them in under a minute. tests/test_openapi_fuzz.py
checks instead the OpenAPI document against the running local stack over HTTP."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.records import Lease
from conftest import ARN_LLAMA, ARN_QWEN
from helpers import register

JSON = {"Content-Type": "application/json"}
EXPIRED_LEASE = "l00000000dead"  # stored on the seeded model, expired an hour before the clock

# Numbers as JSON writes them from Python: NaN, Infinity and -Infinity included (json.dumps
# allows them), integers past DynamoDB's 38 digits, floats past its range.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
regions = st.sampled_from(["us-west-2", "us-west-2.evil.example", "eu-central-1", "", "US-WEST-2",
                           "us-west-2/../x", "cn-north-1", "x" * 300])
arns = st.one_of(
    st.just(ARN_QWEN), st.just(ARN_QWEN + "\n"),
    st.builds(lambda p, svc, r, acct, kind, mid: f"arn:{p}:{svc}:{r}:{acct}:{kind}/{mid}",
              st.sampled_from(["aws", "aws-cn", "aws-us-gov", "awz", ""]),
              st.sampled_from(["bedrock", "s3", "lambda"]), regions,
              st.sampled_from(["123456789012", "12345", "abcdefghijkl"]),
              st.sampled_from(["imported-model", "custom-model", "model"]),
              st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789Z-", min_size=0, max_size=14)),
    st.text(max_size=60),
)
zones = st.sampled_from(["UTC", "Asia/Shanghai", "Europe/London", "Mars/Olympus", "utc", "", "+08:00",
                         "Asia/Kolkata\x00", "America/New_York"])
times = st.sampled_from(["09:00", "18:00", "22:00", "06:00", "24:00", "9:00", "09:60", "", "noon"])
crons = st.sampled_from(["0 9 * * MON-FRI", "0 18 * * *", "* * * * *", "0 0 30 2 *", "@daily", "H 9 * * *",
                         "0 9 * *", "0 9 * * * *", "61 9 * * *", "0 9 ? * MON", "0 9 L * *"])
windows = st.lists(
    st.one_of(
        st.fixed_dictionaries({"start": times, "stop": times},
                              optional={"days": st.sampled_from(["MON-FRI", "SAT,SUN", "FRI-MON", "*", "XYZ", ""])}),
        st.fixed_dictionaries({"warm": crons, "stop": crons}),
        json_values,
    ),
    max_size=25,
)
model_bodies = st.fixed_dictionaries({}, optional={
    "model_arn": arns, "name": st.text(max_size=70) | st.sampled_from(["ok-name", "ok-name\n", "x" * 64]),
    "timezone": zones, "windows": windows,
    "keepalive_minutes": st.integers(-5, 20) | json_values,
    "release_minutes": st.integers(-5, 200) | json_values,
    "enabled": st.booleans() | json_values,
    "request_format": st.sampled_from(["chat", "llama", "completion", "custom", "xml"]) | json_values,
    "request_body": json_values,
    "exclude_dates": st.lists(st.sampled_from(["2026-03-10", "2026-02-30", "10/03/2026", ""]) | json_values,
                              max_size=5) | json_values,
    "holidays": st.fixed_dictionaries(
        {"country": st.sampled_from(["GB", "US", "XX", "", "gb", "GBR", "__class__", "__dict__", "HolidayBase"])},
        optional={"subdiv": st.sampled_from(["ENG", "CA", "ZZ", "England", "__class__"])}) | json_values,
    "custom_model_units": st.integers(-2, 2000) | json_values,
    "unknown": json_values,
})
instants = st.sampled_from(["2026-03-09T00:00:00Z", "2026-03-09T00:00:00", "9999-12-31T23:59:59Z",
                            "0001-01-01T00:00:00+14:00", "yesterday", "", "2026-03-09T00:00:00+25:00"])
lease_bodies = st.fixed_dictionaries({}, optional={"minutes": st.integers(-10, 2000) | json_values,
                                                   "holder": st.text(max_size=120) | json_values,
                                                   "extra": json_values})
override_bodies = st.fixed_dictionaries({}, optional={"state": st.sampled_from(["warm", "cold", "hot"]) | json_values,
                                                      "until": instants | json_values})
queries = st.dictionaries(st.sampled_from(["from", "days", "limit", "next_token"]),
                          st.text(max_size=30) | st.sampled_from(["0", "1", "-1", "1000", "7", "9999999999"]),
                          max_size=3)
raw_bodies = st.one_of(st.text(max_size=200), st.just("{" * 500), st.just("[" * 100_000), st.just(""),
                       st.just('{"model_arn": "' + "a" * 100_000 + '"}'), st.just('{"name": "\\ud800"}'),
                       json_values.map(json.dumps))
lease_paths = st.sampled_from([EXPIRED_LEASE, EXPIRED_LEASE + "\n", "l" + "0" * 12, "x" * 300, ""]).map(
    lambda lease_id: "/models/llama/leases/" + quote(lease_id, safe=""))

requests = st.one_of(
    st.tuples(st.just("POST"), st.just("/models"), model_bodies.map(json.dumps)),
    st.tuples(st.just("POST"), st.just("/models"), raw_bodies),
    st.tuples(st.just("PUT"), st.just("/models/llama"), model_bodies.map(json.dumps)),
    st.tuples(st.just("PUT"), st.just("/models/llama"), raw_bodies),
    st.tuples(st.just("POST"), st.just("/models/llama/leases"), lease_bodies.map(json.dumps)),
    st.tuples(st.just("PUT"), st.just("/models/llama/override"), override_bodies.map(json.dumps)),
    st.tuples(st.just("GET"), st.sampled_from(["/models", "/models/llama/windows", "/models/llama/cost",
                                               "/models/llama/events"]), queries),
    st.tuples(st.sampled_from(["GET", "DELETE"]),
              st.text(max_size=80).map(lambda t: "/models/" + quote(t, safe="")), st.none()),
    st.tuples(st.sampled_from(["GET", "DELETE"]), lease_paths, st.none()),
)


def registration(**fields) -> str:
    """A registration that is valid but for ``fields``."""
    return json.dumps({"model_arn": ARN_QWEN, "windows": [{"start": "09:00", "stop": "18:00"}], **fields})


def custom_body(value) -> str:
    return registration(request_format="custom", request_body={"messages": [{"temperature": value}]})


def snapshot(client) -> str:
    models = client.http.get("/models?limit=100").json_body["models"]
    for m in models:  # what the clock moves by itself is not "stored"
        m["state"].pop("next_action", None)
    return json.dumps(models, sort_keys=True)


@pytest.fixture
def seeded(client, simulator, runtime, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30, cmus=4)
    register(client, model_arn=ARN_LLAMA, name="llama", custom_model_units=4)
    # An expired lease is kept until the model's next change drops it.
    model = runtime.store.get("llama")
    expired = Lease(EXPIRED_LEASE, clock.now() - timedelta(hours=2), clock.now() - timedelta(hours=1))
    runtime.store.save(replace(model, state=replace(model.state, leases=(expired,))), model.state.version)
    return client


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(request=requests)
@example(request=("POST", "/models", custom_body(float("nan"))))
@example(request=("POST", "/models", custom_body(float("inf"))))
@example(request=("POST", "/models", custom_body(float("-inf"))))
@example(request=("POST", "/models", custom_body(1234567890123456789012345678901234567890)))
@example(request=("POST", "/models", custom_body(1e100)))
@example(request=("PUT", "/models/llama", json.dumps({"request_format": "custom", "request_body": {"t": 1e100}})))
@example(request=("POST", "/models", registration(request_format="custom", request_body={"": 1})))
@example(request=("POST", "/models", registration(holidays={"country": "__class__"})))
@example(request=("POST", "/models", registration(holidays={"country": "__dict__"})))
@example(request=("POST", "/models", registration(holidays={"country": "HolidayBase"})))
@example(request=("POST", "/models", registration(holidays={"country": "GB", "subdiv": "__class__"})))
@example(request=("POST", "/models", registration(name="qwen\n")))
@example(request=("POST", "/models", registration(model_arn=ARN_QWEN + "\n")))
@example(request=("POST", "/models/llama/leases", '{"minutes": 5, "holder": "\\ud800"}'))
@example(request=("PUT", "/models/llama/override", '{"state": "warm", "until": "0001-01-01T00:00:00+14:00"}'))
@example(request=("GET", "/models/llama%0A", None))
@example(request=("GET", f"/models/llama/leases/{EXPIRED_LEASE}", None))
@example(request=("DELETE", f"/models/llama/leases/{EXPIRED_LEASE}", None))
@example(request=("POST", "/models", registration(exclude_dates=["2026-W10-1"])))
@example(request=("PUT", "/models/llama", json.dumps({"exclude_dates": ["20260309"]})))
@example(request=("PUT", "/models/llama/override", '{"state": "warm", "until": "2026-W11-1T09:00:00Z"}'))
@example(request=("GET", "/models/llama/windows", {"from": "2026-W11-1T00:00:00Z"}))
@example(request=("POST", "/models/llama/leases", "{}"))
@example(request=("POST", "/models", registration(
    model_arn="arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")))
@example(request=("POST", "/models", registration(model_arn=ARN_LLAMA)))
@example(request=("POST", "/models", registration(timezone="Berlin")))
@example(request=("PUT", "/models/llama", json.dumps({"windows": [{"warm": "0 9 29 2 *", "stop": "0 17 29 2 *"}]})))
@example(request=("PUT", "/models/llama", json.dumps({"enabled": False})))
@example(request=("GET", "/models/llama/cost", {}))
def test_no_request_gets_a_5xx_and_rejected_ones_change_nothing(seeded, request):
    client = seeded
    method, path, payload = request
    before = snapshot(client)
    if method == "GET" and isinstance(payload, dict):
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in payload.items())
        response = client.http.get(f"{path}?{query}" if query else path)
    elif payload is None:
        response = getattr(client.http, method.lower())(path)
    else:
        response = getattr(client.http, method.lower())(path, headers=JSON, body=payload)
    assert response.status_code < 500, (method, path, payload, response.body[:300])
    if 400 <= response.status_code < 500:
        assert snapshot(client) == before, (method, path, payload)
        if response.body:
            assert json.loads(response.body)["Message"]
