"""``keepwarm probe`` against the local stack's real HTTP API, as an operator runs it: the
plan and its cost first, the refusal named, the running probe shown."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from keepwarm_client.cli import main

from chalicelib.probe import copy_minutes_max

from live import request, wait_for

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("probe-cli-stack")

_serial = iter(range(1, 10_000))


def run(stack, capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--url", stack["api"]])
    out, err = capsys.readouterr()
    return code, out, err


def model(stack) -> tuple[str, str]:
    """A model whose only window opens in five hours: free to probe now."""
    n = next(_serial)
    arn = f"arn:aws:bedrock:us-west-2:123456789012:imported-model/prb{os.getpid() % 100000:05d}{n:04d}"
    status, body = request("POST", f"{stack['bedrock_runtime']}/_sim/models", {"arn": arn, "load_seconds": 2})
    assert status == 201, body
    now = datetime.now(timezone.utc)
    window = {"start": (now + timedelta(hours=5)).strftime("%H:%M"), "stop": (now + timedelta(hours=6)).strftime("%H:%M")}
    status, body = request("POST", f"{stack['api']}/models", {"model_arn": arn, "name": f"prb-{n}", "windows": [window],
                                                              "custom_model_units": 2})
    assert status == 201, body
    return f"prb-{n}", arn


def sim_calls(stack, arn: str) -> list[dict]:
    return request("GET", f"{stack['bedrock_runtime']}/_sim/models/{quote(arn, safe='')}")[1]["calls"]


def test_probe_states_its_cost_first_then_runs_and_shows_itself(stack, capsys):
    name, arn = model(stack)
    code, out, _ = run(stack, capsys, "probe", name, "--dry-run")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"{name}: idle gaps of 4, 8, 16, 32, 64 min, finished by ")
    worst = copy_minutes_max((4, 8, 16, 32, 64), 15)
    assert lines[1].startswith(f"  worst case:    {worst} copy-minutes ({2 * worst} CMU-minutes at 2 CMU per copy, $")
    assert lines[-1] == "dry run: nothing changed"
    assert sim_calls(stack, arn) == []
    code, out, _ = run(stack, capsys, "probe", name, "--show")
    assert (code, out) == (0, f"{name}: never probed\n")

    code, out, _ = run(stack, capsys, "probe", name, "--gaps", "2,4")
    assert code == 0 and out.splitlines()[-1] == f"started: keepwarm probe {name} --show follows it"
    wait_for("the probe's first call", lambda: sim_calls(stack, arn) or None, timeout=20)
    code, out, _ = run(stack, capsys, "probe", name, "--show")
    assert code == 0 and out.startswith("probe: running (started ")


def test_a_refused_probe_exits_2_naming_why(stack, capsys):
    name, arn = model(stack)
    assert run(stack, capsys, "warm", name, "--minutes", "10")[0] == 0
    code, _, err = run(stack, capsys, "probe", name, "--dry-run")
    assert code == 2 and f"no probe started: a lease of {name} holds it now" in err
    code, _, err = run(stack, capsys, "probe", name, "--gaps", "8,4")
    assert code == 1 and "longer than the one before" in err
