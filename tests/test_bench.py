"""The benchmarks, small: they must keep running and keep pointing the right way.

Short versions of ``bench.simulate`` (a few models, two days) and ``bench.tick_scaling``
(50 models). They assert the direction of the results, never timings: keepwarm meets a
cold model for less time than each cron and pays no more minutes outside the windows,
on the documented platform and on each variant of it; holding the ready-check back costs
no more than not holding it, on the same lead percentile; the tick reads the due models only and
claims each once.
"""
from __future__ import annotations

import pytest

from bench import simulate, tick_scaling
from conftest import unique

# Its module-scoped fixtures are costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("bench")
CRONS = [s.key for s in simulate.CRONS]


@pytest.fixture(scope="module")
def short_run() -> simulate.Result:
    # Eight models: two of each kind of window, in eight time zones.
    return simulate.simulate(models=8, days=2, seed=1)


@pytest.fixture(scope="module")
def variant_runs() -> dict[str, simulate.Result]:
    return {p.key: simulate.simulate(models=8, days=2, seed=2, platform=p,
                                     strategies=("keepwarm", *CRONS)) for p in simulate.VARIANTS}


def test_every_strategy_serves_the_same_windows(short_run):
    kw = short_run.figures("keepwarm")
    assert kw.windows > 10
    for key in short_run.strategies:
        assert (short_run.figures(key).windows, short_run.figures(key).window_minutes) == (kw.windows, kw.window_minutes)
    # Every window lies inside the simulated span, with room to pre-warm the first.
    for windows in short_run.windows.values():
        for opened, closed in windows:
            assert short_run.start + simulate.EDGE <= opened < short_run.end and closed <= short_run.run_end
    # The "once cold starts are recorded" subset starts at each model's 4th window.
    for spec in short_run.fleet:
        flags = [f.learned for f in short_run.per_window["keepwarm"] if f.model == spec.name]
        assert flags == [i >= 3 for i in range(len(flags))]


@pytest.mark.parametrize("cron", CRONS)
def test_keepwarm_beats_each_cron_on_the_documented_platform(short_run, cron):
    kw, other = short_run.figures("keepwarm"), short_run.figures(cron)
    assert kw.cold_seconds <= other.cold_seconds
    assert kw.outside_cmu_minutes < other.outside_cmu_minutes
    assert kw.outside_cmu_minutes <= 1.02 * kw.limit_outside_cmu_minutes


def test_the_cron_at_the_open_opens_every_window_cold(short_run):
    base = short_run.figures("cron-0")
    assert base.opened_cold == base.windows and base.cold_seconds > short_run.figures("keepwarm").cold_seconds


def test_holding_the_ready_check_back_costs_no_more_than_not_holding_it(short_run):
    held, plain = short_run.figures("keepwarm"), short_run.figures("keepwarm-plain")
    # The same lead percentile, the same draws: no colder, and the held check pays less outside.
    assert held.cold_seconds <= plain.cold_seconds
    assert held.outside_cmu_minutes < plain.outside_cmu_minutes


@pytest.mark.parametrize("variant", [p.key for p in simulate.VARIANTS])
def test_keepwarm_meets_a_cold_model_no_more_than_the_best_cron_on_each_variant(variant_runs, variant):
    run = variant_runs[variant]
    best = run.best_cron()
    assert run.figures("keepwarm").cold_seconds <= run.figures(best).cold_seconds


def test_the_variants_change_what_they_say(variant_runs, short_run):
    # Released after 5 minutes, a 14-minute cron leaves the model cold most of each window.
    short = variant_runs["release-5"]
    assert all(short.figures(c).cold_seconds > 0.5 * 60 * short.figures(c).window_minutes for c in CRONS)
    # Billed from the load's end, keepwarm's copies are billed before their first success.
    load = variant_runs["billing-load"].runs["keepwarm"].observed.values()
    assert any(cp.billing_started_at < cp.first_success_at for seen in load for cp in seen.copies
               if cp.first_success_at)


def test_the_report_and_the_timelines_are_written(short_run, variant_runs, tmp_path):
    pytest.importorskip("matplotlib")
    png, opening = tmp_path / "timeline.png", tmp_path / "timeline-billing.png"
    simulate.plot_timeline(short_run, png)
    simulate.plot_opening(short_run, opening)
    assert png.stat().st_size > 10_000 and opening.stat().st_size > 10_000
    found = simulate.Study([short_run], {k: [r] for k, r in variant_runs.items()}, 8, 8, 2)
    text = simulate.report(found, ["--models", "8", "--days", "2"], 1.0, ["timeline.png", "timeline-billing.png"])
    assert "| keepwarm |" in text and "| **limit** |" in text and text.count("![") == 2
    assert len(simulate.targets([short_run])) == 4
    for variant in simulate.VARIANTS:
        assert f"| {variant.label} |" in text


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
