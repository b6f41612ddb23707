"""GET /models/{model}/suggestion through the real API, reading moto's CloudWatch (its
GetMetricData) with the service's own botocore client.

Traffic is put as Bedrock would have recorded it: AWS/Bedrock Invocations per ModelId, an
hourly sum for each busy hour of the past four weeks (the US spring change of 8 March
inside them; the clock is Monday 9 March 2026, 08:00 UTC).
"""
from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import boto3
import pytest
import pytz
from conftest import unique

from chalicelib.records import Event
from chalicelib.traffic import read_invocations

UTC = timezone.utc
HOUR = timedelta(hours=1)
JSON = {"Content-Type": "application/json"}
NOW = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
START = NOW - timedelta(weeks=4)


@pytest.fixture
def cloudwatch(moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", moto_url)
    return boto3.client("cloudwatch", region_name="us-west-2")


def arn() -> str:
    return f"arn:aws:bedrock:us-west-2:123456789012:imported-model/{unique('m').replace('-', '')[-12:]:0>12}"


def put_traffic(cloudwatch, model_id: str, counts: dict[datetime, int]) -> None:
    data = [{"MetricName": "Invocations", "Dimensions": [{"Name": "ModelId", "Value": model_id}],
             "Timestamp": hour, "Value": float(n), "Unit": "Count"} for hour, n in sorted(counts.items())]
    for i in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=data[i:i + 1000])


def weekly(zone: str, days: set[int], first: int, last: int, low: int, high: int, seed: int,
           noise: float = 0.0) -> dict[datetime, int]:
    """Requests per UTC hour: ``low``-``high`` in local hours first..last-1 of weekdays
    ``days`` (Mon=1), and a request or two in a ``noise`` share of the other hours."""
    rng, tz, counts, hour = random.Random(seed), pytz.timezone(zone), {}, START
    while hour < NOW:
        local = hour.astimezone(tz)
        if local.isoweekday() in days and first <= local.hour < last:
            counts[hour] = rng.randint(low, high)
        elif rng.random() < noise:
            counts[hour] = rng.randint(1, 2)
        hour += HOUR
    return counts


def register(client, model_arn: str, zone: str, windows=None, **extra) -> str:
    name = unique("sug")
    body = {"name": name, "model_arn": model_arn, "timezone": zone, "custom_model_units": 2,
            "windows": windows or [{"days": "MON-SUN", "start": "00:00", "stop": "24:00"}], **extra}
    response = client.http.post("/models", headers=JSON, body=json.dumps(body))
    assert response.status_code == 201, response.body
    return name


def suggestion(client, name: str, query: str = "weeks=4&coverage=0.99"):
    return client.http.get(f"/models/{name}/suggestion?{query}")


def test_office_hours_in_new_york_across_the_spring_change_priced_and_put_as_they_are(client, cloudwatch):
    model_arn = arn()
    traffic = weekly("America/New_York", {1, 2, 3, 4, 5}, 8, 19, 20, 80, seed=1, noise=0.01)
    put_traffic(cloudwatch, model_arn, traffic)
    name = register(client, model_arn, "America/New_York")
    response = suggestion(client, name)
    assert response.status_code == 200, response.body
    got = response.json_body
    assert got["enough_data"] is True and got["always_on"] is False
    assert got["windows"] == [{"days": "MON-FRI", "start": "08:00", "stop": "19:00"}]
    total = sum(traffic.values())
    assert got["requests"] == total and got["metric"]["value"] == model_arn
    assert got["covered_share"] >= 0.99 and got["cold_requests"] == total - got["covered_requests"]
    # The noise outside office hours is what would have met a cold model.
    office = sum(n for h, n in traffic.items() if n >= 20)
    assert got["covered_requests"] == office
    cost = got["cost"]
    assert cost["custom_model_units"] == 2 and cost["price"] is not None and got["hint"] is None
    assert cost["suggested"]["cost"] < cost["current"]["cost"] <= cost["always_on"]["cost"]
    # The same rules as GET .../cost: today's schedule (always open) costs what /cost says.
    assert cost["current"]["cost"] == client.http.get(f"/models/{name}/cost?days=30").json_body["cost"]
    # Nothing changed; the windows go into a PUT as they are.
    assert client.http.get(f"/models/{name}").json_body["windows"] == [
        {"days": "MON-SUN", "start": "00:00", "stop": "24:00"}]
    put = client.http.put(f"/models/{name}", headers=JSON, body=json.dumps({"windows": got["windows"]}))
    assert put.status_code == 200, put.body
    assert client.http.get(f"/models/{name}").json_body["windows"] == got["windows"]


def test_shanghai_office_hours_with_a_nightly_batch_counted_by_model_id(client, cloudwatch):
    model_arn = arn()
    office = weekly("Asia/Shanghai", {1, 2, 3, 4, 5}, 9, 18, 5, 30, seed=2)
    batch = weekly("Asia/Shanghai", set(range(1, 8)), 2, 4, 100, 200, seed=3)
    traffic = {h: office.get(h, 0) + batch.get(h, 0) for h in office.keys() | batch.keys()}
    put_traffic(cloudwatch, model_arn.rsplit("/", 1)[1], traffic)  # under the model's id, not its ARN
    name = register(client, model_arn, "Asia/Shanghai")
    got = suggestion(client, quote(model_arn, safe=""), "coverage=1").json_body
    assert got["model"] == name and got["metric"]["value"] == model_arn.rsplit("/", 1)[1]
    assert got["windows"] == [{"days": "MON-SUN", "start": "02:00", "stop": "04:00"},
                              {"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]
    assert got["covered_requests"] == got["requests"] == sum(traffic.values()) and got["cold_requests"] == 0


def test_keepwarms_own_calls_do_not_justify_windows(client, cloudwatch, runtime):
    model_arn = arn()
    traffic = weekly("Europe/London", {1, 2, 3, 4, 5}, 9, 17, 10, 20, seed=4)
    name = register(client, model_arn, "Europe/London")
    incarnation = runtime.store.get(name).incarnation
    # keepwarm held it warm all weekend, every week: four or five calls an hour, answered, each
    # counted by Bedrock too. They are in its events, as the worker records them.
    own, tz, hour = {}, pytz.timezone("Europe/London"), START
    while hour < NOW:
        local = hour.astimezone(tz)
        if local.isoweekday() in (6, 7):
            own[hour] = 4 + hour.hour % 2
            for i in range(own[hour]):
                outcome = "ready" if i % 2 else "model_error"  # a loaded copy answered either way
                runtime.store.add_event(name, Event(hour + timedelta(minutes=14 * i), "call", {"outcome": outcome}),
                                        30, incarnation)
        elif hour in traffic:
            # Throttled, and a cold model's 429: Bedrock did not count them (or may not have),
            # so they are not taken off the users' requests of that hour.
            for i, outcome in enumerate(("throttled", "not_ready")):
                runtime.store.add_event(name, Event(hour + timedelta(minutes=i), "call", {"outcome": outcome}),
                                        30, incarnation)
        hour += HOUR
    put_traffic(cloudwatch, model_arn, {h: traffic.get(h, 0) + own.get(h, 0) for h in traffic.keys() | own.keys()})
    got = suggestion(client, name).json_body
    assert got["own_calls"] == sum(own.values()) and got["requests"] == sum(traffic.values())
    assert got["windows"] == [{"days": "MON-FRI", "start": "09:00", "stop": "17:00"}]


def test_holidays_and_excluded_dates_are_laid_over_the_counts_as_the_planner_lays_them(client, cloudwatch):
    model_arn = arn()
    traffic = weekly("America/New_York", {1, 2, 3, 4, 5}, 9, 17, 20, 80, seed=7)
    put_traffic(cloudwatch, model_arn, traffic)
    # People worked on Presidents' Day (16 February, a US holiday) and on 20 February (an
    # excluded date), but no window opens on either: their requests meet a cold model.
    name = register(client, model_arn, "America/New_York", holidays={"country": "US"},
                    exclude_dates=["2026-02-20"])
    got = suggestion(client, name).json_body
    tz = pytz.timezone("America/New_York")
    off = sum(n for h, n in traffic.items() if h.astimezone(tz).date() in (date(2026, 2, 16), date(2026, 2, 20)))
    assert got["windows"] == [{"days": "MON-FRI", "start": "09:00", "stop": "17:00"}]
    assert got["excluded_requests"] == off > 0
    assert got["cold_requests"] == off and got["covered_requests"] == sum(traffic.values()) - off
    total = sum(traffic.values())
    assert got["covered_share"] == ((total - off) * 10_000 // total) / 10_000 < 1


def test_traffic_around_the_clock_suggests_always_on_with_its_price(client, cloudwatch):
    model_arn = arn()
    put_traffic(cloudwatch, model_arn, weekly("UTC", set(range(1, 8)), 0, 24, 3, 9, seed=5))
    got = suggestion(client, register(client, model_arn, "UTC")).json_body
    assert got["always_on"] is True and got["windows"] == [{"days": "MON-SUN", "start": "00:00", "stop": "24:00"}]
    assert got["cold_requests"] == 0 and got["cost"]["suggested"]["cost"] == got["cost"]["always_on"]["cost"]


def test_no_traffic_or_too_little_says_so_and_suggests_nothing(client, cloudwatch):
    silent = register(client, arn(), "UTC")
    got = suggestion(client, silent).json_body
    assert got["enough_data"] is False and got["windows"] is None and "no requests" in got["reason"]
    assert got["cost"]["suggested"] is None and got["cost"]["current"]["cost"] is not None
    recent_arn = arn()
    put_traffic(cloudwatch, recent_arn, {NOW - 50 * HOUR + i * HOUR: 30 for i in range(8)})
    got = suggestion(client, register(client, recent_arn, "UTC")).json_body
    assert got["enough_data"] is False and "less than a week" in got["reason"] and got["requests"] == 240


def test_no_price_for_the_region_gives_null_money_and_says_how(client, cloudwatch):
    model_arn = arn().replace("us-west-2", "eu-central-1")
    name = register(client, model_arn, "Europe/Berlin")
    got = suggestion(client, name).json_body
    assert got["cost"]["current"]["cost"] is None and "KEEPWARM_CMU_PRICES" in got["hint"]


@pytest.mark.parametrize("query, field", [
    ("weeks=0", "weeks"), ("weeks=9", "weeks"), ("weeks=two", "weeks"), ("weeks=5", "KEEPWARM_EVENT_TTL_DAYS"),
    ("coverage=0", "coverage"), ("coverage=1.01", "coverage"), ("coverage=NaN", "coverage"),
    ("coverage=inf", "coverage"), ("coverage=99%25", "coverage"), ("coverage=-0.5", "coverage"),
])
def test_bad_queries_are_400_naming_the_problem_and_change_nothing(client, cloudwatch, query, field):
    name = register(client, arn(), "UTC")
    before = client.http.get(f"/models/{name}").json_body
    response = suggestion(client, name, query)
    assert response.status_code == 400 and field in response.json_body["Message"], response.body
    assert client.http.get(f"/models/{name}").json_body == before


def test_an_unknown_model_is_404(client, cloudwatch):
    assert suggestion(client, "no-such-model").status_code == 404


def test_cloudwatch_out_of_reach_is_a_502_saying_so(client, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
    response = suggestion(client, register(client, arn(), "UTC"))
    assert response.status_code == 502 and "CloudWatch" in response.json_body["Message"]


class RefusingCloudWatch(BaseHTTPRequestHandler):
    """CloudWatch as it answers a request it refuses: the error's code and message in its
    JSON protocol's shape, which the service's botocore client parses as from AWS."""
    status, code = 403, "AccessDenied"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"__type": f"com.amazonaws.cloudwatch#{self.code}", "message": "refused here"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("status, code, said", [(403, "AccessDenied", "cloudwatch:GetMetricData"),
                                                (400, "Throttling", "throttled")])
def test_cloudwatch_refusing_is_a_502_naming_why(client, monkeypatch, status, code, said):
    handler = type("Refusing", (RefusingCloudWatch,), {"status": status, "code": code})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", f"http://127.0.0.1:{server.server_port}")
        name = register(client, arn(), "UTC")
        before = client.http.get(f"/models/{name}").json_body["windows"]
        response = suggestion(client, name)
        assert response.status_code == 502 and said in response.json_body["Message"], response.body
        assert client.http.get(f"/models/{name}").json_body["windows"] == before
    finally:
        server.shutdown()


def test_reading_is_split_to_respect_the_datapoints_limit(cloudwatch):
    model_arn = arn()
    traffic = weekly("UTC", {1, 3, 5}, 6, 20, 1, 9, seed=6)
    put_traffic(cloudwatch, model_arn, traffic)
    whole, _ = read_invocations(cloudwatch, model_arn, START, NOW)
    split, value = read_invocations(cloudwatch, model_arn, START, NOW, max_points=100)  # 14 requests
    assert whole == split == traffic and value == model_arn
