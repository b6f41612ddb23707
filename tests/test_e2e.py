"""End to end on real time and real processes: ``python -m local.stack`` as ``make run``
starts it, driven over HTTP on loopback.

The stack runs with a one-second tick and one-second polls so that a cold start and a
keep-alive fit in about a minute. It is started once for the module and stopped (and
checked to be gone) at the end.
"""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Optional
from urllib.parse import quote

import pytest

from live import AUTO_LOAD_SECONDS, POLL_SECONDS, ROOT, request, wait_for
from local.stack import own_model_help

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("live-stack")

UTC = timezone.utc
LOAD_SECONDS = 3

READY = "arn:aws:bedrock:us-west-2:123456789012:imported-model/e2eready0001"
SLOW = "arn:aws:bedrock:us-west-2:123456789012:imported-model/e2eslow00001"
LATER = "arn:aws:bedrock:us-west-2:123456789012:imported-model/e2elater0001"


def hhmm(at: datetime) -> str:
    return at.strftime("%H:%M")


def test_cold_warm_keepalive_delete_over_http(stack):
    api, sim = stack["api"], stack["bedrock_runtime"]
    for arn, load in ((READY, LOAD_SECONDS), (SLOW, 600), (LATER, LOAD_SECONDS)):
        assert request("POST", f"{sim}/_sim/models", {"arn": arn, "load_seconds": load})[0] == 201

    def calls(arn: str) -> list[dict]:
        return request("GET", f"{sim}/_sim/models/{quote(arn, safe='')}")[1]["calls"]

    now = datetime.now(UTC)
    open_now = [{"start": hhmm(now - timedelta(minutes=1)), "stop": hhmm(now + timedelta(minutes=30))}]
    later = [{"start": hhmm(now + timedelta(hours=3)), "stop": hhmm(now + timedelta(hours=4))}]
    for name, arn, windows in (("ready", READY, open_now), ("slow", SLOW, open_now),
                               ("later", LATER, later)):
        status, body = request("POST", f"{api}/models", {"model_arn": arn, "name": name,
                                                         "windows": windows, "keepalive_minutes": 1})
        assert status == 201, body
        assert body["state"]["status"] == "cold"

    # cold -> warming -> warm, as a person watching the API sees it.
    seen: list[str] = []

    def status_is_warm() -> bool:
        state = request("GET", f"{api}/models/ready")[1]["state"]
        if not seen or seen[-1] != state["status"]:
            seen.append(state["status"])
        return state["status"] == "warm"

    wait_for("the model to be warm", status_is_warm, timeout=30, every=0.1)
    assert seen[-2:] == ["warming", "warm"]
    state = request("GET", f"{api}/models/ready")[1]["state"]
    assert state["ready"] is True and state["window_open"] is True
    # Measured from the first "not ready" to the first answer: within one poll (plus a
    # little queue latency) of the simulator's load time.
    assert LOAD_SECONDS <= state["cold_starts"]["last_seconds"] <= LOAD_SECONDS + POLL_SECONDS + 1.5
    # The worker writes the state, then its events: the event follows within moments.
    wait_for("the cold start's event", lambda: any(
        e["kind"] == "cold_start" for e in request("GET", f"{api}/models/ready/events")[1]["events"]),
        timeout=10, every=0.1)

    # Deleting a model that is being polled stops its calls.
    wait_for("the slow model to be polled", lambda: len(calls(SLOW)) >= 3, timeout=15)
    assert request("DELETE", f"{api}/models/slow")[0] == 204
    time.sleep(POLL_SECONDS + 0.5)  # a poll already handed to the worker may still land
    count = len(calls(SLOW))
    time.sleep(3 * POLL_SECONDS)
    assert len(calls(SLOW)) == count
    assert request("GET", f"{api}/models/slow")[0] == 404

    # The keep-alive comes keepalive_minutes after the last success.
    def two_successes() -> Optional[list[dict]]:
        ok = [c for c in calls(READY) if c["outcome"] == "ready"]
        return ok if len(ok) >= 2 else None

    first, second = wait_for("a keep-alive", two_successes, timeout=80, every=0.5)[:2]
    gap = (datetime.fromisoformat(second["at"].replace("Z", "+00:00"))
           - datetime.fromisoformat(first["at"].replace("Z", "+00:00"))).total_seconds()
    assert 60 <= gap <= 63
    assert request("GET", f"{api}/models/ready")[1]["state"]["status"] == "warm"

    # The model whose window is hours away was never called.
    assert calls(LATER) == []
    assert request("GET", f"{api}/models/later")[1]["state"]["next_action"]["kind"] == "prewarm"


def readme_body(path: str) -> dict:
    """The JSON body of docs/api.md's ``curl -s -X POST $KW<path> ...`` example, as written."""
    readme = (ROOT / "docs" / "api.md").read_text()
    found = re.search(r"curl -s -X POST \$KW" + re.escape(path)
                      + r" -H 'Content-Type: application/json'[\s\\]*-d '([^']*)'", readme)
    assert found, f"no POST {path} example in docs/api.md"
    return json.loads(found.group(1))


def test_the_readmes_own_model_works_as_written(stack, stack_dir):
    """docs/api.md registers support-bot, whose ARN nobody told the simulator about, and a
    batch job warms it: under the stack as make run starts it, that model loads and answers."""
    api, sim = stack["api"], stack["bedrock_runtime"]
    assert own_model_help(sim, AUTO_LOAD_SECONDS) in (stack_dir / "stack.log").read_text()
    registration = readme_body("/models")
    status, model = request("POST", f"{api}/models", registration)
    assert status == 201, model
    status, lease = request("POST", f"{api}/models/{model['name']}/leases",
                            readme_body(f"/models/{model['name']}/leases"))
    assert status == 201, lease
    wait_for("the README's model to be ready", timeout=20, check=lambda: request(
        "GET", f"{api}/models/{model['name']}/leases/{lease['id']}")[1]["ready"])
    state = request("GET", f"{api}/models/{model['name']}")[1]["state"]
    assert state["status"] == "warm" and state["error"] is None
    played = request("GET", f"{sim}/_sim/models/{quote(registration['model_arn'], safe='')}")[1]
    assert played["load_seconds"] == AUTO_LOAD_SECONDS and played["calls"][-1]["outcome"] == "ready"
    # Its cost estimate asks Bedrock for the model's units; the simulator answers that too.
    assert request("GET", f"{api}/models/{model['name']}/cost?days=30")[0] == 200
