"""The suite runs twice in one process (``pytest.main`` twice, as an IDE's re-run or a
mutation tool does): moto's backends live in the process, so a second run must not meet
the first one's tables, queues or rules."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TWICE = """
import sys, pytest
args = sys.argv[1:]
first = pytest.main(args)
second = pytest.main(args)
print("RUNS", int(first), int(second))
"""


def test_two_runs_in_one_process_both_pass():
    # A DynamoDB table, an SQS queue and an EventBridge rule on moto: each run creates its own.
    selection = ["tests/test_store.py::test_create_then_find_by_name_and_by_arn",
                 "tests/test_notify.py::test_an_unexpected_cold"]
    done = subprocess.run([sys.executable, "-c", TWICE, "-o", "addopts=", "-q", "-p", "no:cacheprovider", "-n", "0", *selection],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert "RUNS 0 0" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.stdout.count("3 passed") == 2, done.stdout[-3000:]
