"""The benchmarks, small: they must keep running, keep pointing the right way, and measure honestly.

Short versions of ``bench.simulate`` (a few models, a day or two) and ``bench.tick_scaling``
(50 models). They assert what the figures mean, never timings: users' requests reach the
simulator and are counted as they met it; the floor is the least a run that is never cold
can be billed (checked against a brute force over every way of calling, on small cases);
a scenario file is read as documented and a bad one is refused naming the bad key; the
JSON has the documented shape; the tick reads the due models only and claims each once.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from bench import simulate, tick_scaling
from conftest import unique
from local.simulator import ManualClock, Simulator
from chalicelib.settings import Settings

# Its module-scoped fixtures are costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("bench")
UTC = timezone.utc
T0 = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
CRONS = [s.key for s in simulate.CRONS] + [simulate.TUNED]
JSON_KEYS = {"windows", "windows_cold", "cold_seconds", "user_requests", "user_requests_cold",
             "user_requests_cold_after_first_window", "cmu_minutes_total", "cmu_minutes_outside", "calls"}


@pytest.fixture(scope="module")
def short_run() -> simulate.Result:
    # Eight models of the mixed fleet (two of each kind of window, eight time zones), two
    # days, users calling; keepwarm with and without the billing-aware pre-warm.
    scenario = simulate.parse_scenario({"models": 8, "days": 2, "seeds": [1], "loads": {"median_seconds": None},
                                        "strategies": [*simulate.DEFAULT_STRATEGIES, "keepwarm-plain"]}, "short")
    return simulate.simulate(scenario, 1)


@pytest.fixture(scope="module")
def release_5() -> simulate.Result:
    scenario = simulate.parse_scenario({"models": 4, "days": 1, "seeds": [2], "windows": {"minutes": [47, 73]},
                                        "platform": {"release_minutes": 5}}, "release-5")
    return simulate.simulate(scenario, 2)


def test_every_strategy_serves_the_same_windows_and_users(short_run):
    kw = short_run.figures("keepwarm")
    assert kw.windows > 10 and kw.user_requests > 5 * kw.windows
    for key in short_run.strategies:
        f = short_run.figures(key)
        assert (f.windows, f.user_requests) == (kw.windows, kw.user_requests)
    # Every window lies inside the simulated span, with room to pre-warm the first.
    for windows in short_run.windows.values():
        for opened, closed in windows:
            assert short_run.start + simulate.EDGE <= opened < short_run.end and closed <= short_run.run_end
    # "After the first window" starts at each model's second.
    for spec in short_run.fleet:
        flags = [f.learned for f in short_run.per_window["keepwarm"] if f.model == spec.name]
        assert flags == [i >= 1 for i in range(len(flags))]


def test_users_calling_at_the_open_meet_the_cron_that_starts_at_the_open_cold(short_run):
    cron0 = short_run.figures("cron-0")
    # Two requests in each window's first minute, before any load can finish.
    assert cron0.user_requests_cold >= 2 * cron0.windows and cron0.user_seconds_waited > 0
    assert short_run.figures("keepwarm").user_requests_cold_after_first_window == 0


def test_a_users_request_starts_a_copys_billing_like_any_success(short_run):
    # cron-0's copies load after its 429 at the open; the next call is often a user's, whose
    # success starts the billing (nobody else had called it successfully).
    seen = short_run.runs["cron-0"].observed.values()
    started_by_users = [cp for o in seen for cp in o.copies
                        if cp.first_success_at and any(c.user and c.at == cp.first_success_at
                                                        and c.outcome == "ready" for c in o.calls)]
    assert started_by_users and all(cp.billing_started_at == cp.first_success_at for cp in started_by_users)


def test_no_strategy_is_billed_under_the_floor_without_meeting_a_cold_model(short_run, release_5):
    for run in (short_run, release_5):
        simulate.check_floor(run)  # what simulate() itself asserts, every run
        floor, _ = run.floor_figures()
        for key in run.strategies:
            f = run.figures(key)
            if f.cmu_minutes_total < floor:
                assert f.cold_seconds > 0
    # A cron that is warm throughout pays at least the floor; the one at the open dips under it.
    assert short_run.figures("cron-15").cmu_minutes_total >= short_run.floor_figures()[0]
    # The check bites: a floor above what a warm strategy paid is refused.
    name = short_run.fleet[0].name
    saved = short_run.floor[name]
    short_run.floor[name] = (10**6, 0.0)
    try:
        with pytest.raises(simulate.FloorBroken, match="under its floor"):
            simulate.check_floor(short_run)
    finally:
        short_run.floor[name] = saved


def test_holding_the_ready_check_back_costs_no_more_than_not_holding_it(short_run):
    held, plain = short_run.figures("keepwarm"), short_run.figures("keepwarm-plain")
    assert held.user_requests_cold <= plain.user_requests_cold
    assert held.cmu_minutes_total <= plain.cmu_minutes_total


def test_a_five_minute_release_is_met_by_the_tuned_cron_and_not_by_the_14_minute_ones(release_5):
    tuned = release_5.labels[simulate.TUNED]
    assert tuned.startswith("cron every 4 min from")
    for key in ("cron-0", "cron-5", "cron-10", "cron-15"):
        assert release_5.figures(key).user_requests_cold > release_5.figures(simulate.TUNED).user_requests_cold


def test_the_tuned_cron_starts_the_fleets_p99_load_early_rounded_up_to_5_minutes():
    platform = simulate.Platform("p", "", release_seconds=3600)
    # One model, median 100 s, sigma 0.5: its p99 is 100 e^(2.326 x 0.5) = 320 s: 10 minutes.
    tuned = simulate.tuned_cron(platform, [(100.0, 0.5)])
    assert (tuned.interval_minutes, tuned.early_minutes) == (14, 10)
    assert simulate.fleet_p99([(100.0, 0.5)]) == pytest.approx(320, abs=0.5)
    jittered = simulate.Platform("p", "", release_seconds=600, release_jitter_seconds=120)
    assert simulate.tuned_cron(jittered, [(60.0, 0.0)]).interval_minutes == 7  # below the shortest, 8 min


# -- the floor against a brute force ------------------------------------------------------------
BRUTE_ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/bruteforce01"


def brute_force(windows: list[tuple[int, int]], users: list[list[float]], release: int, billing: str) -> int:
    """The least any run that is never cold inside a window is billed, found by trying
    every set of calls on the minute grid from a minute before the first open to the last
    close, through the simulator itself (loads take 60 s)."""
    spans = [(T0 + timedelta(minutes=o), T0 + timedelta(minutes=c)) for o, c in windows]
    user_times = [T0 + timedelta(minutes=u) for us in users for u in us]
    grid = [T0 + timedelta(minutes=m) for m in range(windows[0][0] - 1, windows[-1][1])]
    spec = simulate.ModelSpec("m", BRUTE_ARN, "UTC", "daily", (), 60.0, 1)
    least = None
    for chosen in itertools.product((False, True), repeat=len(grid)):
        clock = ManualClock(T0 - timedelta(hours=1))
        sim = Simulator(clock=clock.now)
        sim.add_model(BRUTE_ARN, 60, release_seconds=release * 60, billing=billing)
        calls = sorted([(t, "") for t, on in zip(grid, chosen) if on] + [(t, simulate.USER_KEY) for t in user_times])
        for at, key in calls:
            clock.set(at)
            sim.invoke(BRUTE_ARN, simulate.PING_BODY, access_key=key or None)
        clock.set(T0 + timedelta(hours=3))
        seen = simulate.observe(sim, BRUTE_ARN)
        if any(f.cold_seconds for f in simulate.measure(spec, spans, seen)):
            continue
        billed = sum(cp.billed_minutes for cp in seen.copies)
        least = billed if least is None else min(least, billed)
    assert least is not None
    return least


def floor_of(windows: list[tuple[int, int]], users: list[list[float]], release: int, billing: str) -> int:
    spans = [(T0 + timedelta(minutes=o), T0 + timedelta(minutes=c)) for o, c in windows]
    times = [[T0 + timedelta(minutes=u) for u in us] for us in users]
    platform = simulate.Platform("p", "", release_seconds=release * 60, billing=billing)
    return simulate.floor_minutes(spans, times, platform)[0]


@pytest.mark.parametrize("windows, users, release, billing, expected", [
    # Billed from the users' first request (minute 2), released 3 min after the last (7.5): 5.5 min -> 10.
    ([(0, 7)], [[2, 4.5]], 3, "first_success", 10),
    # The same billed from the load's end: from the open.
    ([(0, 7)], [[2, 4.5]], 3, "load", 10),
    # No users, a window longer than the release: a call before the release starts the billing.
    ([(0, 7)], [[]], 3, "first_success", 5),
    # No users, a window shorter than the release: a loaded copy nobody called bills nothing.
    ([(0, 2)], [[]], 3, "first_success", 0),
    # Two windows 2 minutes apart with a 3-minute release: one copy serves both, billed through the gap.
    ([(0, 3), (5, 8)], [[0.5], [6]], 3, "first_success", 10),
    # Two windows far enough apart for the copy to go between them: two copies.
    ([(0, 2), (6, 8)], [[0.5], [6.5]], 2, "first_success", 10),
])
def test_the_floor_is_the_least_a_run_that_is_never_cold_is_billed(windows, users, release, billing, expected):
    assert floor_of(windows, users, release, billing) == brute_force(windows, users, release, billing) == expected


@settings(max_examples=5, deadline=None)
# Small enough for 2^8 sets of calls; a release of 2 minutes at least, so calls on the
# minute grid can keep a copy (a call exactly at the release finds it gone).
@given(first=st.integers(1, 3), gap=st.integers(0, 1), second=st.integers(0, 2), release=st.integers(2, 4),
       billing=st.sampled_from(["first_success", "load"]), data=st.data())
def test_the_floor_never_exceeds_what_some_run_achieves(first, gap, second, release, billing, data):
    windows = [(0, first)] + ([(first + gap + 1, first + gap + 1 + second)] if second else [])
    users = [sorted(data.draw(st.lists(st.integers(0, 2 * (c - o) - 1).map(lambda h, o=o: o + h / 2),
                                       max_size=2), label=f"users {o}")) for o, c in windows]
    floor, least = floor_of(windows, users, release, billing), brute_force(windows, users, release, billing)
    # A lower bound; tight but for the minute grid the brute force calls on (one billing window).
    assert floor <= least <= floor + 5


# -- scenario files and the command -----------------------------------------------------------
def test_a_scenario_file_runs_and_writes_the_documented_json(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"models": 2, "days": 1, "seeds": [3], "windows": {"minutes": [23]},
                                "platform": {"release_minutes": 11, "release_jitter_minutes": 2},
                                "traffic": {"requests_per_hour": 6, "at_open": 1}}))
    out = tmp_path / "out.json"
    assert simulate.main(["--scenario", str(path), "--json", str(out), "--out", "", "--png", "",
                          "--processes", "1"]) == 0
    found = json.loads(out.read_text())
    assert set(found) == {"strategies", "floor"} and set(found["floor"]) == {"cmu_minutes_total", "cmu_minutes_outside"}
    assert list(found["strategies"]) == ["keepwarm", "cron-0", "cron-5", "cron-10", "cron-15", "cron-tuned"]
    for figures in found["strategies"].values():
        assert JSON_KEYS <= set(figures) and figures["windows"] == 2 and figures["user_requests"] >= 2
    assert found["floor"]["cmu_minutes_total"] > 0


@pytest.mark.parametrize("data, named", [
    ({"modles": 3}, "modles"),
    ({"platform": {"release_minute": 5}}, "platform.release_minute"),
    ({"platform": {"cold_mode": "wait"}}, "platform.cold_mode"),
    ({"platform": {"release_minutes": 5, "release_jitter_minutes": 5}}, "platform.release_jitter_minutes"),
    ({"loads": {"median_seconds": [200, 100]}}, "loads.median_seconds[1]"),
    ({"windows": {"minutes": [10, "20"]}}, "windows.minutes[1]"),
    ({"traffic": {"requests_per_hour": -1}}, "traffic.requests_per_hour"),
    ({"seeds": []}, "seeds"),
    ({"start": "2026-03-24T00:00:00"}, "start"),
    ({"strategies": ["keepwarm", "cron-7"]}, "strategies"),
])
def test_a_bad_scenario_is_refused_naming_the_key(data, named, tmp_path, capsys):
    with pytest.raises(simulate.ScenarioError, match=named.replace("[", r"\[").replace("]", r"\]")):
        simulate.parse_scenario(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert simulate.main(["--scenario", str(path)]) == 2
    assert named in capsys.readouterr().err


def test_every_family_file_is_a_valid_scenario_whose_draws_are_not_the_planners_defaults():
    files = sorted(Path(simulate.__file__).parent.glob("scenarios/*.json"))
    assert len(files) >= 9
    defaults = Settings(table_name="x", queue_url="x")
    for path in files:
        scenario = simulate.load_scenario(path)
        # The planner's prior median must not be the middle of the fleet's medians, nor its
        # release the platform's exact one unless jittered, nor every window a multiple of 5.
        low, high = scenario.median_range or (0, 0)
        assert (low + high) / 2 != defaults.prior_load_median_seconds, path
        if scenario.window_minutes:
            assert any(m % 5 for m in scenario.window_minutes), path


def test_the_report_and_the_timelines_are_written(short_run, release_5, tmp_path):
    pytest.importorskip("matplotlib")
    png, opening = tmp_path / "timeline.png", tmp_path / "timeline-billing.png"
    simulate.plot_timeline(short_run, png)
    simulate.plot_opening(short_run, opening)
    assert png.stat().st_size > 10_000 and opening.stat().st_size > 10_000
    found = {"short": [short_run], "release-5": [release_5]}
    text = simulate.report(found, {"short": "short.json", "release-5": "release-5.json"}, ["--scenario", "x"], 1.0,
                           ["timeline.png", "timeline-billing.png"])
    assert text.count("| **floor** |") == 2 and text.count("![") == 2 and "measured on commit" in text
    assert "| `keepwarm` |" in text and "| `cron-tuned`: every 4 min from" in text
    # A missed target says by how much.
    if not all(t.met for t in simulate.targets([release_5])):
        assert "Missed by" in text or "over by" in text or "more" in text


# -- the tick -----------------------------------------------------------------------------------
def test_the_tick_reads_only_the_due_models_and_claims_each_once(moto_url):
    case = tick_scaling.measure_tick(moto_url, unique("keepwarm-ticks"), models=50, due=3)
    assert case.due == case.found_due == case.enqueued == case.queued == 3
    # Through the index: the entries read, then the items, are the 3 due models, not the
    # table's 100 items (50 models and their ARN guards).
    assert case.usage.items_read == {"Query": 3, "BatchGetItem": 3}
    # One conditional write each, one request for their three calls, and the names index
    # untouched by a claim.
    assert sorted(case.usage.writes.values()) == [1, 1, 1]
    assert case.usage.calls["SendMessageBatch"] == 1 and sorted(case.usage.queued.values()) == [1, 1, 1]
    assert case.usage.index_write_units == {"due_sharded": 6}
    assert case.tick_cpu > 0 and case.lambda_seconds(256)[0] > case.lambda_seconds(1769)[0]


def test_the_report_says_whether_the_target_is_met_and_why(moto_url):
    case = tick_scaling.measure_tick(moto_url, unique("keepwarm-ticks"), models=20, due=20)
    text = tick_scaling.report([case], ["--sizes", "20"], 1.0)
    assert "Items read equal the due models" in text and "No model was claimed twice" in text
    assert "20 due models claimed and queued within 50 s" in text
    assert "| the fullest model the API allows |" in text


def test_a_window_that_opened_cold_says_whether_its_load_was_slow_or_its_copy_went_unseen(release_5):
    # Under a 5-minute release not yet known, a first window's trigger loads a copy that
    # idles past the release before the held-back check reaches it: the report must name
    # that, not blame the lead, and count it from the simulator's own copies.
    windows = [f for f in release_5.per_window[simulate.KEEPWARM.key] if f.opened_cold and f.users_cold]
    lost = [f for f in windows if f.lost_before_open]
    assert lost
    for f in lost:
        copies = release_5.runs[simulate.KEEPWARM.key].observed[f.model].copies
        assert any(c.load_started_at < f.open and c.loaded_at is not None and c.released_at <= f.open
                   for c in copies)
    text = simulate.cold_users_why([release_5])
    assert f"in {len(lost)} a copy loaded in time but was released before the ready-check reached it" in text
    slow = len(windows) - len(lost)
    assert (f"in {slow} the loads took" in text) == (slow > 0)
