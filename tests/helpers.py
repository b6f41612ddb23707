"""Helpers for driving the service in tests: times on the test week, API calls, and what
the simulator saw."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

UTC = timezone.utc
# The worker's answer when no message of its batch failed (none is redelivered).
HANDLED = {"batchItemFailures": []}
MONDAY = datetime(2026, 3, 9, tzinfo=UTC)  # Europe/London is on UTC this week
JSON = {"Content-Type": "application/json"}


def at(hour: int, minute: int = 0, second: int = 0, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def send(client, method: str, path: str, body=None):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    return getattr(client.http, method.lower())(path, headers=JSON, body=data)


def register(client, **body) -> dict:
    body.setdefault("timezone", "Europe/London")
    body.setdefault("windows", [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}])
    response = send(client, "POST", "/models", body)
    assert response.status_code == 201, response.body
    return response.json_body


def show(client, name: str) -> dict:
    response = client.http.get(f"/models/{name}")
    assert response.status_code == 200, response.body
    return response.json_body


def events(client, name: str) -> list[dict]:
    return client.http.get(f"/models/{name}/events?limit=200").json_body["events"]


def calls(simulator, arn: str) -> list[dict]:
    return simulator.inspect(arn)["calls"]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def call_times(simulator, arn: str, outcome: str | None = None) -> list[datetime]:
    return [instant(c["at"]) for c in calls(simulator, arn) if outcome is None or c["outcome"] == outcome]


def lead(client, name: str) -> timedelta:
    """The model's pre-warm lead, as the API shows it."""
    return timedelta(seconds=show(client, name)["state"]["prewarm_lead_seconds"])


def iso_z(at_: datetime) -> str:
    return at_.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cents(cmu_minutes: int, price: float) -> float:
    """USD for these CMU-minutes at ``price``, to the cent as a bill rounds (half up)."""
    return float((Decimal(cmu_minutes) * Decimal(repr(price))).quantize(Decimal("0.01"), ROUND_HALF_UP))
