"""The benchmarks, small: they must keep running and keep pointing the right way.

Short versions of ``bench.simulate`` (a few models, two days) and ``bench.tick_scaling``
(50 models). They assert the direction of the results, never timings: keepwarm meets a
cold model for less time and pays fewer minutes outside the windows than the 14-minute
cron, and the tick reads the due models only and claims each once.
"""
from __future__ import annotations

import pytest

from bench import simulate, tick_scaling
from conftest import unique

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("bench")


@pytest.fixture(scope="module")
def short_run() -> simulate.Result:
    # Eight models: two of each kind of window, in eight time zones.
    return simulate.simulate(models=8, days=2, seed=1)


def test_both_strategies_serve_the_same_windows(short_run):
    kw, base = short_run.figures("keepwarm"), short_run.figures("baseline")
    assert kw.windows == base.windows > 10
    assert kw.window_minutes == base.window_minutes
    # Every window lies inside the simulated span, with room to pre-warm the first.
    for windows in short_run.windows.values():
        for opened, closed in windows:
            assert short_run.start + simulate.EDGE <= opened < short_run.end and closed <= short_run.run_end


def test_keepwarm_meets_a_cold_model_for_less_time_than_the_cron(short_run):
    kw, base = short_run.figures("keepwarm"), short_run.figures("baseline")
    assert kw.cold_seconds < base.cold_seconds
    assert kw.opened_cold < base.opened_cold
    # The cron calls first at the open, so every one of its windows opens cold.
    assert base.opened_cold == base.windows


def test_keepwarm_pays_fewer_minutes_outside_the_windows_than_the_cron(short_run):
    kw, base = short_run.figures("keepwarm"), short_run.figures("baseline")
    assert kw.outside_cmu_minutes < base.outside_cmu_minutes


def test_the_report_and_the_timeline_are_written(short_run, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "timeline.png"
    simulate.plot_timeline(short_run, png)
    assert png.stat().st_size > 10_000
    text = simulate.report(short_run, ["--models", "8", "--days", "2"], 1.0, "timeline.png")
    assert "| cold seconds inside windows |" in text and "![" in text
    assert len(simulate.targets(short_run)) == 3


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
