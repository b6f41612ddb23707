"""``make run``'s stack as a newcomer meets it: a port already taken, and a stack killed
without the chance to clean up."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from live import ROOT, free_port, launch, listening, started, wait_for


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
