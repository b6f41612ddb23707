"""The fleet page in a real browser: Playwright drives Debian's headless Chromium.

- A fleet with every reason to be warm (a window, a lease and its holder, an override), a
  model in error with a long message, readiness records, and enough models to scroll, is
  served over HTTP on loopback by the page's own renderer: at 600 and 1400 px nothing
  scrolls sideways and no element is wider than the screen; each model says its zone, why
  it is warm and until when; the error is shown once; a refresh, in place or a reload,
  keeps the scroll position and the open details. The screenshots go to the test's own
  directory; ``KEEPWARM_SCREENSHOTS=docs`` (``make screenshots``) refreshes docs/'s.
- The local stack as ``make run`` starts it serves the page at /status with its demo
  models, and an icon at /favicon.ico.
"""
from __future__ import annotations

import os

import shutil
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from helpers import at
from live import running_stack

from chalicelib import fleetpage
from chalicelib.fleet import STATUSES, summary
from chalicelib.inputs import new_config
from chalicelib.records import Event, Lease, Model, ModelState, Override
from chalicelib.settings import Settings
from chalicelib.store import MemoryStore
from local.stack import DEMO_MODELS

# Starts a browser and a stack of its own: its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("fleet-browser")

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
SETTINGS = Settings(table_name="t", queue_url="q", cmu_prices='{"us-west-2": 0.05718}')
NOW = at(10, 7)  # Monday 10:07 UTC
LONG_ERROR = ("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/keepwarm-prod-WorkerRole-1A2B3C4D5E6F/"
              "keepwarm-prod-worker is not authorized to perform: bedrock:InvokeModel on resource: "
              "arn:aws:bedrock:us-west-2:123456789012:imported-model/brokenmodel1 because no identity-based "
              "policy allows the bedrock:InvokeModel action")
READINESS = {"recent": [{"window_open": (at(9, day=-d)).isoformat(), "window_close": at(18, day=-d).isoformat(),
                         "ready_at_open": d != 3, "late_seconds": 0.0 if d != 3 else 42.0,
                         "verified_warm_minutes": 540.0, "verified_share": 0.99 if d != 3 else 0.93,
                         "unexpected_cold": 0, "cold_starts": 1} for d in (0, 1, 2, 3, 4, 7)],
             "summary": {"openings": 6, "ready_at_open": 5, "late_seconds_max": 42.0, "verified_share": 0.98}}


def arn(i: int) -> str:
    return f"arn:aws:bedrock:us-west-2:123456789012:imported-model/fp{i:010d}"


def crafted_fleet() -> MemoryStore:
    """A fleet with one model for each thing the page must explain, and some to scroll."""
    store = MemoryStore()

    def add(i: int, name: str, zone: str, windows, state: ModelState, **config) -> None:
        store.create(Model(new_config({"model_arn": arn(i), "name": name, "timezone": zone, "windows": windows,
                                       "custom_model_units": 2, **config}, NOW, SETTINGS), state))

    office = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]
    add(1, "support-bot", "Europe/London", office,
        ModelState(status="warm", last_success_at=NOW - timedelta(minutes=5), cold_starts=(88.0, 95.0, 120.0)))
    add(2, "nightly-batch", "America/New_York", [{"start": "01:00", "stop": "03:00"}],
        ModelState(status="warming", warming_since=NOW - timedelta(seconds=40), last_call_at=NOW - timedelta(seconds=5),
                   leases=(Lease("l0123456789ab", NOW - timedelta(minutes=2), NOW + timedelta(minutes=90),
                                 "nightly-etl"),)))
    add(3, "tokyo-chat", "Asia/Tokyo", [{"start": "09:00", "stop": "18:00"}],
        ModelState(status="warm", last_success_at=NOW - timedelta(minutes=9),
                   override=Override("warm", NOW + timedelta(hours=5), NOW - timedelta(hours=1))))
    add(4, "broken-model-with-a-long-name-for-the-layout", "UTC", office,
        ModelState(status="error", error=LONG_ERROR, error_kind="fatal", error_at=NOW - timedelta(minutes=25)))
    add(5, "paused-model", "UTC", office, ModelState(), enabled=False)
    for i in range(6, 16):
        add(i, f"team-{i:02d}-summariser", "Europe/Berlin", [{"start": "14:00", "stop": "16:00"}], ModelState())
    for minutes in range(-45, 0, 14):
        store.add_event("support-bot", Event(NOW + timedelta(minutes=minutes), "call", {"outcome": "ready"}), 30)
    store.add_event("broken-model-with-a-long-name-for-the-layout",
                    Event(NOW - timedelta(minutes=25), "error", {"reason": LONG_ERROR}), 30)
    return store


class Page(BaseHTTPRequestHandler):
    """/status: the page as the service renders it, with readiness records for support-bot
    (as GET /models/{model} will show them); each request a second later than the last."""

    store: MemoryStore
    served = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/favicon.ico":
            return self.answer(fleetpage.FAVICON_SVG, "image/svg+xml")
        if self.path != "/status":
            return self.answer("", "text/plain", 404)
        Page.served += 1
        now = NOW + timedelta(seconds=Page.served)
        fleet, rows = fleetpage.gather(self.store, SETTINGS, now)
        for row in rows:
            if row.entry.name == "support-bot":
                row.shown["readiness"] = READINESS
        facts = {**summary(fleet, now), "readiness": {"openings": 60, "ready_at_open": 58, "days": 7}}
        body = fleetpage.render(fleet, rows, now, SETTINGS, facts=facts)
        self.answer(fleetpage.document(body, refresh_seconds=1), "text/html; charset=utf-8")

    def answer(self, body: str, kind: str, status: int = 200) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip("no headless browser: install Debian's chromium (apt-get install chromium; "
                    "make test does it when run as root with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    Page.store = crafted_fleet()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/status"
    server.shutdown()
    server.server_close()


# Anything wider than the screen, or starting left of it, by more than a rounding error.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth, wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5))
      wide.push(el.tagName + '.' + el.getAttribute('class') + ' ' + Math.round(box.left) + '..' + Math.round(box.right));
  }
  const page = document.scrollingElement;
  return {scroll: page.scrollWidth, client: page.clientWidth, wide: wide.slice(0, 10)};
}"""


def block(page, name: str) -> str:
    return page.locator(f'.model[data-model="{name}"]').inner_text()


@pytest.mark.parametrize("width", [600, 1400])
def test_the_page_fits_the_screen_and_says_why_each_model_is_warm_and_until_when(browser, page_url, width, tmp_path):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(page_url)
    fit = page.evaluate(OVERFLOW)
    assert fit["scroll"] <= fit["client"] and not fit["wide"], fit
    # A test run leaves the tracked images alone; docs/ gets new ones only when asked.
    shots = DOCS if os.environ.get("KEEPWARM_SCREENSHOTS") == "docs" else tmp_path
    page.screenshot(path=str(shots / f"fleet-{width}.png"), full_page=True)

    assert [page.locator(".model").nth(i).get_attribute("data-status") for i in range(5)] == [
        "error", "warming", "warm", "warm", "cold"]
    london = block(page, "support-bot")
    assert "Europe/London, 10:07 there" in london  # March: London is on UTC
    assert "Warm: window 09:00–18:00; held warm until 18:00 (in 8 h)" in london
    assert "ready at 5 of 6 openings in 7 days" in london
    batch = block(page, "nightly-batch")
    assert "America/New_York, 06:07 there" in batch
    assert "Warming: lease held by nightly-etl until 07:37 (in 90 min)\n" in batch
    tokyo = block(page, "tokyo-chat")
    assert "Asia/Tokyo, 19:07 there" in tokyo and "warm override until Tue 10 Mar 00:07 (in 5 h)" in tokyo
    assert "paused" in block(page, "paused-model")
    assert "58 of 60" in page.locator('.chip[data-count="readiness"]').inner_text()
    # The error in full, once (the banner names the model and links to it), wrapped.
    text = page.locator("body").inner_text()
    assert text.count(LONG_ERROR) == 1
    error = page.locator(".model[data-status=error] p.error")
    assert error.inner_text() == LONG_ERROR and error.bounding_box()["height"] > 30
    assert page.locator(".banner a").get_attribute("href") == "#m-broken-model-with-a-long-name-for-the-layout"
    # The timeline around now: four pixels a minute, its times in the model's zone.
    strip = page.locator('.model[data-model="support-bot"] svg.timeline')
    assert strip.bounding_box()["width"] == 480 and "10:15" in strip.inner_html()
    page.close()


def test_a_refresh_keeps_the_scroll_position_and_the_open_details(browser, page_url):
    page = browser.new_page(viewport={"width": 600, "height": 700})
    page.goto(page_url)
    name = "team-09-summariser"
    page.locator(f'details[data-key="{name}"] summary').click()
    page.evaluate("window.scrollTo(0, 900)")
    before = page.locator(".meta").inner_text()
    page.wait_for_function("t => document.querySelector('.meta').innerText !== t", arg=before, timeout=5000)
    assert page.evaluate("window.scrollY") == 900
    assert page.locator(f'details[data-key="{name}"]').evaluate("d => d.open")
    assert page.locator('details[open]').count() == 1
    # A reload (F5) puts both back too.
    page.reload()
    page.wait_for_function("() => window.scrollY === 900", timeout=5000)
    assert page.locator(f'details[data-key="{name}"]').evaluate("d => d.open")
    page.close()


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory, browser) -> Iterator[dict[str, str]]:
    with running_stack(tmp_path_factory.mktemp("demo-stack"), demo=True) as endpoints:
        yield endpoints


def test_the_local_stack_serves_the_page_with_each_demo_model_and_an_icon(browser, demo_stack):
    url = demo_stack["fleet_page"]
    assert url.endswith("/status")
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    page.goto(url)
    blocks = page.locator(".model")
    assert {blocks.nth(i).get_attribute("data-model") for i in range(blocks.count())} == set(DEMO_MODELS)
    for name in DEMO_MODELS:
        model = page.locator(f'.model[data-model="{name}"]')
        assert model.get_attribute("data-status") in STATUSES
        assert "UTC" in model.locator(".zone").inner_text()
        # The demo window opens five minutes after the stack started: both strips show it,
        # and now.
        assert model.locator("svg.timeline rect.window").count() == 1
        assert model.locator("svg.day rect.window").count() >= 1 and model.locator("svg.timeline line.now").count()
    icon = page.request.get(url.replace("/status", "/favicon.ico"))
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    page.close()
