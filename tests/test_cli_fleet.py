"""The fleet commands (``keepwarm list``, ``events``, ``cost``, ``apply``) against the
local stack's real HTTP API, as an operator runs them."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from keepwarm_client.cli import main

from live import ROOT, request

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("cli-fleet-stack")


def arn(tag: str) -> str:
    return f"arn:aws:bedrock:us-west-2:123456789012:imported-model/{tag:0>12}"


def run(stack, capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--url", stack["api"]])
    out, err = capsys.readouterr()
    return code, out, err


def names(stack) -> dict[str, dict]:
    status, page = request("GET", f"{stack['api']}/models?limit=100")
    assert status == 200
    return {m["name"]: m for m in page["models"]}


def write(tmp_path: Path, text: str, suffix: str = ".yaml") -> str:
    path = tmp_path / f"fleet{suffix}"
    path.write_text(text)
    return str(path)


FLEET = """\
models:
  - name: fleet-a
    model_arn: {a}
    timezone: Asia/Shanghai
    windows: [{{days: MON-FRI, start: "09:00", stop: "18:00"}}]
  - name: fleet-b
    model_arn: {b}
    windows: [{{start: "22:00", stop: "06:00"}}]
    exclude_dates: [2026-12-25]
"""


def test_apply_creates_updates_and_prunes_idempotently(stack, capsys, tmp_path):
    a, b = arn("fleeta"), arn("fleetb")
    leftover = request("POST", f"{stack['api']}/models",
                       {"model_arn": arn("fleetz"), "name": "fleet-z", "windows": [{"start": "01:00", "stop": "02:00"}]})
    assert leftover[0] == 201
    path = write(tmp_path, FLEET.format(a=a, b=b))

    code, out, _ = run(stack, capsys, "apply", path, "--prune", "--dry-run")
    assert code == 0 and out.splitlines() == [
        "+ create fleet-a", "+ create fleet-b", "- delete fleet-z",
        "plan: 2 to create, 0 to update, 1 to delete, 0 unchanged", "dry run: nothing changed"]
    assert "fleet-a" not in names(stack) and "fleet-z" in names(stack)

    # Deleting needs a yes: off a terminal, --yes; nothing is applied without it.
    code, out, err = run(stack, capsys, "apply", path, "--prune")
    assert code == 1 and "- delete fleet-z" in out
    assert err == (f"keepwarm: would delete 1 registered model(s) {path} does not name (fleet-z), and this is "
                   "not a terminal to ask on: add --yes to go ahead; nothing applied\n")
    assert "fleet-a" not in names(stack) and "fleet-z" in names(stack)

    code, out, _ = run(stack, capsys, "apply", path, "--prune", "--yes")
    assert code == 0 and out.splitlines()[-4:] == ["created fleet-a", "created fleet-b", "deleted fleet-z", "applied"]
    stored = names(stack)
    assert stored["fleet-a"]["timezone"] == "Asia/Shanghai" and "fleet-z" not in stored
    assert stored["fleet-b"]["exclude_dates"] == ["2026-12-25"]  # YAML's date, as the API takes it

    code, out, _ = run(stack, capsys, "apply", path, "--prune")
    assert code == 0 and out.splitlines() == ["plan: 0 to create, 0 to update, 0 to delete, 2 unchanged",
                                              "nothing to do"]

    changed = write(tmp_path, json.dumps({"models": [
        {"name": "fleet-a", "model_arn": a, "timezone": "Europe/Paris",
         "windows": [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]}]}), ".json")
    code, out, _ = run(stack, capsys, "apply", changed)
    # Each change as it is stored now -> as it will be.
    assert code == 0 and out.splitlines()[:2] == ["~ update fleet-a", "    timezone: Asia/Shanghai -> Europe/Paris"]
    assert names(stack)["fleet-a"]["timezone"] == "Europe/Paris" and "fleet-b" in names(stack)  # no --prune


@pytest.mark.parametrize("text, named", [
    # The API's own check, for one entry of several: the model and the field are named.
    ("models:\n  - {name: bad-ok, model_arn: %s, windows: [{start: '09:00', stop: '18:00'}]}\n"
     "  - {name: bad-zone, model_arn: %s, timezone: Mars/Olympus, windows: [{start: '09:00', stop: '18:00'}]}\n",
     "model bad-zone: timezone: "),
    ("models:\n  - {name: bad-ok, model_arn: %s, windows: [{start: '09:00', stop: '18:00'}]}\n"
     "  - {name: bad-field, model_arn: %s, windoes: []}\n", "model bad-field: windoes: not a registration field"),
    ("models:\n  - {name: bad-ok, model_arn: %s, windows: [{start: '09:00', stop: '18:00'}]}\n"
     "  - {name: bad-ok, model_arn: %s, windows: [{start: '09:00', stop: '18:00'}]}\n",
     "model bad-ok: name: appears more than once"),
    ("models: {name: x}\n", "expected a list of models"),
    ("models: [\n", "neither JSON nor YAML"),
])
def test_an_invalid_file_applies_nothing_and_names_the_model_and_field(stack, capsys, tmp_path, text, named):
    path = write(tmp_path, text % (arn("badok1"), arn("badtwo1")) if "%s" in text else text)
    before = names(stack)
    code, _, err = run(stack, capsys, "apply", path, "--prune")
    assert code == 2 and named in err
    assert names(stack).keys() == before.keys()


def test_list_events_and_cost(stack, capsys, tmp_path):
    status, body = request("POST", f"{stack['api']}/models", {
        "model_arn": arn("listme"), "name": "list-me", "windows": [{"start": "00:00", "stop": "24:00"}]})
    assert status == 201, body
    code, out, _ = run(stack, capsys, "list")
    header, *rows = out.splitlines()
    assert code == 0 and header.split()[:4] == ["NAME", "STATUS", "READY", "WINDOW"]
    assert any(row.split()[0] == "list-me" for row in rows)
    code, out, _ = run(stack, capsys, "list", "--json", "--status", "cold,warming", "--status", "warm")
    assert code == 0 and "list-me" in [m["name"] for m in json.loads(out)]
    code, out, _ = run(stack, capsys, "list", "--status", "error")
    assert code == 0 and "list-me" not in out
    code, _, err = run(stack, capsys, "list", "--status", "bogus")
    assert code == 2 and "status: 'bogus' is not a status" in err

    code, out, _ = run(stack, capsys, "events", "list-me", "--limit", "5")
    assert code == 0 and "registered" in out and "model_arn=" + arn("listme") in out
    code, out, _ = run(stack, capsys, "events", "list-me", "--json")
    assert code == 0 and json.loads(out)[-1]["kind"] == "registered"

    code, out, _ = run(stack, capsys, "cost", "list-me", "--days", "30")
    assert code == 0 and out.startswith("list-me over 30 days from ") and "always warm:" in out
    # Open around the clock: the schedule costs what keeping it warm does (1 CMU).
    code, out, _ = run(stack, capsys, "cost", "list-me", "--json")
    cost = json.loads(out)
    assert code == 0 and cost["always_warm_cost"] == pytest.approx(30 * 1440 * 0.05718, abs=0.01)
    code, _, err = run(stack, capsys, "cost", "no-such-model")
    assert code == 2 and "404" in err
    # Paused, it projects nothing, as the fleet does, and the output says why.
    assert request("PUT", f"{stack['api']}/models/list-me", {"enabled": False})[0] == 200
    code, out, _ = run(stack, capsys, "cost", "list-me", "--days", "30")
    assert code == 0 and "schedule:      $0.00 (0 billed minutes" in out
    assert "list-me is paused (enabled: false)" in out


def test_suggest_reads_the_models_traffic_and_prints_windows_to_put(stack, capsys):
    import boto3
    from datetime import datetime, timedelta, timezone

    model_arn = arn("suggestme1")
    assert request("POST", f"{stack['api']}/models", {"model_arn": model_arn, "name": "suggest-me",
                                                     "custom_model_units": 1,
                                                     "windows": [{"start": "00:00", "stop": "24:00"}]})[0] == 201
    # Two weeks of weekday office hours (UTC), as Bedrock counts them, in the stack's CloudWatch.
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = [end - timedelta(hours=i) for i in range(1, 14 * 24 + 1)]
    busy = [h for h in hours if h.isoweekday() <= 5 and 9 <= h.hour < 17]
    cloudwatch = boto3.client("cloudwatch", region_name="us-west-2", endpoint_url=stack["dynamodb_sqs"])
    cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=[
        {"MetricName": "Invocations", "Dimensions": [{"Name": "ModelId", "Value": model_arn}],
         "Timestamp": h, "Value": 25.0} for h in busy])
    code, out, _ = run(stack, capsys, "suggest", "suggest-me", "--weeks", "2", "--coverage", "1")
    assert code == 0 and "MON-FRI 09:00-17:00" in out and f"{25 * len(busy)} requests" in out, out
    code, out, _ = run(stack, capsys, "suggest", "suggest-me", "--weeks", "2", "--json")
    got = json.loads(out)
    assert code == 0 and got["windows"] == [{"days": "MON-FRI", "start": "09:00", "stop": "17:00"}]
    assert got["cold_requests"] == 0
    code, _, err = run(stack, capsys, "suggest", "no-such-model")
    assert code == 2 and "404" in err
    code, _, err = run(stack, capsys, "suggest", "suggest-me", "--coverage", "nan")
    assert code == 1 and "--coverage" in err


class Terminal(io.StringIO):
    """Standard input as a terminal where someone types ``answer``."""

    def isatty(self) -> bool:
        return True


def test_register_pause_resume_override_and_delete(stack, capsys, monkeypatch):
    a = arn("lifecycle1")
    code, out, _ = run(stack, capsys, "register", "life-one", a, "--window", "MON-FRI 09:00-18:00",
                       "--window", "22:00-23:30", "--timezone", "Europe/Paris", "--dry-run")
    assert code == 0 and out.startswith(f"would register life-one ({a}): MON-FRI 09:00-18:00; * 22:00-23:30 "
                                        "Europe/Paris\n"), out
    assert "life-one" not in names(stack)
    code, out, err = run(stack, capsys, "register", "life-one", a, "--window", "MON-FRI 09:00-18:00",
                         "--timezone", "Europe/Paris", "--exclude-date", "2026-12-25", "--holidays", "GB-ENG",
                         "--keepalive-minutes", "9", "--set", "billing_aware_prewarm=false", "--set",
                         "custom_model_units=2")
    assert code == 0, err
    assert out.splitlines()[0] == f"registered life-one ({a}): MON-FRI 09:00-18:00 Europe/Paris"
    stored = names(stack)["life-one"]
    assert (stored["holidays"], stored["exclude_dates"], stored["keepalive_minutes"],
            stored["billing_aware_prewarm"], stored["custom_model_units"]) == (
        {"country": "GB", "subdiv": "ENG"}, ["2026-12-25"], 9, False, 2)
    code, _, err = run(stack, capsys, "register", "life-two", a, "--window", "9-5")
    assert code == 1 and "expected [DAYS ]HH:MM-HH:MM" in err

    assert run(stack, capsys, "pause", "life-one")[:2] == (0, "paused life-one (resume with: keepwarm resume "
                                                               "life-one)\n")
    code, out, _ = run(stack, capsys, "status", "life-one")
    assert "paused: yes (resume with: keepwarm resume life-one)" in out.splitlines()
    code, out, _ = run(stack, capsys, "resume", "life-one")
    assert code == 0 and out.startswith("resumed life-one; next action: ") and names(stack)["life-one"]["enabled"]

    code, out, _ = run(stack, capsys, "override", "life-one", "warm", "--for", "2h")
    assert code == 0 and out.startswith("life-one is held warm until "), out
    request("POST", f"{stack['api']}/models/life-one/leases", {"minutes": 30, "holder": "nightly-etl"})
    code, out, _ = run(stack, capsys, "status", "life-one")
    lines = out.splitlines()
    assert "paused: no" in lines
    assert any(line.startswith("override: warm until ") for line in lines), lines
    assert "leases: 1 active" in lines
    assert any(line.startswith("  l") and "holder nightly-etl" in line for line in lines), lines
    code, out, _ = run(stack, capsys, "status", "life-one", "--json")
    assert code == 0 and json.loads(out)["state"]["override"]["state"] == "warm"
    assert run(stack, capsys, "override", "life-one", "clear")[0] == 0
    assert "override: none" in run(stack, capsys, "status", "life-one")[1].splitlines()
    code, _, err = run(stack, capsys, "override", "life-one", "cold")
    assert code == 1 and "needs --until TIME or --for DURATION" in err

    # delete: refused off a terminal without --yes; asked on one.
    code, _, err = run(stack, capsys, "delete", "life-one")
    assert code == 1 and "add --yes to go ahead; nothing deleted" in err and "life-one" in names(stack)
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, _, err = run(stack, capsys, "delete", "life-one")
    assert code == 1 and f"delete life-one ({a})? [y/N] " in err and "life-one" in names(stack)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert run(stack, capsys, "delete", "life-one")[:2] == (0, "deleted life-one\n")
    assert "life-one" not in names(stack)
    code, _, err = run(stack, capsys, "delete", "life-one", "--yes")
    assert code == 2 and "404" in err


def test_prune_asks_on_a_terminal(stack, capsys, tmp_path, monkeypatch):
    for name in ("prune-keep", "prune-drop"):
        assert request("POST", f"{stack['api']}/models", {"model_arn": arn(name.replace("-", "")), "name": name,
                                                          "windows": [{"start": "01:00", "stop": "02:00"}]})[0] == 201
    kept = {"models": [{k: v for k, v in m.items() if k in ("name", "model_arn", "windows")}
                       for n, m in names(stack).items() if n != "prune-drop"]}
    path = write(tmp_path, json.dumps(kept), ".json")
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    code, _, err = run(stack, capsys, "apply", path, "--prune")
    assert code == 1 and "(prune-drop)? [y/N] " in err and "prune-drop" in names(stack)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = run(stack, capsys, "apply", path, "--prune")
    assert code == 0 and "deleted prune-drop" in out and "prune-drop" not in names(stack)


def test_export_writes_what_apply_takes_back_unchanged(stack, capsys, tmp_path):
    """Every kind of model registered, exported: applying the file finds nothing to do;
    registered again from it, into an empty fleet, the export is the same file."""
    api = stack["api"]
    kinds = [
        {"name": "kind-office", "timezone": "America/New_York", "holidays": {"country": "US"},
         "windows": [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}], "exclude_dates": ["2026-12-24"]},
        {"name": "kind-cron", "windows": [{"warm": "30 6 * * MON-FRI", "stop": "0 8 * * MON-FRI"}],
         "keepalive_minutes": 5, "release_minutes": 8},
        {"name": "kind-paused", "enabled": False, "windows": [{"start": "22:00", "stop": "06:00"}],
         "holidays": {"country": "GB", "subdiv": "SCT"}},
        {"name": "kind-custom", "request_format": "custom", "request_body": {"prompt": "hi", "max_tokens": 1},
         "custom_model_units": 3, "billing_aware_prewarm": False,
         "windows": [{"days": "SAT,SUN", "start": "10:00", "stop": "24:00"}], "timezone": "Asia/Kolkata"},
    ]
    for n, body in enumerate(kinds):
        status, answer = request("POST", f"{api}/models", {"model_arn": arn(f"kind{n}"), **body})
        assert status == 201, answer
    exported = tmp_path / "fleet.yaml"
    code, out, _ = run(stack, capsys, "export", "--output", str(exported))
    count = len(names(stack))
    assert code == 0 and out == f"wrote {count} models to {exported}\n"
    text = exported.read_text()
    assert "- name: kind-office\n" in text and "windows:\n  - {days: MON-FRI, start: '09:00', stop: '18:00'}" in text

    code, out, _ = run(stack, capsys, "apply", str(exported), "--prune", "--dry-run")
    assert code == 0 and out.splitlines() == [f"plan: 0 to create, 0 to update, 0 to delete, {count} unchanged",
                                              "dry run: nothing changed"], out
    code, out, _ = run(stack, capsys, "export", "--format", "json")
    assert code == 0 and len(json.loads(out)["models"]) == count

    for name in names(stack):
        assert request("DELETE", f"{api}/models/{name}")[0] == 204
    code, out, _ = run(stack, capsys, "apply", str(exported))
    assert code == 0 and out.splitlines()[-1] == "applied"
    code, again, _ = run(stack, capsys, "export")
    assert code == 0 and again == text


def test_the_docs_commands_run_as_written(stack, tmp_path):
    """Every ``sh`` block of docs/cli.md, in order, in bash, against the running stack."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "docs" / "cli.md").read_text(), re.S)
    assert len(blocks) >= 10
    env = {**os.environ, "KEEPWARM_URL": stack["api"],
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for block in blocks:
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, (block, done.stdout, done.stderr)
    assert "support-bot" in names(stack) and "ops-bot" not in names(stack)
