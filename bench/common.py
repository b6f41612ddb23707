"""What both benchmarks share: an offline AWS environment, the machine's description,
markdown tables, and the sections of docs/benchmarks.md each benchmark rewrites."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

DOC_TITLE = "# Benchmarks"
DOC_INTRO = """\
Each section below is written by a benchmark itself and says the command and the commit it was
measured on; `make bench` reruns them all (`make bench-simulate`, `make bench-tick`, `make bench-load`
one at a time), each replacing its own section and leaving the others.
Everything runs on loopback: the imported-model simulator plays Bedrock, moto plays
DynamoDB, and credentials are fake.
"""


def offline_aws() -> None:
    """Make sure nothing this process builds can reach AWS.

    Fake credentials, no instance metadata, and every service endpoint pointed at a closed
    loopback port until the benchmark (or the test) points the ones it uses at its own
    stand-ins."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(var, None)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"


@contextmanager
def env(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block, then put them back."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def machine() -> str:
    """One line naming the machine the figures were measured on."""
    return (f"{platform.platform()}, {os.cpu_count()} CPUs ({platform.machine()}), "
            f"Python {platform.python_version()} ({platform.python_implementation()})")


def commit() -> str:
    """The commit measured, and whether tracked files had changes on top of it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {head}" + (" (with uncommitted changes)" if dirty else "")


def command_line(module: str, argv: Sequence[str]) -> str:
    return " ".join(["python -m", module, *argv]).strip()


def table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A markdown table; ``align`` is one letter per column (l, r, c), left by default."""
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    spec = [marks[align[i]] if i < len(align) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(spec) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(path: Path, key: str, text: str) -> None:
    """Replace this benchmark's section of the doc (between its markers), keeping the rest.

    Each benchmark owns one section, so running one does not erase the other's figures."""
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text() if path.exists() else f"{DOC_TITLE}\n\n{DOC_INTRO}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: block, current)
    else:
        updated = current.rstrip() + "\n\n" + block + "\n"
    updated = _ordered(updated)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated.rstrip() + "\n")


# Known sections come first, in this order, however the benchmarks were first run; any
# other section keeps its place among the rest.
SECTION_ORDER = ("simulate", "tick_scaling", "load-memory", "load-dynamo")
_BLOCK = re.compile(r"<!-- bench:([\w-]+) -->.*?<!-- /bench:\1 -->", re.S)


def _ordered(text: str) -> str:
    blocks = [(m.group(1), m.group(0)) for m in _BLOCK.finditer(text)]
    head = _BLOCK.sub("", text)
    head = re.sub(r"\n{3,}", "\n\n", head).rstrip()
    rank = {key: i for i, key in enumerate(SECTION_ORDER)}
    blocks.sort(key=lambda kb: rank.get(kb[0], len(rank)))  # stable: the others keep their order
    return head + "\n\n" + "\n\n".join(block for _, block in blocks) + "\n"


def log(message: str) -> None:
    """Progress goes to stderr: stdout carries the markdown only."""
    print(message, file=sys.stderr, flush=True)
