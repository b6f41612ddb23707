"""What a model's schedule costs, against keeping it warm around the clock.

This module owns the cost estimate: the CMU-minute price table (built in, overridable by
the operator), the periods a copy is loaded when keepwarm follows a model's windows, and
how Bedrock bills those periods (its billing facts: ``chalicelib.billing``). Pure: no AWS,
no clock, no environment. The operator's prices come parsed (``Settings.price_overrides``)
and a model's custom model units from its caller (``chalicelib.bedrock.custom_model_units``
reads them from ``GetImportedModel``).

Billing, as AWS's pricing page describes it: a running copy is billed per CMU per minute, in whole
5-minute windows counted from the copy's first successful call until the copy is
released, ``release`` after its last call. Storage ($1.95 per CMU-month) is paid whether
the copy runs or not, so it is reported beside the estimate and kept out of the saving.

How keepwarm times its calls (chalicelib.planner), which the estimate follows:
- the first call of a window goes out ``lead`` before it opens; a cold copy is ready, and
  billing starts, ``cold_start`` after that call;
- keep-alives hold the copy during the window; the last one goes out at
  ``close - keepalive``, so the copy is released at ``close - keepalive + release``;
- if the next window's first call reaches the copy before it is released, that call keeps
  the copy loaded: one continuous copy, billed as one period (see :func:`loaded_periods`).

Datetimes taken must be timezone-aware (naive ones raise ValueError); datetimes returned
are aware UTC. Money is rounded half up to cents, percentages to one decimal.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping, Optional, Sequence

from chalicelib.billing import BILLING_WINDOW, ready_check

UTC = timezone.utc

MINUTES_PER_DAY = 1440
# Storage is priced per CMU-month; a month is taken as 30 days.
DAYS_PER_MONTH = 30

# USD per CMU-minute for customModelUnitsVersion "1.0", on-demand Custom Model Import.
# Sources:
# - us-west-2: $0.05718, the AWS Bedrock pricing page
#   (https://aws.amazon.com/bedrock/pricing/, "Custom Model Import").
# - us-east-1: $0.05718, the same on-demand Custom Model Import price on that page (the
#   figure least often confirmed: override it if your bill disagrees).
# No other region is listed because no source for it was at hand: a model in any other
# region gets no price, and the estimate says so, until the operator supplies one
# (KEEPWARM_CMU_PRICES, parsed by chalicelib.settings: Settings.price_overrides). Do not add guessed figures.
BUILTIN_PRICES: dict[str, float] = {
    "us-west-2": 0.05718,
    "us-east-1": 0.05718,
}
_BUILTIN_SOURCE = {
    "us-west-2": "built-in: AWS Bedrock pricing page, Custom Model Import, CMU version 1.0, "
                 "us-west-2",
    "us-east-1": "built-in: AWS Bedrock pricing page, Custom Model Import, CMU version 1.0, "
                 "us-east-1 (same on-demand price as us-west-2)",
}
# USD per CMU-month, the AWS Bedrock pricing page (us-west-2). Applied wherever a compute price is
# known; no per-region storage figures were at hand.
STORAGE_PER_CMU_MONTH = 1.95

_CENT = Decimal("0.01")
_TENTH = Decimal("0.1")


class CostError(Exception):
    """The estimate cannot be made: reading the model's custom model units failed.

    ``reason`` says why, so the API can choose a status: ``not_found`` (the model is gone),
    ``access_denied`` (our role may not read it), ``missing_units`` (Bedrock gave no CMU
    count) or ``upstream`` (any other failure talking to Bedrock)."""

    def __init__(self, message: str, reason: str = "upstream"):
        super().__init__(message)
        self.reason = reason


# -- prices --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    per_cmu_minute: float  # USD
    source: str  # human-readable: where the figure comes from

    def to_dict(self) -> dict[str, Any]:
        return {"per_cmu_minute": self.per_cmu_minute, "source": self.source}


def price_for(region: str, overrides: Optional[Mapping[str, float]] = None) -> Optional[Price]:
    """The CMU-minute price in ``region``: the operator's override, else the built-in table;
    None if neither knows the region."""
    if overrides and region in overrides:
        return Price(float(overrides[region]), f"operator setting KEEPWARM_CMU_PRICES ({region})")
    if region in BUILTIN_PRICES:
        return Price(BUILTIN_PRICES[region], _BUILTIN_SOURCE.get(region, f"built-in ({region})"))
    return None


# -- loaded periods and billing -------------------------------------------------------------
def _utc(at: datetime, what: str) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at!r}")
    return at.astimezone(UTC)


def _iso(at: datetime) -> str:
    # The same text as chalicelib.records.iso: seconds, milliseconds only when non-zero.
    text = at.astimezone(UTC).isoformat(timespec="milliseconds" if at.microsecond else "seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class Period:
    start: datetime  # first successful call (billing starts)
    end: datetime  # copy released

    def __post_init__(self) -> None:
        start, end = _utc(self.start, "Period.start"), _utc(self.end, "Period.end")
        if end < start:
            raise ValueError(f"a period cannot end ({_iso(end)}) before it starts ({_iso(start)})")
        # Frozen: normalise to UTC through object.__setattr__.
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


def _check_durations(lead: timedelta, cold_start: timedelta, keepalive: timedelta,
                     release: timedelta) -> None:
    for name, value in (("lead", lead), ("cold_start", cold_start)):
        if value < timedelta(0):
            raise ValueError(f"{name} must not be negative, got {value}")
    if keepalive <= timedelta(0):
        raise ValueError(f"keepalive must be positive, got {keepalive}")
    # Otherwise the copy would be released between keep-alives and nothing holds it.
    if release <= keepalive:
        raise ValueError(f"release ({release}) must be longer than keepalive ({keepalive})")


def loaded_periods(intervals: Sequence[tuple[datetime, datetime]], *, lead: timedelta,
                   cold_start: timedelta, keepalive: timedelta, release: timedelta,
                   ready_check_margin: Optional[timedelta] = None) -> list[Period]:
    """Windows' (open, close) instants -> the periods a copy is loaded and billed, merged.

    Per window, with the copy cold: the first call goes out at ``open - lead`` and the copy
    serves its first successful call (billing starts) at ``open - lead + cold_start``. The
    copy is released ``release`` after the last call, which goes out at ``close - keepalive``
    or, in a window too short for that, is the first successful call itself.

    Merging: when a window's first call goes out before the previous copy is released,
    the call finds the copy loaded and keeps it: no cold start, one continuous copy. This
    is tested on the first *call*, not on the billing start the cold copy would have had:
    a copy still loaded is not reloaded. Periods that touch (the cold billing start equals
    the release) merge too. Durations come from UTC instants only, so a window across a
    DST change is as long as it really is.

    A window whose copy would be ready only at or after it closes has no successful call
    (keepwarm makes no call at or after a close) and so bills nothing; the next window
    starts cold.

    With ``ready_check_margin`` (a billing-aware model), the load is triggered at the
    first call but the bill starts at the held-back ready-check (:func:`ready_check`),
    which the load is taken to have finished by.

    Intervals may come in any order (they are sorted); each must have open < close.
    """
    _check_durations(lead, cold_start, keepalive, release)
    windows = sorted((_utc(o, "window open"), _utc(c, "window close")) for o, c in intervals)
    periods: list[Period] = []
    for opened, closed in windows:
        if closed <= opened:
            raise ValueError(f"a window must close after it opens: {_iso(opened)} .. {_iso(closed)}")
        first_call = opened - lead
        previous = periods[-1] if periods else None
        cold_ready = first_call + cold_start
        if previous is not None and (first_call < previous.end or cold_ready <= previous.end):
            # Still loaded when the first call reaches it: that call is a success. (Only
            # the touching case, with no cold start, leaves the cold ready time.)
            success = first_call if first_call < previous.end else cold_ready
            end = max(success, closed - keepalive) + release
            periods[-1] = Period(previous.start, max(previous.end, end))
            continue
        if ready_check_margin is not None:
            cold_ready = max(cold_ready, ready_check(opened, least=ready_check_margin))
        if cold_ready >= closed:
            continue  # ready only after the close: nobody calls, nothing is billed
        end = max(cold_ready, closed - keepalive) + release
        periods.append(Period(cold_ready, end))
    return periods


def billed_minutes(periods: Sequence[Period]) -> int:
    """Minutes billed per CMU: each period in whole 5-minute windows from its start.

    A zero-length period bills nothing (it only arises from clipping to a range edge)."""
    total = 0
    for period in periods:
        length = period.end - period.start
        # Ceiling division on timedelta keeps microsecond precision (no float rounding):
        # exactly 15 minutes is 3 windows, a microsecond more is 4.
        windows = -((-length) // BILLING_WINDOW)
        total += windows * (BILLING_WINDOW // timedelta(minutes=1))
    return total


# -- the estimate -------------------------------------------------------------------------
def _money(value: Decimal) -> float:
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class CostEstimate:
    days: int
    start: datetime
    end: datetime
    windows: int  # window intervals overlapping the range
    window_minutes: float  # minutes the windows are open, inside the range
    billed_minutes: int  # with lead, cold start, tail, 5-minute rounding, inside the range
    custom_model_units: int
    price: Optional[Price]
    cost: Optional[float]  # billed_minutes * CMUs * price, to cents
    always_warm_minutes: int  # days * 1440
    always_warm_cost: Optional[float]
    saving: Optional[float]  # always_warm_cost - cost
    saving_percent: Optional[float]  # of always_warm_cost, one decimal
    storage_cost: Optional[float]  # CMUs * 1.95 * days / 30, paid either way

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days, "start": _iso(self.start), "end": _iso(self.end),
            "windows": self.windows, "window_minutes": self.window_minutes,
            "billed_minutes": self.billed_minutes, "custom_model_units": self.custom_model_units,
            "price": self.price.to_dict() if self.price is not None else None,
            "cost": self.cost, "always_warm_minutes": self.always_warm_minutes,
            "always_warm_cost": self.always_warm_cost, "saving": self.saving,
            "saving_percent": self.saving_percent, "storage_cost": self.storage_cost,
            "currency": "USD",
        }


def estimate(intervals: Sequence[tuple[datetime, datetime]], *, start: datetime, days: int,
             custom_model_units: int, price: Optional[Price], lead: timedelta,
             cold_start: timedelta, keepalive: timedelta, release: timedelta,
             ready_check_margin: Optional[timedelta] = None) -> CostEstimate:
    """The cost of holding one copy over the windows in [start, start + days), against one
    copy loaded all that time.

    ``intervals`` are the model's window (open, close) pairs overlapping the range. Range
    edges: the loaded periods are clipped to the range before 5-minute rounding, so a window
    straddling an edge counts only its part inside (billed as if billing began or ended at
    the edge), and ranges laid end to end add up to within a window per edge. Window
    minutes are clipped the same way. A lead into the range from a window opening after it,
    or a tail from one closing before it, counts only if the caller passes that window.

    With ``price`` None (a region with no known price) every money figure is None; the
    minutes are still given."""
    start = _utc(start, "start")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, got {days!r}")
    if isinstance(custom_model_units, bool) or not isinstance(custom_model_units, int) \
            or custom_model_units < 1:
        raise ValueError(f"custom_model_units must be a whole number >= 1, got {custom_model_units!r}")
    end = start + timedelta(days=days)

    periods = loaded_periods(intervals, lead=lead, cold_start=cold_start,
                             keepalive=keepalive, release=release, ready_check_margin=ready_check_margin)
    clipped = [Period(max(p.start, start), min(p.end, end)) for p in periods
               if p.end > start and p.start < end]
    billed = billed_minutes(clipped)

    in_range = [(o, c) for o, c in ((_utc(o, "window open"), _utc(c, "window close"))
                                    for o, c in intervals) if c > start and o < end]
    open_time = sum((min(c, end) - max(o, start) for o, c in in_range), timedelta(0))
    window_minutes = open_time / timedelta(minutes=1)

    always_minutes = days * MINUTES_PER_DAY
    cost = always_cost = saving = percent = storage = None
    if price is not None:
        # Decimal from the float's shortest repr, so 0.05718 is exactly 0.05718.
        rate = Decimal(repr(price.per_cmu_minute)) * custom_model_units
        cost = _money(rate * billed)
        always_cost = _money(rate * always_minutes)
        # From the rounded figures, so the three numbers shown add up to the cent.
        saving = _money(Decimal(repr(always_cost)) - Decimal(repr(cost)))
        percent = float((Decimal(always_minutes - billed) * 100 / always_minutes)
                        .quantize(_TENTH, rounding=ROUND_HALF_UP))
        storage = _money(Decimal(repr(STORAGE_PER_CMU_MONTH)) * custom_model_units * days
                         / DAYS_PER_MONTH)
    return CostEstimate(
        days=days, start=start, end=end, windows=len(in_range), window_minutes=window_minutes,
        billed_minutes=billed, custom_model_units=custom_model_units, price=price, cost=cost,
        always_warm_minutes=always_minutes, always_warm_cost=always_cost, saving=saving,
        saving_percent=percent, storage_cost=storage)


# -- the month so far: what keepwarm actually held ------------------------------------------
def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s calendar month in UTC, as AWS bills."""
    now = _utc(now, "now")
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_end(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class MonthToDate:
    start: datetime  # the month's first instant (UTC)
    until: datetime  # now
    warm_spans: int  # copies keepwarm held this month
    warm_minutes: float  # how long they were held, up to now
    billed_minutes: int  # the same in whole 5-minute windows from each span's first success
    cost: Optional[float]  # billed_minutes * CMUs * price, to cents
    projected_minutes: Optional[int]  # billed so far plus the rest of the month's windows
    projected_cost: Optional[float]

    def to_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "until": _iso(self.until), "warm_spans": self.warm_spans,
                "warm_minutes": round(self.warm_minutes, 1), "billed_minutes": self.billed_minutes,
                "cost": self.cost, "projected_minutes": self.projected_minutes,
                "projected_cost": self.projected_cost}


def month_to_date(spans: Sequence[Period], *, now: datetime, custom_model_units: Optional[int],
                  price: Optional[Price], rest: Optional[Sequence[Period]] = None) -> MonthToDate:
    """What the copies keepwarm held this month were billed so far (``spans``: each from
    its first success to its assumed release), clipped to [month start, now); and, given
    ``rest`` (the periods the rest of the month's windows will load, as the projection
    sees them), the month's projected total. Money needs the CMUs and a price, else None."""
    now = _utc(now, "now")
    first = month_start(now)
    held = [Period(max(p.start, first), min(p.end, now)) for p in spans if p.end > first and p.start < now]
    billed = billed_minutes(held)
    warm = sum((p.end - p.start for p in held), timedelta(0)) / timedelta(minutes=1)
    projected = None
    if rest is not None:
        # What is still held runs on to its assumed release; the projection starts after it.
        after = max([now, *(p.end for p in spans)])
        last = month_end(now)
        parts = [Period(max(p.start, first), min(p.end, last)) for p in spans if p.end > first and p.start < last]
        # (A copy held past the month's end leaves nothing of the month to project.)
        parts += [Period(max(p.start, after), min(p.end, last)) for p in rest
                  if p.end > after and p.start < last and after < last]
        # A copy held now that the schedule goes on holding is one copy, billed in one run
        # of 5-minute windows, not rounded up once as held and again as projected. And the
        # projection is of one copy: the month bills it for at most the minutes it has.
        projected = min(billed_minutes(_joined(parts)), (last - first) // timedelta(minutes=1))
    cost = projected_cost = None
    if price is not None and custom_model_units is not None:
        rate = Decimal(repr(price.per_cmu_minute)) * custom_model_units
        cost = _money(rate * billed)
        projected_cost = _money(rate * projected) if projected is not None else None
    return MonthToDate(first, now, len(held), warm, billed, cost, projected, projected_cost)


def _joined(periods: Sequence[Period]) -> list[Period]:
    """Periods that overlap or touch, as one: the same copy, held on."""
    joined: list[Period] = []
    for period in sorted(periods, key=lambda p: p.start):
        if joined and period.start <= joined[-1].end:
            joined[-1] = Period(joined[-1].start, max(joined[-1].end, period.end))
        else:
            joined.append(period)
    return joined
