"""The writing of ``bench.simulate``: its figures as JSON, its section of
docs/benchmarks.md (the headline, each family's table and targets, what ran and how the
figures are measured), and the timeline images of one model's day and one opening.

It only reads results (``bench.figures``) and the scenario's definitions (``bench.scenario``);
``bench.simulate`` decides what is written where.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import pytz

from bench.common import command_line, commit, machine, table
from bench.figures import FLOOR_FACTOR, Result, Target, _n, best_cron, floor_total, targets, totals
from bench.scenario import (BASELINE_RETRIES, BASELINE_RETRY_SECONDS, KEEPWARM, KEEPWARM_PLAIN,
                            MIXED_MEDIAN_CLAMP, MIXED_MEDIAN_SECONDS, SCENARIO_KEYS, STRATEGY_NAMES, TUNED, UTC,
                            ModelSpec)
from chalicelib.settings import Settings


def as_json(results: Sequence[Result]) -> dict[str, Any]:
    """The figures summed over the seeds: ``{"strategies": {NAME: {...}}, "floor": {...}}``."""
    floor = [r.floor_figures() for r in results]
    return {"strategies": {k: totals(results, k).as_json() for k in results[0].strategies},
            "floor": {"cmu_minutes_total": round(sum(t for t, _ in floor), 1),
                      "cmu_minutes_outside": round(sum(o for _, o in floor), 1)}}


# -- the report -----------------------------------------------------------------------------
def family_table(results: Sequence[Result]) -> str:
    header = ["strategy", "cold user requests", "... after each model's first window", "user s waited",
              "windows cold", "cold s", "CMU-min total", "x floor", "CMU-min outside", "calls"]
    floor, outside = floor_total(results)
    rows = []
    for key in results[0].strategies:
        f = totals(results, key)
        rows.append([f"`{key}`" + ("" if key == KEEPWARM.key else f": {results[0].labels[key]}".replace("cron ", "")),
                     _n(f.user_requests_cold), _n(f.user_requests_cold_after_first_window),
                     _n(f.user_seconds_waited), _n(f.windows_cold), _n(f.cold_seconds), _n(f.cmu_minutes_total),
                     f"{f.cmu_minutes_total / floor:.3f}" if floor else "-", _n(f.cmu_minutes_outside), _n(f.calls)])
    rows.append(["**floor**", "0", "0", "0", "0", "0", _n(floor), "1", _n(outside), ""])
    return table(header, rows, "lrrrrrrrrr")


def targets_table(found: Sequence[Target]) -> str:
    marks = {True: "yes", False: "**no**", None: "n/a"}
    return table(["target", "measured", "met"], [[t.name, t.measured, marks[t.met]] for t in found], "llc")


def family_section(results: Sequence[Result], path: str) -> str:
    scenario = results[0].scenario
    fleet = [s for r in results for s in r.fleet]
    medians = sorted(s.load_median for s in fleet)
    kw = totals(results, KEEPWARM.key)
    windows = ("the mixed fleet's windows (business hours, overnight, three short ones a day, cron-form batches)"
               if not scenario.window_minutes else
               f"one daily window each, of {', '.join(str(m) for m in scenario.window_minutes)} minutes, "
               "opening at a random minute of the day")
    found = targets(results)
    lines = [
        f"### {scenario.title}",
        "",
        f"`{path}`: {scenario.models} models, {scenario.days} days, seeds {', '.join(map(str, scenario.seeds))}; "
        f"{scenario.platform.label}; load medians {medians[0]:.0f}-{medians[-1]:.0f} s, sigma {scenario.sigma:g}; "
        f"{windows}; users: {scenario.requests_per_hour:g} requests an hour and {scenario.at_open} in the first "
        f"minute of each window ({kw.user_requests:,} requests in {kw.windows:,} windows).",
        "",
    ]
    if scenario.about:
        lines += [scenario.about, ""]
    lines += [family_table(results), "", targets_table(found), ""]
    lines += [f"- **{t.name}**: {t.detail}" for t in found if not t.met]
    return "\n".join(lines).rstrip() + "\n"


def headline(found: dict[str, list[Result]]) -> str:
    header = ["family", "keepwarm cold user requests (after first window)", "best cron's", "keepwarm x floor",
              "best cron x floor", "targets met"]
    rows = []
    for name, results in found.items():
        kw = totals(results, KEEPWARM.key)
        best = best_cron(results)
        bc = totals(results, best)
        floor, _ = floor_total(results)
        met = targets(results)
        rows.append([results[0].scenario.title, f"{kw.user_requests_cold:,} ({kw.user_requests_cold_after_first_window:,})",
                     f"{bc.user_requests_cold:,} ({bc.user_requests_cold_after_first_window:,}), `{best}`",
                     f"{kw.cmu_minutes_total / floor:.3f}", f"{bc.cmu_minutes_total / floor:.3f}",
                     f"{sum(1 for t in met if t.met)} of {len(met)}"])
    return table(header, rows, "lrrrrr")


def report(found: dict[str, list[Result]], paths: dict[str, str], argv: Sequence[str], wall_seconds: float,
           pngs: Sequence[str] = ()) -> str:
    settings = Settings(table_name="x", queue_url="x")
    lines = [
        "## Keeping models warm, users calling: keepwarm against the crons, family by family",
        "",
        f"`{command_line('bench.simulate', argv)}`: measured on {commit()}, wall time {wall_seconds:.0f} s on "
        f"{machine()}.",
        "",
        "Each family is a scenario file in `bench/scenarios/` (`python -m bench.simulate --scenario FILE "
        "--json OUT.json` runs one and writes its figures as JSON). Every figure is summed over the seeds. "
        "The headline readiness figure is **cold user requests**: user requests that met a cold model "
        "(answered `ModelNotReadyException`, or held while a copy loaded); *cold seconds* is the time "
        "inside windows with no copy loaded, whether or not a user called then. **x floor**: total "
        "CMU-minutes over the floor's (below).",
        "",
        headline(found),
        "",
        "Targets, for keepwarm in every family: 0 cold user requests after each model's first window; total "
        f"CMU-minutes at most {FLOOR_FACTOR} x the floor; never more cold user requests than the best cron (the "
        "one with the fewest, then the cheapest); never more CMU-minutes than any cron with as few cold user "
        "requests. Where one is missed, the family says by how much and where it came from.",
        "",
    ]
    for name, results in found.items():
        lines += [family_section(results, paths[name]), ""]
    lines += [
        "### What ran",
        "",
        "- keepwarm: `Api.register` for each model (its first window is its first cold start: nothing is "
        "known of it but the prior), then `Ticker.run` and `Worker.handle` driven by `local.harness.Driver` "
        "on a `ManualClock`, a `MemoryStore` and a `SimQueue`, calling the simulator in this process through "
        "`local.harness.SimulatorInvoker`. Default settings: keep-alive "
        f"{settings.default_keepalive_minutes} min, release assumed {settings.default_release_minutes} min, "
        f"the prior a log-normal of median {settings.prior_load_median_seconds:g} s and sigma "
        f"{settings.prior_load_sigma:g}; the billing-aware pre-warm. A held call keeps its own worker waiting, "
        "up to the read timeout; other calls go out on time, as concurrent Lambda invocations do.",
        f"- crons: calls from each window's open (or 5, 10, 15 minutes before) every 14 minutes while before "
        f"the close; `cron-tuned` every (shortest release - 1) minutes, at most 14, from the fleet's p99 cold "
        f"start rounded up to 5 minutes before the open. On `ModelNotReadyException` {BASELINE_RETRIES} more "
        f"attempts {BASELINE_RETRY_SECONDS} s apart, then nothing until the next firing.",
        "- users: per window, `at_open` requests at uniform instants of its first minute and a Poisson "
        "process at `requests_per_hour` over the whole window, drawn from the seed, the model and the "
        "window, so every strategy meets the same requests. A user request is a call like the "
        "strategies': it keeps a copy loaded, starts its billing if it is the first success, and starts a "
        "load when it finds none. *User s waited*: for each cold user request, the time until a copy was "
        "loaded (a held call is answered then; a rejected one can be answered by a retry then).",
        "- scenario files: every key optional, defaults "
        f"`{json.dumps({k: v for k, v in SCENARIO_KEYS.items() if v is not None and k not in ('windows',)})}`; "
        "`windows.minutes` (a list): one daily window per model of a length drawn from it, opening at a "
        "random minute of the day in its zone, absent: the mixed fleet; `loads.median_seconds` null: the "
        "mixed fleet's medians; `platform.release_jitter_minutes`: each copy's release drawn uniformly within "
        "that of `release_minutes`; `strategies`: a subset of "
        f"{', '.join(f'`{k}`' for k in STRATEGY_NAMES)}; `name`, `title`, `about`: for the report. A bad key "
        "or value is refused with a message naming it.",
        "- the fleet: each model's median cold start drawn uniformly in the scenario's range (the mixed fleet "
        f"without one: log-normal around {MIXED_MEDIAN_SECONDS:g} s clamped to "
        f"{MIXED_MEDIAN_CLAMP[0]:g}-{MIXED_MEDIAN_CLAMP[1]:g} s), each cold start log-normal around it; 1-4 CMUs "
        "a copy; ten time zones in rotation. Local dates whose windows would open in the first 30 minutes or "
        "after the end are excluded for every strategy alike; each run continues until every copy is released.",
        "",
        "### How the figures are measured, and the floor",
        "",
        "All from the simulators' own records (`Simulator.inspect`: every call, with its caller, and every "
        "copy's `load_started_at`, `loaded_at`, `first_success_at`, `billing_started_at`, `released_at`, "
        "`billed_minutes`).",
        "",
        "- **CMU-minutes**: each copy is billed in 5-minute windows from the start of its billing (its first "
        "successful call, user or strategy; its load's end under `billing: load`) until its release, times "
        "the model's CMUs. *Outside*: the minutes of those billing windows outside every window of the model. "
        "*Calls*: the strategy's own calls, all of them, polls included.",
        "- **The floor**, per model: the least any strategy must be billed to keep a copy ready at every "
        "instant of each window, knowing the platform's rules but not when users will call. A window needs "
        "one copy loaded from its open to its close (the platform loads a copy only when none is current, so "
        "a second would leave a cold gap while it loads). Its billing starts at the first success, at the "
        "latest the users' first request, or, with no user early enough, the longest release after the open "
        "(a copy loaded at the open and never called is released then, so the strategy must call by then); "
        "under billing from the load's end, at the open. It ends at the copy's release, no sooner than the "
        "shortest release after the last activity: the last keep-alive can come no earlier than close - "
        "release, the last user request and the first success are activity too. One copy may serve several "
        "windows, billed through the gap; it can be let go between two only if its earliest release comes by "
        "the next open. The floor is the cheapest grouping of the windows into copies (a dynamic programme "
        "over the windows), each billed in whole 5-minute windows; a window without users shorter than the "
        "longest release needs no success and costs nothing. Each bound is one a run cannot beat without a "
        "cold instant inside a window, so the benchmark checks every strategy and every model against it "
        "and stops if one came in under it with no cold instant; `tests/test_bench.py` checks the programme "
        "against a brute force over every way of calling, on small cases.",
    ]
    if pngs:
        lines += ["", "### One model's day", "", f"![one model's simulated day under four strategies]({pngs[0]})", "",
                  "The first family, first seed. Shaded: the model's windows. Bars: a copy loading (light) and "
                  "loaded (dark); the thin line under each bar spans the 5-minute billing windows. Red: cold time "
                  "inside a window. Ticks: calls (green answered, orange `ModelNotReadyException`); triangles: "
                  "user requests. Bottom: the first window's opening and closing, zoomed in."]
    if len(pngs) > 1:
        lines += ["", "### A billing-aware opening", "", f"![a billing-aware opening]({pngs[1]})", "",
                  "One opening: the load trigger goes out the lead before the open and finds the model cold; "
                  "the ready-check that starts the billing waits until just before the open."]
    return "\n".join(lines) + "\n"


# -- the timelines --------------------------------------------------------------------------
TIMELINE_LANES = (KEEPWARM.key, "cron-0", "cron-10", TUNED)
COLOURS = {"ready": "#1a7f37", "not_ready": "#e36209", "error": "#6f42c1"}


def pick_day(result: Result) -> tuple[ModelSpec, date]:
    """A model with several windows a day, on a day after its first three windows."""
    shown_from = 4  # the 4th window: the model's first cold starts are behind it
    served = [s for s in result.fleet if result.windows[s.name]]
    if not served:
        raise ValueError("no model has a window in the simulated span")
    candidates = [s for s in served if s.kind == "short"] or served
    spec = next((s for s in candidates if s.timezone == "Europe/London"), candidates[0])
    zone = pytz.timezone(spec.timezone)
    opens = [o for o, _ in result.windows[spec.name]]
    first = opens[min(len(opens), shown_from) - 1]
    # The day after that window's day, if the model has windows then.
    day = first.astimezone(zone).date() + timedelta(days=1)
    if not any(o.astimezone(zone).date() == day for o in opens):
        day = first.astimezone(zone).date()
    return spec, day


def _draw_lanes(ax: Any, result: Result, spec: ModelSpec, lanes: Sequence[str], windows: Sequence[tuple[datetime, datetime]],
                lo: datetime, hi: datetime) -> None:
    import matplotlib.dates as mdates

    per_window = {k: {(f.model, f.open): f for f in result.per_window[k]} for k in lanes}
    for o, c in windows:
        ax.axvspan(o, c, color="#cfe2ff", zorder=0)
    for i, key in enumerate(lanes):
        y = float(len(lanes) - 1 - i)
        seen = result.runs[key].observed[spec.name]
        for cp in seen.copies:
            end_load = cp.loaded_at or cp.released_at
            ax.broken_barh([(mdates.date2num(cp.load_started_at),
                             mdates.date2num(end_load) - mdates.date2num(cp.load_started_at))],
                           (y - 0.18, 0.36), color="#b8b8b8", zorder=2)
            if cp.loaded_at is not None:
                ax.broken_barh([(mdates.date2num(cp.loaded_at),
                                 mdates.date2num(cp.released_at) - mdates.date2num(cp.loaded_at))],
                               (y - 0.18, 0.36), color="#4a6fa5", zorder=2)
            if cp.billing_started_at is not None:
                billed_end = cp.billing_started_at + timedelta(minutes=cp.billed_minutes)
                ax.plot([cp.billing_started_at, billed_end], [y - 0.27] * 2, color="#333333", lw=1.2,
                        zorder=3, solid_capstyle="butt")
                for a, _ in cp.billing_windows():
                    ax.plot([a, a], [y - 0.31, y - 0.23], color="#333333", lw=0.7, zorder=3)
        for o, c in windows:
            f = per_window[key].get((spec.name, o))
            for a, b in (f.cold_spans if f else []):
                ax.broken_barh([(mdates.date2num(a), mdates.date2num(b) - mdates.date2num(a))],
                               (y + 0.2, 0.1), color="#d62728", zorder=4)
        for outcome, colour in COLOURS.items():
            times = [c.at for c in seen.calls if c.outcome == outcome and not c.user and lo <= c.at <= hi]
            if times:
                ax.plot(times, [y + 0.36] * len(times), "|", color=colour, markersize=9, markeredgewidth=1.3, zorder=5)
        users = [c.at for c in seen.calls if c.user and lo <= c.at <= hi]
        if users:
            ax.plot(users, [y - 0.4] * len(users), "^", color="#0b5394", markersize=4, zorder=5)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.5, len(lanes) - 0.4)
    ax.grid(axis="x", color="#e5e5e5", lw=0.6, zorder=1)


def _legend(fig: Any, ncol: int = 7) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="#cfe2ff", label="window"), Patch(color="#b8b8b8", label="copy loading"),
               Patch(color="#4a6fa5", label="copy loaded"),
               Line2D([], [], color="#333333", lw=1.2, label="billed (5-min windows)"),
               Patch(color="#d62728", label="cold inside the window"),
               Line2D([], [], color=COLOURS["ready"], marker="|", ls="", markersize=9, label="call answered"),
               Line2D([], [], color=COLOURS["not_ready"], marker="|", ls="", markersize=9,
                      label="call: ModelNotReadyException"),
               Line2D([], [], color="#0b5394", marker="^", ls="", markersize=4, label="user request")]
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8.5, frameon=False)


def plot_timeline(result: Result, path: Path, lanes: Sequence[str] = TIMELINE_LANES) -> str:
    """Draw one model's day under several strategies; returns a one-line description."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    spec, day = pick_day(result)
    zone = pytz.timezone(spec.timezone)
    day_start = zone.localize(datetime.combine(day, datetime.min.time())).astimezone(UTC)
    day_end = zone.localize(datetime.combine(day + timedelta(days=1), datetime.min.time())).astimezone(UTC)
    windows = [(o, c) for o, c in result.windows[spec.name] if o < day_end and c > day_start]
    lanes = [k for k in lanes if k in result.runs]
    names = [result.labels.get(k, k).replace(" every 14 min", "").replace("from the open", "at the open") for k in lanes]

    fig = plt.figure(figsize=(14, 8), dpi=110)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1], hspace=0.45, wspace=0.12)
    full = fig.add_subplot(grid[0, :])
    first_open, first_close = windows[0] if windows else (day_start, day_end)
    span_lo = max(day_start, min(o for o, _ in windows) - timedelta(hours=1)) if windows else day_start
    span_hi = min(day_end, max(c for _, c in windows) + timedelta(hours=1)) if windows else day_end
    panels = [
        (full, span_lo, span_hi, f"{spec.name} ({spec.timezone}, {spec.cmus} CMU, median load "
                                 f"{spec.load_median:.0f} s) on {day:%a %d %b %Y}, local time, seed {result.seed}"),
        (fig.add_subplot(grid[1, 0]), first_open - timedelta(minutes=16), first_open + timedelta(minutes=14),
         f"the {first_open.astimezone(zone):%H:%M} opening"),
        (fig.add_subplot(grid[1, 1]), first_close - timedelta(minutes=18), first_close + timedelta(minutes=22),
         f"the {first_close.astimezone(zone):%H:%M} close"),
    ]
    for ax, lo, hi, title in panels:
        _draw_lanes(ax, result, spec, lanes, windows, lo, hi)
        # Lane names on the left-hand panels only: the right one would write over its neighbour.
        ax.set_yticks([float(len(lanes) - 1 - i) for i in range(len(lanes))],
                      names if ax is not panels[2][0] else [""] * len(lanes), fontsize=8)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
        if ax is full:
            ax.xaxis.set_major_locator(mdates.HourLocator(tz=zone))
        else:
            ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, 5), tz=zone))
        ax.set_title(title, fontsize=10, loc="left")
    _legend(fig)
    fig.subplots_adjust(left=0.16, right=0.98, top=0.94, bottom=0.12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"{spec.name} on {day:%Y-%m-%d}"


def pick_opening(result: Result) -> tuple[ModelSpec, datetime, datetime]:
    """A window from a model's 4th on whose billing-aware copy was loaded before a held
    ready-check: the trigger, the check and the open all to see."""
    for spec in result.fleet:
        if spec.kind != "short":
            continue
        for f in [f for f in result.per_window[KEEPWARM.key] if f.model == spec.name and f.learned]:
            copies = [cp for cp in result.runs[KEEPWARM.key].observed[spec.name].copies
                      if f.open - timedelta(minutes=20) < cp.load_started_at < f.open]
            if (copies and copies[0].loaded_at and copies[0].first_success_at
                    and copies[0].first_success_at - copies[0].loaded_at > timedelta(minutes=2)):
                return spec, f.open, f.close
    f = next(f for f in result.per_window[KEEPWARM.key] if f.learned)
    return next(s for s in result.fleet if s.name == f.model), f.open, f.close


def plot_opening(result: Result, path: Path) -> str:
    """One billing-aware opening beside the same opening without holding back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    spec, opened, closed = pick_opening(result)
    zone = pytz.timezone(spec.timezone)
    lanes = [k for k in (KEEPWARM.key, KEEPWARM_PLAIN.key) if k in result.runs]
    copy = next(cp for cp in result.runs[KEEPWARM.key].observed[spec.name].copies
                if cp.load_started_at < opened <= cp.released_at)
    lo = copy.load_started_at - timedelta(minutes=2)
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=110)
    _draw_lanes(ax, result, spec, lanes, [(opened, closed)], lo, opened + timedelta(minutes=12))
    marks = [(copy.load_started_at, "load trigger"), (copy.loaded_at, "copy ready"),
             (copy.first_success_at, "held ready-check: first success"), (opened, "window opens")]
    for i, (at, text) in enumerate(marks):
        if at is None:
            continue
        ax.axvline(at, color="#555555", lw=0.8, ls=":", zorder=1)
        ax.annotate(text, (mdates.date2num(at), len(lanes) - 0.45 - 0.12 * (i % 2)), fontsize=8,
                    ha="left", xytext=(3, 0), textcoords="offset points")
    lead = (opened - copy.load_started_at).total_seconds() / 60
    held = (opened - copy.first_success_at).total_seconds() / 60 if copy.first_success_at else float("nan")
    ax.set_yticks([float(len(lanes) - 1 - i) for i in range(len(lanes))],
                  ["billing-aware" if k == KEEPWARM.key else "billing-aware off,\nsame percentile" for k in lanes])
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, 2), tz=zone))
    ax.set_title(f"{spec.name} ({spec.timezone}, {spec.cmus} CMU): the {opened.astimezone(zone):%a %H:%M} opening, "
                 f"seed {result.seed}; trigger {lead:.1f} min before the open, ready-check {held:.1f} min before",
                 fontsize=10, loc="left")
    _legend(fig, ncol=4)
    fig.subplots_adjust(left=0.14, right=0.98, top=0.9, bottom=0.24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return f"{spec.name} at {opened:%Y-%m-%d %H:%M} UTC"
