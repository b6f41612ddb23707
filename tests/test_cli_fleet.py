"""The fleet commands (``keepwarm list``, ``events``, ``cost``, ``apply``) against the
local stack's real HTTP API, as an operator runs them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from keepwarm_client.cli import main

from live import request

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

    code, out, _ = run(stack, capsys, "apply", path, "--prune")
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
    assert code == 0 and out.splitlines()[0] == "~ update fleet-a: timezone"
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
