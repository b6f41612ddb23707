"""The fleet view: GET /models filters and their pagination, GET /fleet, and the fleet page
(the custom widget's HTML and /status), on the in-memory store and through the routes."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from helpers import at
from hypothesis import given, settings as hsettings, strategies as st

from chalicelib import fleetpage
from chalicelib.fleet import ModelFilter, day_of, list_models, read_fleet, summary
from chalicelib.inputs import RequestError, new_config
from chalicelib.records import Event, Lease, Model, ModelState
from chalicelib.settings import Settings
from chalicelib.store import MemoryStore

SETTINGS = Settings(table_name="t", queue_url="q")
NOW = at(10)  # Monday 10:00 UTC: inside the 09:00-18:00 window
HOURS = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]


def arn(i: int) -> str:
    return f"arn:aws:bedrock:us-west-2:123456789012:imported-model/m{i:011d}"


def model(i: int, status: str = "cold", enabled: bool = True, name: str | None = None, cmus: int | None = 2,
          windows=HOURS) -> Model:
    config = new_config({"model_arn": arn(i), "name": f"m-{i:03d}", "windows": windows,
                         "enabled": enabled, **({"custom_model_units": cmus} if cmus else {})}, NOW, SETTINGS)
    if name:  # a name the API would refuse, written past it: the page must still escape it
        config = replace(config, name=name)
    state = ModelState()
    if status == "warm":
        state = ModelState(status="warm", last_success_at=NOW - timedelta(minutes=3))
    elif status == "error":
        state = ModelState(status="error", error=f"AccessDeniedException: no <b>access</b> to m-{i}",
                           error_at=NOW - timedelta(hours=1))
    return Model(config, state)


def fleet_of(specs) -> MemoryStore:
    store = MemoryStore()
    for i, (status, enabled) in enumerate(specs):
        store.create(model(i, status, enabled))
    return store


def pages(store, params, limit, max_scanned):
    token, seen = None, []
    for _ in range(1000):
        query = {**params, "limit": str(limit), **({"next_token": token} if token else {})}
        page = list_models(store, SETTINGS, query, NOW, max_scanned=max_scanned)
        assert len(page["models"]) <= limit
        seen += page["models"]
        token = page["next_token"]
        if token is None:
            return seen
    raise AssertionError("pagination never ended")


SPECS = st.lists(st.tuples(st.sampled_from(["cold", "warm", "error"]), st.booleans()), max_size=25)
FILTERS = st.fixed_dictionaries({}, optional={
    "status": st.lists(st.sampled_from(["cold", "warming", "warm", "error"]), min_size=1, max_size=3)
    .map(",".join),
    "paused": st.sampled_from(["true", "false"]),
    "window_open": st.sampled_from(["true", "false"])})


@hsettings(max_examples=60, deadline=None)
@given(SPECS, FILTERS, st.integers(1, 7), st.integers(1, 9))
def test_filtered_pages_together_are_exactly_the_matching_models_in_name_order(specs, params, limit, scan):
    store = fleet_of(specs)
    everything = pages(store, {}, 100, 500)
    chosen = ModelFilter.from_query(params)
    expected = [m["name"] for m in everything if chosen.matches(m)]
    assert [m["name"] for m in pages(store, params, limit, scan)] == expected
    if "status" in params:
        assert {m["state"]["status"] for m in pages(store, params, limit, scan)} <= set(params["status"].split(","))


def test_status_error_lists_only_the_models_in_error():
    store = fleet_of([("warm", True), ("error", True), ("cold", False), ("error", True)])
    page = list_models(store, SETTINGS, {"status": "error"}, NOW)
    assert [m["name"] for m in page["models"]] == ["m-001", "m-003"] and page["next_token"] is None
    both = list_models(store, SETTINGS, {"status": "error,warm"}, NOW)
    assert [m["name"] for m in both["models"]] == ["m-000", "m-001", "m-003"]
    paused = list_models(store, SETTINGS, {"paused": "true"}, NOW)
    assert [m["name"] for m in paused["models"]] == ["m-002"]


@pytest.mark.parametrize("params, field, named", [
    ({"status": "bogus"}, "status", "'bogus'"),
    ({"status": "warm,frozen"}, "status", "'frozen'"),
    ({"status": "warm,"}, "status", "''"),
    ({"paused": "maybe"}, "paused", "'maybe'"),
    ({"window_open": "1"}, "window_open", "'1'"),
    ({"stauts": "error"}, "query", "'stauts'"),
])
def test_a_bad_filter_is_refused_naming_the_field_and_value(params, field, named):
    with pytest.raises(RequestError) as refused:
        list_models(fleet_of([("warm", True)]), SETTINGS, params, NOW)
    assert refused.value.field == field and named in str(refused.value)


def test_fleet_counts_errors_and_the_months_projected_cost():
    store = fleet_of([("warm", True), ("error", True), ("cold", True), ("cold", False)])
    store.create(model(9, cmus=None))  # CMUs never learned: not priced, and says why
    facts = summary(read_fleet(store, SETTINGS, NOW), NOW)
    assert facts["models"] == 5 and facts["paused"] == 1
    assert facts["counts"] == {"cold": 3, "warming": 0, "warm": 1, "error": 1}
    assert facts["errors"] == [{"name": "m-001", "error": "AccessDeniedException: no <b>access</b> to m-1",
                                "since": "2026-03-09T09:00:00Z"}]
    cost = facts["cost"]
    assert (cost["month"], cost["from"], cost["to"]) == ("2026-03", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    # 22 working days of 09:00-18:00 in March 2026, each billed from a little before the
    # open to the release after the close: 2 CMUs at $0.05718 a minute, for three models
    # (the paused one costs nothing).
    one = cost["projected"] / 3
    assert 22 * 540 * 2 * 0.05718 < one < 22 * 580 * 2 * 0.05718
    assert cost["models_priced"] == 4 and cost["unpriced"] == [{"name": "m-009", "why": cost["unpriced"][0]["why"]}]
    assert "custom_model_units" in cost["unpriced"][0]["why"]


def test_the_day_shows_windows_held_spans_cold_spells_calls_and_errors():
    m = model(1, "warm")
    start, end = at(0), at(24)
    events = [Event(at(8, 56), "call", {"outcome": "not_ready"}).to_item(),
              Event(at(8, 58), "cold_start", {"seconds": 120.0}).to_item(),
              Event(at(8, 58), "call", {"outcome": "ready"}).to_item(),
              Event(at(9, 12), "call", {"outcome": "ready"}).to_item(),
              Event(at(9, 40), "error", {"reason": "ThrottlingException: gave up"}).to_item(),
              Event(at(9, 59), "call", {"outcome": "ready"}).to_item()]
    day = day_of(m, events, start, end, NOW, "warm")
    assert day.windows == [(at(9), at(18))]
    # Held from the first success; the 47-minute gap (past the 15-minute release) splits it.
    assert day.warm == [(at(8, 58), at(9, 27)), (at(9, 59), NOW)]
    assert day.cold == [(at(8, 56), at(8, 58))]
    assert [c[1] for c in day.calls] == ["not_ready", "ready", "ready", "ready"]
    assert day.errors == [(at(9, 40), "ThrottlingException: gave up")]


class _Page(HTMLParser):
    """What a browser would build: the elements, their attributes, the text, and the
    scripts' text apart."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.scripts = [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def only_its_own_script(self) -> bool:
        return self.scripts == [fleetpage.SCRIPT] and not [a for t, a in self.tags if t == "script" and a]


HOSTILE = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'


def test_the_page_escapes_everything_a_user_wrote():
    store = MemoryStore()
    hostile = model(1, "error", name=f'evil"><svg onload=alert(1)>{HOSTILE}')
    hostile = replace(hostile, state=replace(hostile.state, error=HOSTILE))
    store.create(hostile)
    leased = model(2, "warm")
    leased = replace(leased, state=replace(leased.state, leases=(Lease("l0123456789ab", NOW, NOW + timedelta(hours=1),
                                                                       HOSTILE),)))
    store.create(leased)
    store.add_event(hostile.name, Event(at(9, 30), "error", {"reason": HOSTILE}), 30)
    html = fleetpage.render_page(store, SETTINGS, NOW)
    page = _Page()
    page.feed(html)
    assert not [t for t, _ in page.tags if t == "img"] and page.only_its_own_script()
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    text = "".join(page.text)
    assert HOSTILE in text  # shown, as text
    rows = [attrs for tag, attrs in page.tags if tag == "div" and "model" in attrs.get("class", "").split()]
    assert {r["data-model"] for r in rows} == {hostile.name, "m-002"}


def test_the_page_shows_each_model_worst_first_with_its_timeline_and_the_fleets_figures():
    store = fleet_of([("cold", True), ("warm", True), ("error", True)])
    store.add_event("m-001", Event(at(9, 50), "call", {"outcome": "ready"}), 30)
    html = fleetpage.render_page(store, SETTINGS, NOW, refresh_seconds=5)
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html  # without script
    assert 'data-refresh="5"' in html  # with it: in place
    assert re.findall(r'<div class="model" id="[^"]+" data-model="([^"]+)" data-status="([^"]+)"', html) == [
        ("m-002", "error"), ("m-001", "warm"), ("m-000", "cold")]
    assert html.count('<svg class="timeline"') == 3 and html.count('<svg class="day"') == 3
    warm_row = html[html.index('data-model="m-001"'):html.index('data-model="m-000"')]
    assert 'class="warm"' in warm_row and 'class="call"' in warm_row and 'class="window"' in warm_row
    assert 'class="now"' in warm_row
    assert "Warm: window 09:00–18:00; held warm until 18:00 (in 8 h)" in warm_row
    # The error once, in its model's block; the banner names the model and links to it.
    assert "1 in error" in html and '<a href="#m-m-002">m-002</a>' in html
    assert html.count("AccessDeniedException: no &lt;b&gt;access&lt;/b&gt; to m-2") == 1
    assert re.search(r"\$[\d,]+\.\d\d</b>projected for 2026-03 \(3 of 3 priced\)", html)


def test_the_widget_answers_describe_and_reads_the_day_in_the_dashboards_zone(runtime, client):
    from helpers import register

    assert client.lambda_.invoke("fleet_widget", {"describe": True}).payload == fleetpage.WIDGET_DOCS
    event = {"widgetContext": {"dashboardName": "keepwarm", "timezone": {
        "label": "Asia/Shanghai", "offsetISO": "+08:00", "offsetInMinutes": -480}, "params": {}}}
    assert "No models registered yet" in client.lambda_.invoke("fleet_widget", event).payload
    register(client, model_arn=arn(1), name="alpha")
    html = client.lambda_.invoke("fleet_widget", event).payload
    assert "<html" not in html and "<script" not in html and 'data-model="alpha"' in html
    # Monday 08:00 UTC is 16:00 in Shanghai: the update time is the dashboard's; the model's
    # day and times are its own zone's (London, on UTC this week): its window 09:00-18:00
    # starts at 9/24 of the day's strip.
    assert "Updated 2026-03-09 16:00:00 Asia/Shanghai" in html and "Europe/London, 08:00 there" in html
    day = html[html.index('<svg class="day"'):]
    window = re.search(r'<rect class="window" x="([\d.]+)"', day)
    assert window and float(window.group(1)) == pytest.approx(9 / 24 * fleetpage.WIDTH, abs=0.2)


def test_the_routes_serve_filters_the_fleet_and_the_status_page(runtime, client):
    from helpers import register

    register(client, model_arn=arn(1), name="alpha", custom_model_units=1)
    register(client, model_arn=arn(2), name="beta", enabled=False, custom_model_units=1)
    listed = client.http.get("/models?status=cold&status=warm&paused=true").json_body
    assert [m["name"] for m in listed["models"]] == ["beta"]
    bad = client.http.get("/models?status=bogus")
    assert bad.status_code == 400 and "status: 'bogus' is not a status" in bad.json_body["Message"]
    assert len(client.http.get("/models").json_body["models"]) == 2  # refused input lost nothing
    facts = client.http.get("/fleet").json_body
    assert facts["models"] == 2 and facts["paused"] == 1 and facts["cost"]["models_priced"] == 2
    page = client.http.get("/status")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'data-model="alpha"' in page.body.decode() and 'data-model="beta"' in page.body.decode()
    assert '<link rel="icon" type="image/svg+xml"' in page.body.decode()
    icon = client.http.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/svg+xml"
    assert icon.body.decode().startswith("<svg")


def test_a_dry_run_answers_what_would_be_stored_and_stores_nothing(runtime, client):
    from helpers import register, send

    register(client, model_arn=arn(1), name="alpha")
    new = send(client, "POST", "/models?dry_run=true", {"model_arn": arn(2), "name": "beta", "windows": HOURS})
    assert new.status_code == 200 and new.json_body["name"] == "beta"
    changed = send(client, "PUT", "/models/alpha?dry_run=true", {"timezone": "Asia/Tokyo"})
    assert changed.status_code == 200 and changed.json_body["timezone"] == "Asia/Tokyo"
    bad = send(client, "PUT", "/models/alpha?dry_run=true", {"windows": [{"start": "9am", "stop": "18:00"}]})
    assert bad.status_code == 400 and bad.json_body["Message"].startswith("windows[0].start:")
    taken = send(client, "POST", "/models?dry_run=true", {"model_arn": arn(3), "name": "alpha", "windows": HOURS})
    assert taken.status_code == 409
    assert send(client, "POST", "/models?dry_run=maybe", {"model_arn": arn(2), "windows": HOURS}).status_code == 400
    models = client.http.get("/models").json_body["models"]
    assert [(m["name"], m["timezone"]) for m in models] == [("alpha", "Europe/London")]


ALLOWED_TAGS = {"html", "head", "meta", "title", "link", "noscript", "body", "h1", "div", "style", "p", "b", "span",
                "a", "details", "summary", "dl", "dt", "dd", "svg", "rect", "line", "circle", "text", "i", "script"}


@hsettings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=60))
def test_whatever_a_user_wrote_the_page_builds_only_its_own_elements(reason, holder):
    store = MemoryStore()
    broken = model(1, "error")
    store.create(replace(broken, state=replace(broken.state, error=reason)))
    held = model(2, "warm")
    store.create(replace(held, state=replace(held.state, leases=(
        Lease("l0123456789ab", NOW, NOW + timedelta(hours=1), holder),))))
    store.add_event("m-001", Event(at(9, 30), "error", {"reason": reason}), 30)
    page = _Page()
    page.feed(fleetpage.render_page(store, SETTINGS, NOW))
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS and page.only_its_own_script()
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    text = "".join(page.text)
    assert reason.strip()[:40] in text and holder.strip()[:40] in text


def test_a_large_fleets_page_refreshes_less_often(monkeypatch):
    store = fleet_of([("cold", True)] * 12)
    assert 'data-refresh="5"' in fleetpage.render_page(store, SETTINGS, NOW, refresh_seconds=5)
    monkeypatch.setattr(fleetpage, "MODELS_PER_SECOND", 2)  # as 100 is for 1,200 models
    assert 'data-refresh="6"' in fleetpage.render_page(store, SETTINGS, NOW, refresh_seconds=5)
