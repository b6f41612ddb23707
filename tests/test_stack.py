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
from datetime import datetime, timedelta, timezone
from typing import Callable

import boto3
import pytest

from live import ROOT, free_port, launch, listening, request, running_stack, started, wait_for
from local.simulator import FAULT_KEYS, Simulator, SimulatorServer
from local.stack import FAKE_ACCESS_KEY, loopback_only, own_model_help


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


# -- loopback only ----------------------------------------------------------------------------
# Loaded by every Python process the stack starts (PYTHONPATH): any connection, or name
# lookup, that would leave loopback is written down and refused.
GUARD = r'''
import ipaddress, os, socket

_log = os.environ["KEEPWARM_GUARD_LOG"]


def _refuse(what):
    with open(_log, "a") as out:
        out.write(f"{os.getpid()} {what}\n")
    raise OSError(101, f"loopback guard: refused {what}")


def _loopback(host):
    host = str(host).strip("[]").split("%")[0]
    if host in ("", "localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or (address.version == 6 and address.ipv4_mapped is not None
                                   and address.ipv4_mapped.is_loopback)


def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(f"connect {address}")


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):
    _check(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
        _refuse(f"lookup {host}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
with open(_log, "a") as out:
    out.write(f"{os.getpid()} guarded\n")
'''

REAL_LOOKING_KEY = "AKIAIOSFODNN7EXAMPLE"


def told_queue(moto_url: str) -> Callable[[], list[dict]]:
    """A rule on moto's default event bus sending keepwarm's events to a queue; returns
    a reader of every event the queue received so far."""
    aws = {"endpoint_url": moto_url, "region_name": "us-west-2", "aws_access_key_id": "test",
           "aws_secret_access_key": "test"}
    sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
    url = sqs.create_queue(QueueName="told")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="keepwarm-told", EventPattern=json.dumps({"source": ["keepwarm"]}))
    events.put_targets(Rule="keepwarm-told", Targets=[{"Id": "told", "Arn": queue_arn}])
    seen: list[dict] = []

    def read() -> list[dict]:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            seen.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return seen

    return read


def test_the_stack_talks_to_nothing_but_loopback(tmp_path):
    """An engineer with real credentials, a profile and shared config exported runs the
    stack; models warm, fail, take leases and change role. Nothing leaves loopback, the
    state changes reach moto's EventBridge, and every call is signed with the stack's own
    fake key."""
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    guard_log = tmp_path / "guard.log"
    (tmp_path / "config").write_text("[default]\nregion = eu-west-1\n"
                                     "[profile prod]\nregion = eu-west-1\nendpoint_url = https://example.com\n")
    (tmp_path / "credentials").write_text(f"[prod]\naws_access_key_id = {REAL_LOOKING_KEY}\n"
                                          "aws_secret_access_key = real-secret\n")
    env = {"PYTHONPATH": str(guard_dir), "KEEPWARM_GUARD_LOG": str(guard_log),
           "AWS_ACCESS_KEY_ID": REAL_LOOKING_KEY, "AWS_SECRET_ACCESS_KEY": "real-secret",
           "AWS_SESSION_TOKEN": "real-token", "AWS_PROFILE": "prod", "AWS_DEFAULT_REGION": "eu-west-1",
           "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
           "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "KEEPWARM_ASSUME_ROLE_PATTERN": "arn:aws:iam::*:role/keepwarm*"}
    with running_stack(tmp_path, env=env) as stack:
        api, sim = stack["api"], stack["bedrock_runtime"]
        told = told_queue(stack["moto"])
        now = datetime.now(timezone.utc)
        open_now = {"start": (now - timedelta(minutes=1)).strftime("%H:%M"),
                    "stop": (now + timedelta(minutes=30)).strftime("%H:%M")}
        good = "arn:aws:bedrock:us-west-2:123456789012:imported-model/loopgood0001"
        bad = "arn:aws:bedrock:us-west-2:123456789012:imported-model/loopbad00001"
        other = "arn:aws:bedrock:us-west-2:210987654321:imported-model/looprole0001"
        assert request("POST", f"{sim}/_sim/models", {"arn": bad, "denied": True})[0] == 201
        for name, arn, extra in (("loop-good", good, {}), ("loop-bad", bad, {}),
                                 ("loop-role", other, {"role_arn": "arn:aws:iam::210987654321:role/keepwarm"})):
            status, body = request("POST", f"{api}/models", {"model_arn": arn, "name": name, "windows": [open_now],
                                                             **extra})
            assert status == 201, body
        assert request("POST", f"{api}/models/loop-good/leases", {"minutes": 5, "holder": "etl"})[0] == 201
        wait_for("a model warm and one in error", lambda: (
            request("GET", f"{api}/models/loop-good")[1]["state"]["status"] == "warm"
            and request("GET", f"{api}/models/loop-bad")[1]["state"]["status"] == "error"
            and request("GET", f"{api}/models/loop-role")[1]["state"]["status"] == "warm"), 30)
        kinds = wait_for("the state changes on moto's event bus", lambda: (
            (lambda seen: seen if {"Model Warm", "Model Error", "Lease Ready"} <= seen else None)(
                {event["detail-type"] for event in told()})), 20)
        calls = request("GET", f"{sim}/_sim/calls")[1]["calls"]
    assert {"Model Warm", "Model Error"} <= kinds
    # Signed with the stack's own key, or (through the model's role) moto's STS credentials.
    assert {call["access_key"] for call in calls if call["model_arn"] != other} == {FAKE_ACCESS_KEY}
    assert all(call["access_key"].startswith("ASIA") for call in calls if call["model_arn"] == other)
    lines = guard_log.read_text().splitlines()
    assert len([line for line in lines if line.endswith(" guarded")]) >= 2, lines  # the stack and chalice local
    assert [line for line in lines if not line.endswith(" guarded")] == []
    terminal, service = (tmp_path / "stack.log").read_text(), (tmp_path / "service.log").read_text()
    assert "events_put_failed" not in terminal + service and "amazonaws.com" not in terminal + service

    # The terminal hands over the CLI and says what changed, one short line each; the
    # service's JSON lines are in the file it names.
    assert f"export KEEPWARM_URL={api}\n" in terminal and "  .venv/bin/keepwarm list\n" in terminal
    assert f"service logs (JSON)    {tmp_path / 'service.log'}" in terminal
    assert [line for line in terminal.splitlines() if line.lstrip().startswith("{")] == []
    assert '"event":"tick"' in service.replace(" ", "")
    assert re.search(r"^\d\d:\d\d:\d\d  loop-good: registered, (cold|warming)$", terminal, re.M), terminal
    assert re.search(r"^\d\d:\d\d:\d\d  loop-good: (cold|warming) -> warm$", terminal, re.M), terminal
    assert re.search(r"^\d\d:\d\d:\d\d  loop-bad: (registered, |\w+ -> )error: .*AccessDenied", terminal, re.M), terminal
    assert terminal.index("export KEEPWARM_URL") < terminal.index("loop-good: registered")


def test_make_run_passes_its_flags_on(tmp_path):
    port = free_port()
    flags = (f"--strict-models --load-seconds 90 --no-demo --tick-seconds 1 "
             f"--endpoints-file {tmp_path / 'endpoints.json'} --log-file {tmp_path / 'service.log'}")
    with open(tmp_path / "stack.log", "w") as log:
        proc = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}", f"ARGS={flags}"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started(tmp_path, proc)
        assert (tmp_path / "service.log").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    terminal = (tmp_path / "stack.log").read_text()
    assert "the simulator knows only the models it is told about (--strict-models)" in terminal, terminal
    assert f"export KEEPWARM_URL=http://127.0.0.1:{port}" in terminal
    assert not listening(port)


def test_a_bedrock_stand_in_off_loopback_is_refused_and_nothing_real_is_kept():
    env = {"AWS_PROFILE": "prod", "AWS_ACCESS_KEY_ID": REAL_LOOKING_KEY, "AWS_SESSION_TOKEN": "t",
           "AWS_ENDPOINT_URL_SQS": "https://sqs.us-west-2.amazonaws.com", "HTTPS_PROXY": "http://10.0.0.1:3128",
           "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9999", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/token"}
    assert loopback_only(env) == {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9999"}
    assert env["AWS_ACCESS_KEY_ID"] == FAKE_ACCESS_KEY and env["AWS_CONFIG_FILE"] == os.devnull
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SQS", "HTTPS_PROXY",
                "AWS_WEB_IDENTITY_TOKEN_FILE"} & set(env)
    with pytest.raises(ValueError, match="is not on loopback: the local stack talks to nothing else"):
        loopback_only({"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "https://bedrock-runtime.us-west-2.amazonaws.com"})
