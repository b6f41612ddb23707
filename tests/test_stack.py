"""``make run``'s stack as a newcomer meets it: a port already taken, a stack killed
without the chance to clean up, and how to add one's own model."""
from __future__ import annotations

import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys

from live import ROOT, free_port, launch, listening, request, started, wait_for
from local.simulator import FAULT_KEYS, Simulator, SimulatorServer
from local.stack import own_model_help


def test_a_taken_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as other:  # another server already on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "local.stack", "--port", str(port), "--no-demo",
                               "--endpoints-file", str(tmp_path / "endpoints.json")],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert f"make run PORT={port + 1}" in done.stderr
    # Nothing was started or registered against the other server.
    assert "keepwarm is running" not in done.stdout
    assert not (tmp_path / "endpoints.json").exists()


def test_a_killed_stack_takes_its_api_server_with_it(tmp_path):
    port = free_port()
    proc = launch(tmp_path, port)
    try:
        started(tmp_path, proc)
        assert listening(port)
        proc.kill()  # SIGKILL: no finally, no signal handler runs in the stack
        proc.wait()
        wait_for("chalice local to exit", lambda: not listening(port), 15)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, should the test fail
        except ProcessLookupError:
            pass


def test_the_printed_way_to_add_ones_own_model_works():
    with SimulatorServer(Simulator(auto_create=60)) as server:
        printed = own_model_help(server.url, 60)
        url, body = re.search(r"curl -s -X POST (\S+) -H 'Content-Type: application/json' \\\n\s+-d '([^']*)'",
                              printed).groups()
        status, model = request("POST", url, json.loads(body))
    assert status == 201, model
    assert (model["load_seconds"], model["cmus"], model["state"]) == (90.0, 4, "cold")
    assert "loading in 60 s" in printed
    # Every other field it names is one the simulator takes.
    named = re.search(r"\(also ([a-z_, ]+):", printed).group(1).split(", ")
    assert set(named) <= set(inspect.signature(Simulator.add_model).parameters) | set(FAULT_KEYS)
