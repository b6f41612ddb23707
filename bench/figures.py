"""The figures of ``bench.simulate``: what each simulator saw, measured window by window and
set against the floor, and the targets keepwarm is judged by.

- What a simulator saw (``observe``): its copies and its calls, the users' told apart.
- The floor (``floor_copies``, ``floor_minutes``): the least any strategy must be billed to keep
  a copy ready at every instant of every window, knowing the platform's rules but not when
  users will call; ``check_floor`` stops a run that came in under it with no cold instant.
- Per window (``measure``): cold spans, calls and user requests, and what its copies were
  billed; ``Result`` holds one scenario and seed, every strategy, and their totals
  (``Figures``, ``totals``).
- The targets (``targets``), each judged met or not, with where a miss came from.

It reads the scenario (``bench.scenario``) and nothing that runs or writes:
``bench.report`` writes these figures, ``bench.simulate`` produces them.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional, Sequence

from bench.scenario import KEEPWARM, USER_KEY, ModelSpec, Platform, Scenario, user_requests
from chalicelib.records import parse_iso
from local.simulator import Simulator

BILLING_WINDOW = timedelta(minutes=5)


# -- what a simulator saw -------------------------------------------------------------------
@dataclass(frozen=True)
class Copy:
    load_started_at: datetime
    load_seconds: float
    loaded_at: Optional[datetime]
    first_success_at: Optional[datetime]
    billing_started_at: Optional[datetime]
    released_at: datetime
    billed_minutes: int

    def billing_windows(self) -> list[tuple[datetime, datetime]]:
        """The 5-minute windows billed, counted from the start of the copy's billing."""
        if self.billing_started_at is None:
            return []
        return [(self.billing_started_at + k * BILLING_WINDOW, self.billing_started_at + (k + 1) * BILLING_WINDOW)
                for k in range(self.billed_minutes // 5)]


@dataclass(frozen=True)
class Call:
    at: datetime
    outcome: str
    answered_at: Optional[datetime] = None
    user: bool = False

    @property
    def cold(self) -> bool:
        """A call that met a cold model: answered not ready, or held while a copy loaded."""
        return self.outcome != "ready" or (self.answered_at is not None and self.answered_at > self.at)


@dataclass
class Observed:
    copies: list[Copy]
    calls: list[Call]


def observe(sim: Simulator, arn: str) -> Observed:
    seen = sim.inspect(arn)
    now = parse_iso(seen["now"])
    copies = [Copy(parse_iso(c["load_started_at"]), c["load_seconds"], parse_iso(c["loaded_at"]),  # type: ignore[arg-type]
                   parse_iso(c["first_success_at"]), parse_iso(c["billing_started_at"]),  # type: ignore[arg-type]
                   parse_iso(c["released_at"]) or now, c["billed_minutes"]) for c in seen["copies"]]  # type: ignore[arg-type]
    calls = [Call(parse_iso(c["at"]), c["outcome"], parse_iso(c["answered_at"]),  # type: ignore[arg-type]
                  c.get("access_key") == USER_KEY) for c in seen["calls"]]
    return Observed(copies, calls)


@dataclass
class Run:
    strategy: str
    observed: dict[str, Observed]
    wall_seconds: float
    notes: dict[str, int] = field(default_factory=dict)


# -- the floor ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FloorCopy:
    """One copy of the floor: billed ``minutes`` from ``start``, serving some windows."""

    start: datetime
    minutes: int
    windows: tuple[int, ...]  # indexes of the windows it serves


def _billed(span: timedelta) -> int:
    return 5 * max(1, math.ceil(span / BILLING_WINDOW - 1e-9))


def floor_copies(windows: Sequence[tuple[datetime, datetime]], users: Sequence[Sequence[datetime]],
                 platform: Platform) -> list[FloorCopy]:
    """The least billing (per CMU) for one model's windows, if a copy is ready at every
    instant of each and its caller knows the platform's rules but not the users' times.

    A window needs a copy loaded by its open that lasts to its close: one copy (the
    simulator loads a copy only when none is current, so a second one would leave a cold
    gap while it loads). Billing (first-success rule) starts at the first success, which can
    come no later than the window's first user request, nor later than a copy loaded at the
    open can idle before its release (``open + longest release``): the caller, who cannot
    know the users' times, must call by then to keep the copy. Under the load-end rule it
    starts when the copy is loaded, at the open at the latest. It ends with the release,
    which comes no sooner than the shortest release after the last activity: the close
    needs the copy still loaded (``close``), the last user request is activity
    (``u_last + shortest``) and so is the first success (``start + shortest``). A copy
    may serve several windows: billing then runs on through the gap. It may be let go
    between two windows only if its earliest release is at or before the next open. The
    floor is the cheapest way to group the windows into copies (a dynamic programme), each
    billed in whole 5-minute windows. A window with no user request that is shorter than
    the longest release needs no success at all under the first-success rule, so it is
    left out (billed nothing).
    Every bound here is one no strategy can beat without a cold instant in a window, so a
    strategy billed less than this for a model met a cold model there (``check_floor``).
    """
    shortest, longest = platform.shortest_release, platform.longest_release
    first_success = platform.billing == "first_success"
    served: list[tuple[int, datetime, datetime, Optional[datetime]]] = []  # (index, open, close, last user)
    starts: list[datetime] = []
    for i, ((opened, closed), times) in enumerate(zip(windows, users)):
        if first_success:
            if not times and closed - opened <= longest:
                continue
            start = min([opened + longest, *times[:1]])
        else:
            start = opened
        served.append((i, opened, closed, times[-1] if times else None))
        starts.append(start)

    def end(first: int, last: int) -> datetime:
        """The earliest release of one copy serving windows ``first`` .. ``last``."""
        lasts = [row[3] + shortest for row in served[first:last + 1] if row[3] is not None]
        return max([served[last][2], starts[first] + shortest, *lasts])

    def cost(first: int, last: int) -> int:
        return _billed(end(first, last) - starts[first])

    # best[(i, j)]: the least billing for windows 0 .. j when one copy serves i .. j, and
    # the copies before it, each let go by the next one's open.
    n = len(served)
    best: dict[tuple[int, int], tuple[int, list[FloorCopy]]] = {}
    for j in range(n):
        for i in range(j + 1):
            here = FloorCopy(starts[i], cost(i, j), tuple(row[0] for row in served[i:j + 1]))
            if i == 0:
                best[(i, j)] = (here.minutes, [here])
                continue
            before = [best[(k, i - 1)] for k in range(i) if (k, i - 1) in best and end(k, i - 1) <= served[i][1]]
            if before:
                low = min(before, key=lambda b: b[0])
                best[(i, j)] = (low[0] + here.minutes, low[1] + [here])
    if not n:
        return []
    return min((best[(i, n - 1)] for i in range(n) if (i, n - 1) in best), key=lambda b: b[0])[1]


def floor_minutes(windows: Sequence[tuple[datetime, datetime]], users: Sequence[Sequence[datetime]],
                  platform: Platform) -> tuple[int, float]:
    """The floor's billed minutes (per CMU) for one model, and how many lie outside its windows."""
    copies = floor_copies(windows, users, platform)
    total = sum(c.minutes for c in copies)
    inside = sum(_overlap(c.start, c.start + timedelta(minutes=c.minutes), windows) for c in copies) / 60
    return total, total - inside


# -- measuring ------------------------------------------------------------------------------
@dataclass
class WindowFigures:
    """One window of one model, as one strategy served it."""

    model: str
    open: datetime
    close: datetime
    cmus: int
    index: int = 0  # the model's first window is 0
    cold_spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    calls_inside: int = 0
    not_ready_inside: int = 0
    users: int = 0
    users_cold: int = 0
    users_waited_seconds: float = 0.0
    # Copies are attributed to the window they were loaded for (the first one closing
    # after their load started), with every billed minute they cost.
    billed_cmu_minutes: float = 0.0
    outside_before_cmu_minutes: float = 0.0
    outside_after_cmu_minutes: float = 0.0
    load_seconds: list[float] = field(default_factory=list)
    # Copies loaded for this window that were released before it opened: idle past the
    # release before anyone called them.
    lost_before_open: int = 0

    @property
    def learned(self) -> bool:
        """After the model's first window: its first cold start has been met."""
        return self.index >= 1

    @property
    def minutes(self) -> float:
        return (self.close - self.open).total_seconds() / 60

    @property
    def cold_seconds(self) -> float:
        return sum((b - a).total_seconds() for a, b in self.cold_spans)

    @property
    def opened_cold(self) -> bool:
        return bool(self.cold_spans) and self.cold_spans[0][0] == self.open

    @property
    def outside_cmu_minutes(self) -> float:
        return self.outside_before_cmu_minutes + self.outside_after_cmu_minutes


def _overlap(a: datetime, b: datetime, spans: Sequence[tuple[datetime, datetime]]) -> float:
    return sum(max(0.0, (min(b, c) - max(a, o)).total_seconds()) for o, c in spans)


def measure(spec: ModelSpec, windows: Sequence[tuple[datetime, datetime]], seen: Observed) -> list[WindowFigures]:
    """Per window: cold spans inside it, calls and user requests in it, and what its copies
    were billed."""
    figures = [WindowFigures(spec.name, o, c, spec.cmus, index=i) for i, (o, c) in enumerate(windows)]
    if not figures:
        return []
    loaded = sorted((cp.loaded_at, cp.released_at) for cp in seen.copies if cp.loaded_at is not None)
    for f in figures:
        cursor = f.open
        for a, b in loaded:
            if b <= cursor or a >= f.close:
                continue
            if a > cursor:
                f.cold_spans.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < f.close:
            f.cold_spans.append((cursor, f.close))
    closes = [c for _, c in windows]

    def owner(at: datetime) -> WindowFigures:
        return figures[min(bisect.bisect_right(closes, at), len(figures) - 1)]

    for call in seen.calls:
        f = owner(call.at)
        if not f.open <= call.at < f.close:
            continue
        if call.user:
            f.users += 1
            if call.cold:
                f.users_cold += 1
                # What the user waits for: the first instant a copy is loaded (a held call
                # is answered then; a rejected one can be answered by a retry then).
                ready = min((a for a, b in loaded if b > call.at), default=f.close)
                f.users_waited_seconds += max(0.0, (ready - call.at).total_seconds())
        else:
            f.calls_inside += 1
            f.not_ready_inside += call.outcome == "not_ready"
    for cp in seen.copies:
        f = owner(cp.load_started_at)
        f.load_seconds.append(cp.load_seconds)
        f.lost_before_open += cp.loaded_at is not None and cp.released_at <= f.open
        for a, b in cp.billing_windows():
            outside = ((b - a).total_seconds() - _overlap(a, b, windows)) / 60 * spec.cmus
            if a < f.open:
                f.outside_before_cmu_minutes += outside
            else:
                f.outside_after_cmu_minutes += outside
        f.billed_cmu_minutes += cp.billed_minutes * spec.cmus
    return figures


class FloorBroken(AssertionError):
    """A strategy billed less than the floor for a model it kept warm: the floor is wrong."""


def check_floor(result: "Result") -> None:
    """No strategy comes in under the floor for a model without a cold instant in one of
    its windows (with the users calling, such a window nearly always has a cold user
    request too); raise ``FloorBroken`` otherwise."""
    for key in result.runs:
        by_model: dict[str, list[WindowFigures]] = {}
        for f in result.per_window[key]:
            by_model.setdefault(f.model, []).append(f)
        for spec in result.fleet:
            figures = by_model.get(spec.name, [])
            billed = sum(cp.billed_minutes for cp in result.runs[key].observed[spec.name].copies) * spec.cmus
            floor = result.floor[spec.name][0] * spec.cmus
            if billed < floor and not any(f.cold_seconds > 0 for f in figures):
                raise FloorBroken(f"{result.scenario.name}, seed {result.seed}: {key} billed {billed} CMU-minutes "
                                  f"for {spec.name}, under its floor of {floor}, with no cold instant")


@dataclass
class Figures:
    """A strategy's totals over a set of windows (and seeds): the JSON's shape."""

    windows: int = 0
    windows_cold: int = 0
    cold_seconds: float = 0.0
    user_requests: int = 0
    user_requests_cold: int = 0
    user_requests_cold_after_first_window: int = 0
    user_seconds_waited: float = 0.0
    cmu_minutes_total: float = 0.0
    cmu_minutes_outside: float = 0.0
    calls: int = 0

    def add(self, other: "Figures") -> "Figures":
        return Figures(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    def as_json(self) -> dict[str, Any]:
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def summarise(figures: Sequence[WindowFigures], calls: int = 0) -> Figures:
    return Figures(
        windows=len(figures),
        windows_cold=sum(1 for f in figures if f.cold_seconds > 0),
        cold_seconds=sum(f.cold_seconds for f in figures),
        user_requests=sum(f.users for f in figures),
        user_requests_cold=sum(f.users_cold for f in figures),
        user_requests_cold_after_first_window=sum(f.users_cold for f in figures if f.learned),
        user_seconds_waited=sum(f.users_waited_seconds for f in figures),
        cmu_minutes_total=sum(f.billed_cmu_minutes for f in figures),
        cmu_minutes_outside=sum(f.outside_cmu_minutes for f in figures),
        calls=calls,
    )


@dataclass
class Result:
    """One scenario and one seed: every strategy on the same fleet, draws and users."""

    fleet: list[ModelSpec]
    start: datetime
    end: datetime
    run_end: datetime
    windows: dict[str, list[tuple[datetime, datetime]]]
    runs: dict[str, Run]
    per_window: dict[str, list[WindowFigures]]  # strategy -> every window of every model
    seed: int = 1
    scenario: Scenario = Scenario()
    floor: dict[str, tuple[int, float]] = field(default_factory=dict)  # model -> per-CMU total, outside
    labels: dict[str, str] = field(default_factory=dict)
    _figures: dict[tuple[str, bool], Figures] = field(default_factory=dict, repr=False)

    @property
    def platform(self) -> Platform:
        return self.scenario.platform

    @property
    def strategies(self) -> list[str]:
        return list(self.runs)

    @property
    def crons(self) -> list[str]:
        return [k for k in self.runs if k.startswith("cron-")]

    def figures(self, strategy: str, learned_only: bool = False) -> Figures:
        key = (strategy, learned_only)
        if key not in self._figures:  # the report asks for the same totals many times
            calls = sum(1 for seen in self.runs[strategy].observed.values() for c in seen.calls if not c.user)
            self._figures[key] = summarise([f for f in self.per_window[strategy] if f.learned or not learned_only],
                                           calls if not learned_only else 0)
        return self._figures[key]

    def floor_figures(self) -> tuple[float, float]:
        cmus = {s.name: s.cmus for s in self.fleet}
        return (sum(t * cmus[m] for m, (t, _) in self.floor.items()),
                sum(o * cmus[m] for m, (_, o) in self.floor.items()))


def totals(results: Sequence[Result], strategy: str, learned_only: bool = False) -> Figures:
    out = Figures()
    for r in results:
        out = out.add(r.figures(strategy, learned_only))
    return out


# -- the targets ----------------------------------------------------------------------------
FLOOR_FACTOR = 1.02


@dataclass
class Target:
    name: str
    measured: str
    met: Optional[bool]  # None: cannot be judged (said why in the detail)
    detail: str


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def best_cron(results: Sequence[Result]) -> str:
    """The cron whose users met a cold model least, then the cheaper in total."""
    crons = results[0].crons
    return min(crons, key=lambda k: (totals(results, k).user_requests_cold, totals(results, k).cmu_minutes_total))


def floor_total(results: Sequence[Result]) -> tuple[float, float]:
    pairs = [r.floor_figures() for r in results]
    return sum(t for t, _ in pairs), sum(o for _, o in pairs)


def cold_users_why(results: Sequence[Result]) -> str:
    """Where keepwarm's cold user requests fell, from what the simulators saw."""
    cold = [f for r in results for f in r.per_window[KEEPWARM.key] if f.users_cold]
    if not cold:
        return ""
    at_open = [f for f in cold if f.opened_cold]
    late = [(f.cold_spans[0][1] - f.open).total_seconds() for f in at_open]
    lost = [f for f in at_open if f.lost_before_open]
    slow = [f for f in at_open if not f.lost_before_open]
    loads = [max(f.load_seconds, default=0.0) for f in slow]
    later = len(cold) - len(at_open)
    text = (f"They fell in {len(cold)} windows ({sum(1 for f in cold if not f.learned)} of them a model's first): "
            f"{len(at_open)} opened cold")
    if at_open:
        parts = []
        if slow:
            parts.append(f"in {len(slow)} the loads took {statistics_mean(loads) / 60:.1f} min on average: the lead "
                         "was shorter than the load")
        if lost:
            parts.append(f"in {len(lost)} a copy loaded in time but was released before the ready-check reached "
                         "it (the release was shorter than the wait, and not yet known), and the check's own load "
                         "came late")
        text += (f" (ready {statistics_mean(late) / 60:.1f} min after the open on average, the slowest "
                 f"{max(late) / 60:.1f} min; " + "; ".join(parts) + ")")
    if later:
        text += (f", {later} went cold after the open (the copy was released inside the window: the "
                 f"release, {results[0].platform.shortest_release.total_seconds() / 60:g} min at the shortest, "
                 "came before keepwarm's next keep-alive)")
    return text + "."


def statistics_mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def cost_why(results: Sequence[Result]) -> str:
    """How keepwarm's billing sits against the floor's, window by window, on average: how
    long before the window's first user request its copy began billing, and how long after
    the floor's earliest release (the close, or the last user request + the shortest
    release) it was let go."""
    early, late = [], []
    for r in results:
        shortest = r.platform.shortest_release
        for spec in r.fleet:
            copies = [cp for cp in r.runs[KEEPWARM.key].observed[spec.name].copies
                      if cp.loaded_at and cp.billing_started_at]
            for o, c in r.windows[spec.name]:
                users = user_requests(r.scenario, r.seed, spec, o, c)
                serving = [cp for cp in copies if cp.loaded_at <= o < cp.released_at]
                if not users or not serving:
                    continue
                cp = serving[0]
                if cp.load_started_at >= o - timedelta(hours=1):  # loaded for this window, not carried over
                    early.append((users[0] - cp.billing_started_at).total_seconds() / 60)
                # Let go after this window (not kept for the next), and not inside it (a cold window).
                if c <= cp.released_at <= c + timedelta(hours=1):
                    late.append((cp.released_at - max(c, users[-1] + shortest)).total_seconds() / 60)
    if not early:
        return ""
    return (f"keepwarm's copies began billing {statistics_mean(early):.1f} min on average before the window's "
            f"first user request, where the floor begins (the ready-check before the open starts the billing; "
            f"a copy first called by a user at the open is billed from then), and were let go "
            f"{statistics_mean(late):+.1f} min on average from the floor's earliest release (the close, or the "
            "last user request plus the shortest release), counting the windows they kept warm to the close.")


def targets(results: Sequence[Result]) -> list[Target]:
    kw = totals(results, KEEPWARM.key)
    best = best_cron(results)
    bc = totals(results, best)
    labels = results[0].labels
    floor, _ = floor_total(results)
    found = []
    after = kw.user_requests_cold_after_first_window
    release = results[0].platform.shortest_release.total_seconds() / 60
    short = (f" The release ({release:g} min at the shortest) is below keepwarm's default 14-minute keep-alive; "
             f"the best cron, {labels[best]}, had {bc.user_requests_cold_after_first_window:,}."
             if release <= 14 else "")
    found.append(Target("0 cold user requests after each model's first window", f"{after:,}", after == 0,
                        ("Met." if after == 0 else f"Missed by {after:,} requests. " + cold_users_why(results)) + short))
    ratio = kw.cmu_minutes_total / floor if floor else math.inf
    found.append(Target(f"total CMU-minutes at most {FLOOR_FACTOR} x the floor", f"{ratio:.3f} x",
                        ratio <= FLOOR_FACTOR,
                        (f"keepwarm {_n(kw.cmu_minutes_total)} against the floor's {_n(floor)}"
                         + ("." if ratio <= FLOOR_FACTOR else
                            f": over by {_n(kw.cmu_minutes_total - FLOOR_FACTOR * floor)} CMU-minutes. ") + cost_why(results))))
    found.append(Target("no more cold user requests than the best cron",
                        f"{kw.user_requests_cold:,} vs {bc.user_requests_cold:,} ({best})",
                        kw.user_requests_cold <= bc.user_requests_cold,
                        f"The best cron: {labels[best]}, {bc.user_requests_cold:,} cold user requests."
                        + ("" if kw.user_requests_cold <= bc.user_requests_cold else
                           f" keepwarm had {kw.user_requests_cold - bc.user_requests_cold:,} more. " + cold_users_why(results))))
    as_few = [k for k in results[0].crons if totals(results, k).user_requests_cold <= kw.user_requests_cold]
    dearer = [k for k in as_few if totals(results, k).cmu_minutes_total < kw.cmu_minutes_total]
    found.append(Target("no more CMU-minutes than any cron with as few cold user requests",
                        ", ".join(f"{k} {_n(totals(results, k).cmu_minutes_total)}" for k in dearer) or
                        (f"cheapest of {len(as_few)}" if as_few else "no cron had as few"),
                        not dearer,
                        (f"Crons with as few cold user requests as keepwarm: {', '.join(as_few) or 'none'}; "
                         + (f"cheaper than keepwarm's {_n(kw.cmu_minutes_total)}: "
                            + ", ".join(f"{labels[k]} ({_n(totals(results, k).cmu_minutes_total)}, "
                                        f"{totals(results, k).user_requests_cold:,} cold user requests)" for k in dearer)
                            + ". " + cost_why(results) if dearer else "keepwarm is the cheapest of them."))))
    return found
