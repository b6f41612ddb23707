"""The README and docs/ as a reader meets them: every relative link and anchor leads
somewhere, the README stays a front page, and its five-minute tour runs as written
against the local stack ``make run`` starts."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from live import ROOT, request, running_stack

# The tour's stack is started once for the module: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("docs-stack")

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
LOCAL_URL = "http://127.0.0.1:8000"  # what the README writes; the test's stack has its own port

# Pages the README and docs may link to before the change that brings them has landed
# ("docs/NAME.md": "what it is for"); until then only these may be missing, so any other
# broken link fails. Every page linked today is in the tree, so none is excused.
EXPECTED_ELSEWHERE: dict[str, str] = {}

FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text outside code blocks and inline code, where a link is a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text.replace("`", "")).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[str]:
    for match in LINK.finditer(prose(path.read_text())):
        target = match.group(1)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not ours
            yield target


def test_the_anchor_rule_is_githubs():
    assert slug("The `keepwarm` command and Python client") == "the-keepwarm-command-and-python-client"
    assert slug("A model's state") == "a-models-state"
    assert slug("Schedules, time zones and daylight saving") == "schedules-time-zones-and-daylight-saving"
    assert slug("What `make run` starts") == "what-make-run-starts"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path):
    broken = []
    for target in links(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            if rel not in EXPECTED_ELSEWHERE:
                broken.append(f"{target}: no file {rel}")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {rel}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_docs_index_lists_every_page_and_the_readme_links_it():
    index = ROOT / "docs" / "README.md"
    listed = {(index.parent / t.partition("#")[0]).resolve() for t in links(index)}
    pages = {p.resolve() for p in DOCS if p != index}
    pages |= {(ROOT / name).resolve() for name in EXPECTED_ELSEWHERE}
    assert not pages - listed, f"docs/README.md does not list {sorted(p.name for p in pages - listed)}"
    assert "docs/README.md" in set(links(README))


def test_the_readme_is_a_front_page_with_the_two_commands_first():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the reference belongs in docs/"
    first_screen = "\n".join(lines[:40])
    assert re.search(r"^make run\b", first_screen, re.M) and re.search(r"^make test\b", first_screen, re.M)
    # Both are exactly what works: the Makefile has the targets and CI runs make test.
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# --- the tour, run as written ---

def tour_blocks() -> list[str]:
    text = README.read_text()
    section = re.search(r"^## A five-minute tour\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## A five-minute tour' section"
    return re.findall(r"^```sh\n(.*?)^```", section.group(1), re.S | re.M)


def documents(text: str) -> list[Any]:
    """The JSON answers curl printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def run_block(block: str, url: str) -> subprocess.CompletedProcess:
    script = block.replace(LOCAL_URL, url)
    keepwarm = ROOT / ".venv" / "bin" / "keepwarm"
    if not keepwarm.exists():  # a suite run from another virtualenv: its own keepwarm
        script = script.replace(".venv/bin/keepwarm", str(Path(sys.executable).parent / "keepwarm"))
    env = {**os.environ, "KW": url, "KEEPWARM_URL": url}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def check_register(out: str) -> None:
    (model,) = documents(out)
    assert model["name"] == "support-bot" and model["timezone"] == "Asia/Shanghai", model
    assert model["state"]["status"] == "cold"


def check_show(out: str) -> None:
    model, windows = documents(out)
    assert model["name"] == "support-bot" and model["state"]["next_action"]["kind"], model
    assert windows["windows"] and all(w["open"].endswith("Z") for w in windows["windows"]), windows


def check_watch(out: str) -> None:
    model, events = documents(out)
    assert model["name"] == "demo-llama" and model["state"]["status"] in {"cold", "warming", "warm"}
    assert isinstance(events["events"], list)


def check_cli(out: str) -> None:
    assert "support-bot" in out and "demo-llama" in out and "ready" in out, out


def check_fleet(out: str) -> None:
    (fleet,) = documents(out)
    assert fleet["models"] == 3 and fleet["counts"]["warm"] >= 1, fleet


def check_cost(out: str) -> None:
    text = out.lstrip()
    cost, end = json.JSONDecoder().raw_decode(text)  # curl's answer, then the CLI's table
    assert cost["always_warm_cost"] > cost["cost"] > 0 and cost["saving"] > 0, cost
    assert "month_to_date" in cost
    assert "support-bot" in text[end:], text[end:]


def check_delete(out: str) -> None:
    assert out.strip() in {"", "null"}


# Each step the tour must keep, the command that shows it, and what its output must say.
STEPS: list[tuple[str, str, Callable[[str], None]]] = [
    ("register", "curl -s -X POST $KW/models", check_register),
    ("show", "curl -s $KW/models/support-bot\n", check_show),
    ("watch it warm", "curl -s $KW/models/demo-llama", check_watch),
    ("the CLI's status", ".venv/bin/keepwarm status support-bot", check_cli),
    ("the fleet", "curl -s $KW/fleet", check_fleet),
    ("cost", 'curl -s "$KW/models/support-bot/cost?days=30"', check_cost),
    ("clean up", "curl -s -X DELETE $KW/models/support-bot", check_delete),
]


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The local stack with make run's demo models, as the tour finds it."""
    with running_stack(tmp_path_factory.mktemp("docs-stack"), demo=True) as endpoints:
        yield endpoints


def test_the_readme_tour_runs_as_written(demo_stack):
    url = demo_stack["api"]
    blocks = tour_blocks()
    assert len(blocks) == len(STEPS), [b.splitlines()[0] for b in blocks]
    for block, (step, command, check) in zip(blocks, STEPS):
        assert command in block + "\n", f"the tour's {step} step no longer runs {command!r}"
        result = run_block(block, url)
        assert result.returncode == 0, f"{step}:\n{block}\n{result.stdout}\n{result.stderr}"
        check(result.stdout)
    assert request("GET", f"{url}/models/support-bot")[0] == 404  # the clean-up took


# --- docs/api.md's examples, run as written ---

MARK = "@@status "


def api_examples() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    found = re.search(r"^## Examples\n```sh\n(.*?)^```", text, re.S | re.M)
    assert found, "docs/api.md has no '## Examples' block"
    return found.group(1)


def answers(block: str, url: str) -> list[tuple[str, int, Any]]:
    """Each curl in the block with its HTTP status and answer: the commands run as written,
    only curl is wrapped to say where each answer ends and with which status."""
    wrapped = f"curl() {{ command curl -w '\\n{MARK}%{{http_code}}\\n' \"$@\"; }}\n{block}"
    result = run_block(wrapped, url)
    assert result.returncode == 0, result.stderr
    commands = re.findall(r"^curl .*?(?=^curl |^#|\Z)", block, re.S | re.M)
    parts = re.split(rf"^{MARK}(\d+)$", result.stdout, flags=re.M)
    bodies, statuses = parts[0:-1:2], [int(s) for s in parts[1::2]]
    assert len(statuses) == len(commands), (commands, result.stdout)
    return [(c.strip(), s, json.loads(b) if b.strip() else None)
            for c, s, b in zip(commands, statuses, bodies)]


def test_the_api_examples_run_as_written(demo_stack):
    """Every example answers as the API documents it: the example lease id was never taken
    (404), and the override's fixed date is refused only once it is out of reach."""
    from datetime import datetime, timedelta, timezone

    url = demo_stack["api"]
    for command, status, answer in answers(api_examples(), url):
        if "l3f9a0c1b2d4e" in command:
            assert status == 404 and "l3f9a0c1b2d4e" in answer["Message"], (command, answer)
        elif "/override" in command and "until" in command and status == 400:
            until = datetime.fromisoformat(re.search(r'"until": "([^"]+)"', command).group(1))
            now = datetime.now(timezone.utc)
            assert not now < until <= now + timedelta(days=31), (command, answer)
            assert answer["Message"].startswith("until:"), answer
        else:
            expected = 201 if command.startswith("curl -s -X POST") else 200
            assert status in (expected, 204), (command, status, answer)
    assert request("GET", f"{url}/models/support-bot")[0] == 404  # the last example deletes it
