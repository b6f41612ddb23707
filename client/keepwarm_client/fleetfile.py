"""``keepwarm apply FILE``: the whole fleet described in one YAML or JSON file, applied
idempotently. Kept in git by ops teams; applying it twice changes nothing the second time.

    models:
      - name: support-bot
        model_arn: arn:aws:bedrock:us-west-2:123456789012:imported-model/km5b98xhpqel
        timezone: Asia/Shanghai
        windows: [{days: MON-FRI, start: "09:00", stop: "18:00"}]

Each entry is a registration body (the README's fields). A model in the file and not
registered is created; one registered whose stored values differ from what the entry
gives is updated (fields the entry leaves out keep their value); with ``prune``, a
registered model the file does not name is deleted. Every entry is checked first, by the
API itself (``?dry_run=true``): if any is invalid nothing is applied.

``keepwarm export`` writes the registered models in this format (:func:`export`): applied
to the same API, that file changes nothing.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from keepwarm_client.client import KeepwarmClient, KeepwarmError

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class FleetFileError(Exception):
    """The file is not a fleet description; the message names the model and the field."""


@dataclass
class Plan:
    create: list[dict] = field(default_factory=list)
    update: list[tuple[str, dict]] = field(default_factory=list)  # name, the fields that change
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # name -> field -> (stored now, as it would be stored), for each update
    diffs: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)

    def lines(self) -> list[str]:
        out = [f"+ create {body['name']}" for body in self.create]
        for name, change in self.update:
            out.append(f"~ update {name}")
            diff = self.diffs.get(name, {})
            out += [f"    {key}: {shown(diff[key][0])} -> {shown(diff[key][1])}" if key in diff else f"    {key}"
                    for key in sorted(change)]
        out += [f"- delete {name}" for name in self.delete]
        out.append(f"plan: {len(self.create)} to create, {len(self.update)} to update, {len(self.delete)} to delete, "
                   f"{len(self.unchanged)} unchanged")
        return out


def shown(value: Any) -> str:
    """A field's value on one line: text as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """YAML's dates and times as the ISO text the API takes."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, (date, datetime)) else str(v)))


def load(path: Path) -> list[dict]:
    """The file's model entries: ``{"models": [...]}`` or a bare list, in YAML or JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FleetFileError(f"{path}: cannot read it ({err})") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:
            raise FleetFileError(f"{path}: not JSON, and reading YAML needs PyYAML (pip install pyyaml)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise FleetFileError(f"{path}: neither JSON nor YAML ({err})") from None
    data = _plain(data)
    models = data.get("models") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"models"}:
        raise FleetFileError(f"{path}: unknown top-level key(s) {sorted(set(data) - {'models'})}; "
                             "expected {models: [...]}")
    if not isinstance(models, list):
        raise FleetFileError(f"{path}: expected a list of models, or {{models: [...]}}")
    return models


def check_entries(models: list, fields: set[str]) -> list[str]:
    """What is wrong with the entries' shape, one line each, naming the model and field."""
    problems, names, arns = [], set(), {}
    for i, entry in enumerate(models):
        where = f"models[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping of registration fields")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems.append(f"{where}: name: {name!r} must be given: 1-63 lowercase letters, digits or hyphens")
            continue
        where = f"model {name}"
        if name in names:
            problems.append(f"{where}: name: appears more than once")
        names.add(name)
        unknown = sorted(set(entry) - fields)
        if unknown:
            problems.append(f"{where}: {unknown[0]}: not a registration field (fields: {', '.join(sorted(fields))})")
        arn = entry.get("model_arn")
        if arn is None:
            problems.append(f"{where}: model_arn: is required")
        elif arn in arns:
            problems.append(f"{where}: model_arn: also given for {arns[arn]}")
        else:
            arns[arn] = name
    return problems


def _problem(name: str, err: KeepwarmError) -> str:
    return f"model {name}: {err.message if err.status is not None else err}"


def plan(client: KeepwarmClient, models: list[dict], current: list[dict], prune: bool) -> tuple[Plan, list[str]]:
    """What applying ``models`` over the ``current`` ones would do, and what is wrong with
    it. Every create and update is checked by the API (``?dry_run=true``), whose answer is
    also what decides "unchanged": the model as it would be stored, compared field by
    field with the model as it is (the API fills in what a window leaves out, say)."""
    registered = {m["name"]: m for m in current}
    result, problems = Plan(), []
    for entry in models:
        name, was = entry["name"], registered.get(entry["name"])
        try:
            if was is None:
                client.register(entry, dry_run=True)
                result.create.append(entry)
                continue
            body = {k: v for k, v in entry.items() if k != "name"}
            after = client.update(name, body, dry_run=True)
        except KeepwarmError as err:
            problems.append(_problem(name, err))
            continue
        change = {k: v for k, v in body.items() if after.get(k) != was.get(k)}
        if change:
            result.update.append((name, change))
            result.diffs[name] = {k: (was.get(k), after.get(k)) for k in change}
        else:
            result.unchanged.append(name)
    if prune:
        named = {entry["name"] for entry in models}
        result.delete = sorted(name for name in registered if name not in named)
    return result, problems


def registration_fields(client: KeepwarmClient) -> set[str]:
    """The fields a registration takes, as the API's own document lists them."""
    schema = client.document()["components"]["schemas"]["Registration"]
    return set(schema["properties"])


def apply(client: KeepwarmClient, todo: Plan, say: Any) -> None:
    """Carry out the plan, saying each step; a failure stops it (KeepwarmError) with the
    steps already done said."""
    for body in todo.create:
        client.register(body)
        say(f"created {body['name']}")
    for name, change in todo.update:
        client.update(name, change)
        say(f"updated {name}")
    for name in todo.delete:
        client.delete(name)
        say(f"deleted {name}")


# The order an entry's fields are written in: who, then when, then the rest as the API lists them.
FIRST = ("name", "model_arn", "timezone", "windows")


def export(models: list[dict], fields: set[str]) -> dict:
    """``{"models": [...]}`` for the registered ``models`` (as ``GET /models`` gives them):
    each one's registration ``fields``, those it leaves unset (null) left out."""
    entries = []
    for model in sorted(models, key=lambda m: m["name"]):
        order = [f for f in FIRST if f in fields] + sorted(fields - set(FIRST))
        entries.append({f: model[f] for f in order if model.get(f) is not None})
    return {"models": entries}


def dump(fleet: dict, kind: str = "yaml") -> str:
    """The fleet as YAML (windows and other small values on one line each) or JSON."""
    if kind == "json":
        return json.dumps(fleet, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(fleet, sort_keys=False, default_flow_style=None, allow_unicode=True, width=110)
