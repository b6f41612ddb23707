"""The fleet page in a real browser: headless Chromium loads /status from the local stack
as ``make run`` starts it, with its demo models; a screenshot is kept in the test's
directory and the DOM the browser built must show each model, its status and its day."""
from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest
from live import running_stack

from chalicelib.fleet import STATUSES
from local.stack import DEMO_MODELS

# Starts a stack of its own: its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("fleet-browser")

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: install Debian's chromium (apt-get install chromium; "
                "make test does it when run as root with apt-get)")


def chromium(tmp: Path, *args: str) -> str:
    """Run headless Chromium with a profile of its own (tests may run side by side)."""
    done = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    browser()  # skip before starting anything
    with running_stack(tmp_path_factory.mktemp("demo-stack"), demo=True) as endpoints:
        yield endpoints


class Dom(HTMLParser):
    """Each table row of a model: its status badge's text, and the timeline's shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self._row: dict | None = None
        self._in_badge = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-model" in attrs:
            self._row = self.rows.setdefault(attrs["data-model"], {"status": "", "svg": [], "shapes": set()})
        elif self._row is not None:
            classes = (attrs.get("class") or "").split()
            if tag == "span" and "status" in classes:
                self._in_badge = True
            if tag == "svg" and "timeline" in classes:
                self._row["svg"].append(attrs.get("data-model"))
            if tag in ("rect", "line", "circle") and classes:
                self._row["shapes"].update(classes)

    def handle_endtag(self, tag):
        if tag == "span":
            self._in_badge = False
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._in_badge and self._row is not None:
            self._row["status"] += data.strip()


def test_the_browser_shows_each_demo_model_with_its_status_and_timeline(demo_stack, tmp_path):
    url = demo_stack["fleet_page"]
    assert url.endswith("/status")
    shot = tmp_path / "fleet.png"
    chromium(tmp_path, "--window-size=1400,600", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000  # a page was drawn, not a blank
    dom = Dom()
    dom.feed(chromium(tmp_path, "--dump-dom", url))
    assert set(dom.rows) == set(DEMO_MODELS)
    for name, row in dom.rows.items():
        assert row["status"] in STATUSES, (name, row)
        assert row["svg"] == [name]
        # The demo window opens five minutes after the stack started: it is drawn, and so is now.
        assert {"window", "now"} <= row["shapes"], (name, row)
