"""The local stack as ``make run`` starts it, in a subprocess, for tests that talk to the
service over HTTP on loopback: a one-second tick and one-second polls, so that cold
starts and keep-alives fit in seconds."""
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 1
AUTO_LOAD_SECONDS = 2  # how long a model the simulator was not told about takes to load


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


def launch(tmp: Path, port: int, *extra: str, demo: bool = False,
           env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    """``python -m local.stack`` on ``port`` in its own session, its terminal output to
    tmp/stack.log and the service's JSON logs to tmp/service.log; with ``demo``, with the
    demo models ``make run`` registers; ``env`` added to the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL_")}
    environ.update(KEEPWARM_POLL_SECONDS=str(POLL_SECONDS), PYTHONUNBUFFERED="1", **(env or {}))
    with open(tmp / "stack.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "local.stack", "--port", str(port), "--tick-seconds", "1",
             *(() if demo else ("--no-demo",)), "--load-seconds", str(AUTO_LOAD_SECONDS),
             "--endpoints-file", str(tmp / "endpoints.json"), "--log-file", str(tmp / "service.log"), *extra],
            cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def started(tmp: Path, proc: subprocess.Popen) -> dict[str, str]:
    """The endpoints once the stack says it is up; fails with its log if it exited instead."""
    endpoints_file = tmp / "endpoints.json"
    wait_for("the stack to start", lambda: endpoints_file.exists() or proc.poll() is not None, 60)
    assert proc.poll() is None, (tmp / "stack.log").read_text()
    return json.loads(endpoints_file.read_text())


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_stack(tmp: Path, demo: bool = False, env: Optional[dict[str, str]] = None) -> Iterator[dict[str, str]]:
    """Start the stack, yield its endpoints, stop it and check it left nothing listening."""
    port = free_port()
    proc = launch(tmp, port, demo=demo, env=env)
    try:
        yield started(tmp, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = (tmp / "stack.log").read_text()
    assert proc.returncode == 0, output
    assert "keepwarm local stack stopped" in output
    assert not listening(port)  # chalice local went with it
