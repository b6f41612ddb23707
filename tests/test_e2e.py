"""End to end on real time and real processes: ``python -m local.stack`` as ``make run``
starts it, driven over HTTP on loopback.

The stack runs with a one-second tick and one-second polls so that a cold start and a
keep-alive fit in about a minute. It is started once for the module and stopped (and
checked to be gone) at the end.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
LOAD_SECONDS = 3
POLL_SECONDS = 1

READY = "arn:aws:bedrock:us-west-2:123456789012:imported-model/e2eready0001"
SLOW = "arn:aws:bedrock:us-west-2:123456789012:imported-model/e2eslow00001"
LATER = "arn:aws:bedrock:us-west-2:123456789012:imported-model/e2elater0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def wait_for(what: str, check: Callable[[], Optional[Any]], timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("stack")
    endpoints_file = tmp / "endpoints.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL_")}
    env.update(KEEPWARM_POLL_SECONDS=str(POLL_SECONDS), PYTHONUNBUFFERED="1")
    port = free_port()
    log = open(tmp / "stack.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.stack", "--port", str(port), "--tick-seconds", "1", "--no-demo",
         "--endpoints-file", str(endpoints_file)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("the stack to start", lambda: endpoints_file.exists() or proc.poll() is not None, 60)
        assert proc.poll() is None, (tmp / "stack.log").read_text()
        yield json.loads(endpoints_file.read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    output = (tmp / "stack.log").read_text()
    assert proc.returncode == 0, output
    assert "keepwarm local stack stopped" in output
    # Nothing left listening: chalice local went with it.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


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
    events = request("GET", f"{api}/models/ready/events")[1]["events"]
    assert any(e["kind"] == "cold_start" for e in events)

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
