"""chalicelib.costs: prices, loaded periods, 5-minute billing and the estimate; with them the
operator's price setting (chalicelib.settings) and reading a model's custom model units from
Bedrock (chalicelib.bedrock, against the simulator through a real boto3 client).

Expected figures are worked out by hand in each test, not by calling the code under test.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import pytz
from hypothesis import given
from hypothesis import strategies as st
from botocore.config import Config
from botocore.stub import Stubber

from chalicelib import costs
from chalicelib.bedrock import custom_model_units
from chalicelib.billing import ready_check
from chalicelib.costs import CostError, Period, Price
from chalicelib.settings import parse_price_overrides
from helpers import cents
from local.simulator import ManualClock, Simulator

UTC = timezone.utc
MONDAY = datetime(2026, 3, 9, tzinfo=UTC)  # Europe/London is on GMT (= UTC) this week
ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/costmodel001"
US_WEST_2 = Price(0.05718, "test")

# keepwarm's defaults: first call 3 min early, 14-minute keep-alives, 15-minute release;
# a 90-second cold start.
DEFAULTS = dict(lead=timedelta(minutes=3), cold_start=timedelta(seconds=90),
                keepalive=timedelta(minutes=14), release=timedelta(minutes=15))


def t(hour: int, minute: int = 0, second: int = 0, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def business_days(n: int, start: str = "09:00", stop: str = "18:00") -> list[tuple[datetime, datetime]]:
    (h1, m1), (h2, m2) = (map(int, start.split(":")), map(int, stop.split(":")))
    return [(t(h1, m1, day=d), t(h2, m2, day=d)) for d in range(n)]


# -- the headline figure ---------------------------------------------------------------------------
def test_four_units_around_the_clock_for_thirty_days():
    # 4 CMUs x $0.05718 x 60 x 24 x 30 = 43,200 min x $0.22872 = $9,880.704 -> $9,880.70.
    # 43,200 minutes x 4 CMUs x $0.05718 = $9,880.704.
    price = costs.price_for("us-west-2")
    est = costs.estimate([], start=MONDAY, days=30, custom_model_units=4, price=price, **DEFAULTS)
    assert est.always_warm_minutes == 43_200
    assert est.always_warm_cost == 9880.70
    assert est.cost == 0.0 and est.billed_minutes == 0
    assert est.saving == 9880.70 and est.saving_percent == 100.0
    # Storage is paid either way: 4 x $1.95 for a 30-day month, outside the saving.
    assert est.storage_cost == 7.80


# -- a business week -----------------------------------------------------------------------------
def test_periods_of_a_business_day_with_lead_cold_start_and_tight_end():
    periods = costs.loaded_periods([(t(9), t(18))], **DEFAULTS)
    # First call 08:57:00, ready (billing starts) 90 s later; last keep-alive 17:46, released
    # 15 min later.
    assert periods == [Period(t(8, 58, 30), t(18, 1))]


def test_a_mon_fri_week_of_nine_to_six():
    est = costs.estimate(business_days(5), start=MONDAY, days=7, custom_model_units=4,
                         price=US_WEST_2, **DEFAULTS)
    assert est.windows == 5
    assert est.window_minutes == 5 * 540
    # 08:58:30 .. 18:01 = 542.5 min -> 109 windows of 5 min = 545 billed, each day.
    assert est.billed_minutes == 5 * 545 == 2725
    # 2,725 x 4 x 0.05718 = 623.262
    assert est.cost == 623.26
    # 7 x 1,440 = 10,080 min x 4 x 0.05718 = 2,305.4976
    assert est.always_warm_minutes == 10_080
    assert est.always_warm_cost == 2305.50
    assert est.saving == 1682.24  # 2,305.50 - 623.26
    assert est.saving_percent == 73.0  # 1 - 2,725 / 10,080 = 72.966 %
    assert est.storage_cost == 1.82  # 4 x 1.95 x 7 / 30


# -- merging -------------------------------------------------------------------------------------
def test_a_first_call_that_finds_the_copy_loaded_continues_it():
    # Window 1 ends with a keep-alive at 11:46, so its copy is released at 12:01. Window 2
    # opens 12:03: its first call (12:00) reaches the loaded copy, which carries on.
    periods = costs.loaded_periods([(t(9), t(12)), (t(12, 3), t(18))], **DEFAULTS)
    assert periods == [Period(t(8, 58, 30), t(18, 1))]
    # Opening 12:03:30 the first call is at 12:00:30, still before the 12:01 release: one
    # copy, though a cold copy would have started billing only at 12:02, after the release.
    periods = costs.loaded_periods([(t(9), t(12)), (t(12, 3, 30), t(18))], **DEFAULTS)
    assert periods == [Period(t(8, 58, 30), t(18, 1))]


def test_a_five_minute_gap_is_two_copies():
    # One might expect 09:00-12:00 and 12:05-18:00 to be one copy with the defaults, but
    # by keepwarm's own timing the first copy is released at 12:01 (11:46 + 15) and window
    # 2's first call goes out at 12:02 (12:05 - 3): the copy is gone, a new one loads and
    # bills from 12:03:30. The simulator agrees (test_estimate_matches_the_simulator).
    periods = costs.loaded_periods([(t(9), t(12)), (t(12, 5), t(18))], **DEFAULTS)
    assert periods == [Period(t(8, 58, 30), t(12, 1)), Period(t(12, 3, 30), t(18, 1))]


def test_a_three_hour_gap_gives_two_copies():
    periods = costs.loaded_periods([(t(9), t(12)), (t(15), t(18))], **DEFAULTS)
    assert periods == [Period(t(8, 58, 30), t(12, 1)), Period(t(14, 58, 30), t(18, 1))]
    # 08:58:30..12:01 = 182.5 -> 185; 14:58:30..18:01 = 182.5 -> 185: rounded per copy.
    assert costs.billed_minutes(periods) == 370


def test_periods_that_touch_merge():
    # No cold start: window 2's copy would start billing at 12:01, the instant copy 1 is
    # released.
    timing = dict(DEFAULTS, cold_start=timedelta(0))
    periods = costs.loaded_periods([(t(9), t(12)), (t(12, 4), t(18))], **timing)
    assert periods == [Period(t(8, 57), t(18, 1))]
    # A second later they no longer touch.
    periods = costs.loaded_periods([(t(9), t(12)), (t(12, 4, 1), t(18))], **timing)
    assert len(periods) == 2


def test_windows_arrive_in_any_order():
    forward = costs.loaded_periods([(t(9), t(12)), (t(15), t(18))], **DEFAULTS)
    assert costs.loaded_periods([(t(15), t(18)), (t(9), t(12))], **DEFAULTS) == forward


def test_a_window_shorter_than_the_keepalive():
    # 09:00-09:10: ready 08:58:30; close - keepalive (08:56) is earlier, so the last call is
    # the first success itself and the copy goes at 09:13:30.
    assert costs.loaded_periods([(t(9), t(9, 10))], **DEFAULTS) == [Period(t(8, 58, 30), t(9, 13, 30))]


def test_a_copy_ready_only_after_the_close_bills_nothing():
    # A 10-minute cold start on a 5-minute window with a 3-minute lead: ready at 09:07, two
    # minutes after the close; keepwarm makes no call then, so no call ever succeeds.
    timing = dict(DEFAULTS, cold_start=timedelta(minutes=10))
    assert costs.loaded_periods([(t(9), t(9, 5))], **timing) == []


def _play_keepwarm(sim: Simulator, clock: ManualClock, windows, lead, cold_start, keepalive) -> None:
    """Call the simulator when keepwarm would: first call ``lead`` before each window, a
    poll when the copy is ready, keep-alives every ``keepalive``, the last at the close
    minus ``keepalive``."""
    body = json.dumps({"prompt": "hi", "max_gen_len": 1}).encode()

    def call(at: datetime) -> int:
        clock.set(at)
        return sim.invoke(ARN, body).status

    for opened, closed in windows:
        success = opened - lead
        if call(success) != 200:
            success += cold_start
            assert call(success) == 200
        while success + keepalive < closed - keepalive:
            success += keepalive
            assert call(success) == 200
        if closed - keepalive > success:
            assert call(closed - keepalive) == 200


@pytest.mark.parametrize("second_open", [t(12, 3), t(12, 3, 30), t(12, 5), t(15)])
def test_estimate_matches_the_simulator(second_open):
    windows = [(t(9), t(12)), (second_open, t(18))]
    clock = ManualClock(t(8))
    sim = Simulator(clock=clock)
    sim.add_model(ARN, load_seconds=90, release_seconds=900, cmus=4)
    _play_keepwarm(sim, clock, windows, DEFAULTS["lead"], DEFAULTS["cold_start"], DEFAULTS["keepalive"])
    clock.set(t(23))  # long after: every copy released
    seen = sim.inspect(ARN)
    periods = costs.loaded_periods(windows, **DEFAULTS)
    assert len(seen["copies"]) == len(periods)
    assert seen["billed_minutes"] == costs.billed_minutes(periods)


# -- 5-minute windows ----------------------------------------------------------------------------
@pytest.mark.parametrize("length, billed", [
    (timedelta(minutes=15), 15),
    (timedelta(minutes=15, seconds=1), 20),
    (timedelta(minutes=15, microseconds=1), 20),
    (timedelta(minutes=14, seconds=59), 15),
    (timedelta(seconds=1), 5),
    (timedelta(0), 0),
])
def test_whole_five_minute_windows_from_the_start(length, billed):
    assert costs.billed_minutes([Period(t(9), t(9) + length)]) == billed


def test_each_period_is_rounded_on_its_own():
    two = [Period(t(9), t(9, 1)), Period(t(10), t(10, 1))]
    assert costs.billed_minutes(two) == 10
    assert costs.billed_minutes([]) == 0


# -- DST ------------------------------------------------------------------------------------------
def test_a_london_window_on_the_day_the_clocks_go_forward():
    london = pytz.timezone("Europe/London")
    # 2026-03-29: BST from 01:00 UTC. 09:00-18:00 BST is 08:00-17:00 UTC.
    opened, closed = datetime(2026, 3, 29, 8, tzinfo=UTC), datetime(2026, 3, 29, 17, tzinfo=UTC)
    assert (opened.astimezone(london).hour, closed.astimezone(london).hour) == (9, 18)
    est = costs.estimate([(opened, closed)], start=datetime(2026, 3, 29, tzinfo=UTC), days=1,
                         custom_model_units=1, price=US_WEST_2, **DEFAULTS)
    assert est.window_minutes == 540
    assert est.billed_minutes == 545


def test_an_overnight_window_across_the_change_is_an_hour_short():
    london = pytz.timezone("Europe/London")
    # Saturday 18:00 GMT to Sunday 09:00 BST: 15 hours on the wall clock, 14 hours elapsed.
    opened, closed = datetime(2026, 3, 28, 18, tzinfo=UTC), datetime(2026, 3, 29, 8, tzinfo=UTC)
    assert (opened.astimezone(london).hour, closed.astimezone(london).hour) == (18, 9)
    est = costs.estimate([(opened, closed)], start=datetime(2026, 3, 28, tzinfo=UTC), days=2,
                         custom_model_units=1, price=US_WEST_2, **DEFAULTS)
    assert est.window_minutes == 14 * 60
    assert est.billed_minutes == 845  # 17:58:30 .. 08:01 = 842.5 -> 845


def test_times_in_other_zones_are_the_same_instants():
    london = pytz.timezone("Europe/London")
    local = (london.localize(datetime(2026, 3, 29, 9)), london.localize(datetime(2026, 3, 29, 18)))
    utc = (datetime(2026, 3, 29, 8, tzinfo=UTC), datetime(2026, 3, 29, 17, tzinfo=UTC))
    assert costs.loaded_periods([local], **DEFAULTS) == costs.loaded_periods([utc], **DEFAULTS)
    assert costs.loaded_periods([local], **DEFAULTS)[0].start.tzinfo == UTC


# -- range edges ---------------------------------------------------------------------------------
def test_periods_are_clipped_to_the_range():
    # Range Monday 12:00 .. Tuesday 12:00; both days' windows straddle an edge.
    est = costs.estimate(business_days(2), start=t(12), days=1, custom_model_units=1,
                         price=US_WEST_2, **DEFAULTS)
    assert est.start == t(12) and est.end == t(12, day=1)
    assert est.windows == 2
    assert est.window_minutes == 360 + 180  # Mon 12:00-18:00, Tue 09:00-12:00
    # Mon 12:00..18:01 = 361 -> 365; Tue 08:58:30..12:00 = 181.5 -> 185.
    assert est.billed_minutes == 550


def test_windows_outside_the_range_count_only_their_spill_into_it():
    # The range opens at 18:00 as Monday's window closes: not a window in the range, but its
    # copy runs until 18:01, one 5-minute window inside. Tuesday's opens after the range.
    est = costs.estimate(business_days(2), start=t(18), days=1, custom_model_units=1,
                         price=US_WEST_2, **DEFAULTS)
    # Range 18:00 Mon .. 18:00 Tue contains Tuesday's window whole.
    assert est.windows == 1 and est.window_minutes == 540
    assert est.billed_minutes == 5 + 545
    later = costs.estimate(business_days(1), start=t(18), days=1, custom_model_units=1,
                           price=US_WEST_2, **DEFAULTS)
    assert (later.windows, later.window_minutes, later.billed_minutes) == (0, 0, 5)


# -- prices ----------------------------------------------------------------------------------------
def test_built_in_prices_and_overrides():
    built_in = costs.price_for("us-west-2")
    assert built_in is not None and built_in.per_cmu_minute == 0.05718
    assert "pricing page" in built_in.source and "us-west-2" in built_in.source
    assert costs.price_for("us-east-1").per_cmu_minute == 0.05718
    overridden = costs.price_for("us-west-2", {"us-west-2": 0.06})
    assert overridden.per_cmu_minute == 0.06 and "KEEPWARM_CMU_PRICES" in overridden.source
    assert costs.price_for("eu-central-1", {"eu-central-1": 0.0686}).per_cmu_minute == 0.0686
    # An override for another region leaves the built-in figure alone.
    assert costs.price_for("us-west-2", {"eu-central-1": 0.0686}).per_cmu_minute == 0.05718


def test_no_price_for_a_region_nobody_priced():
    assert costs.price_for("eu-central-1") is None
    assert costs.price_for("eu-central-1", {}) is None
    assert "eu-central-1" not in costs.BUILTIN_PRICES


def test_an_estimate_without_a_price_still_gives_the_minutes():
    est = costs.estimate(business_days(5), start=MONDAY, days=7, custom_model_units=4,
                         price=None, **DEFAULTS)
    assert est.billed_minutes == 2725 and est.window_minutes == 2700
    assert est.always_warm_minutes == 10_080
    assert (est.cost, est.always_warm_cost, est.saving, est.saving_percent, est.storage_cost) \
        == (None, None, None, None, None)
    assert est.to_dict()["price"] is None


def test_to_dict_is_json_ready_with_utc_z_times():
    start = pytz.timezone("America/New_York").localize(datetime(2026, 3, 9, 9))  # 13:00 UTC (EDT)
    est = costs.estimate(business_days(5), start=start, days=1, custom_model_units=2,
                         price=US_WEST_2, **DEFAULTS)
    body = json.loads(json.dumps(est.to_dict()))
    assert body["start"] == "2026-03-09T13:00:00Z" and body["end"] == "2026-03-10T13:00:00Z"
    assert body["price"] == {"per_cmu_minute": 0.05718, "source": "test"}
    assert body["custom_model_units"] == 2 and body["days"] == 1


@pytest.mark.parametrize("text, expected", [
    (None, {}),
    ("", {}),
    ("   ", {}),
    ("{}", {}),
    ('{"us-west-2": 0.05718, "eu-central-1": 0.0686}', {"us-west-2": 0.05718, "eu-central-1": 0.0686}),
    ('{"us-gov-west-1": 1}', {"us-gov-west-1": 1.0}),
])
def test_price_overrides_parse(text, expected):
    parsed = parse_price_overrides(text)
    assert parsed == expected
    assert all(type(v) is float for v in parsed.values())


@pytest.mark.parametrize("text, problem", [
    ("{us-west-2: 0.05}", "not valid JSON"),
    ("[0.05]", "JSON object"),
    ("0.05", "JSON object"),
    ('{"US-WEST-2": 0.05}', "region"),
    ('{"mars": 0.05}', "region"),
    ('{"": 0.05}', "region"),
    ('{"us-west-2\\n": 0.05}', "region"),
    ('{"us-west-2": 0}', "positive"),
    ('{"us-west-2": -0.05}', "positive"),
    ('{"us-west-2": NaN}', "positive"),
    ('{"us-west-2": Infinity}', "positive"),
    ('{"us-west-2": "0.05"}', "number"),
    ('{"us-west-2": true}', "number"),
    ('{"us-west-2": null}', "number"),
])
def test_bad_price_overrides_are_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_price_overrides(text)


# -- custom model units -------------------------------------------------------------------------------
def test_custom_model_units_from_get_imported_model(simulator):
    simulator.add_model(ARN, load_seconds=0, cmus=4)
    assert custom_model_units(boto3.client("bedrock", region_name="us-west-2"), ARN) == 4


def test_an_unknown_model_is_a_cost_error(simulator):
    simulator.add_model(ARN)
    simulator.remove_model(ARN)
    with pytest.raises(CostError, match="not found") as caught:
        custom_model_units(boto3.client("bedrock", region_name="us-west-2"), ARN)
    assert caught.value.reason == "not_found" and ARN in str(caught.value)


def test_access_denied_is_a_cost_error():
    client = boto3.client("bedrock", region_name="us-west-2")
    with Stubber(client) as stub:
        stub.add_client_error("get_imported_model", service_error_code="AccessDeniedException",
                              service_message="not authorized", http_status_code=403)
        with pytest.raises(CostError, match="access denied") as caught:
            custom_model_units(client, ARN)
    assert caught.value.reason == "access_denied"


@pytest.mark.parametrize("response", [
    {},
    {"customModelUnits": {}},
    {"customModelUnits": {"customModelUnitsVersion": "1.0"}},
])
def test_missing_model_units_are_a_cost_error(response):
    client = boto3.client("bedrock", region_name="us-west-2")
    with Stubber(client) as stub:
        stub.add_response("get_imported_model", response, {"modelIdentifier": ARN})
        with pytest.raises(CostError, match="no custom model units") as caught:
            custom_model_units(client, ARN)
    assert caught.value.reason == "missing_units"


def test_an_unreachable_bedrock_is_a_cost_error():
    # conftest points every service at a closed loopback port until a fixture says otherwise.
    client = boto3.client("bedrock", region_name="us-west-2",
                          config=Config(retries={"total_max_attempts": 1}, connect_timeout=2))
    with pytest.raises(CostError, match="could not reach") as caught:
        custom_model_units(client, ARN)
    assert caught.value.reason == "upstream"


# -- refusals ------------------------------------------------------------------------------------
def test_naive_datetimes_are_refused():
    naive = datetime(2026, 3, 9, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        costs.loaded_periods([(naive, naive + timedelta(hours=9))], **DEFAULTS)
    with pytest.raises(ValueError, match="timezone-aware"):
        costs.loaded_periods([(t(9), naive + timedelta(hours=9))], **DEFAULTS)
    with pytest.raises(ValueError, match="timezone-aware"):
        costs.estimate([], start=naive, days=1, custom_model_units=1, price=None, **DEFAULTS)
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(naive, naive + timedelta(minutes=5))


@pytest.mark.parametrize("change, problem", [
    (dict(keepalive=timedelta(minutes=15)), "longer than keepalive"),
    (dict(keepalive=timedelta(0)), "positive"),
    (dict(lead=timedelta(minutes=-1)), "negative"),
    (dict(cold_start=timedelta(seconds=-1)), "negative"),
])
def test_impossible_timings_are_refused(change, problem):
    with pytest.raises(ValueError, match=problem):
        costs.loaded_periods([(t(9), t(18))], **dict(DEFAULTS, **change))


def test_bad_windows_and_ranges_are_refused():
    with pytest.raises(ValueError, match="close after it opens"):
        costs.loaded_periods([(t(18), t(9))], **DEFAULTS)
    with pytest.raises(ValueError, match="end"):
        Period(t(10), t(9))
    for days in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="days"):
            costs.estimate([], start=MONDAY, days=days, custom_model_units=1, price=None, **DEFAULTS)
    with pytest.raises(ValueError, match="custom_model_units"):
        costs.estimate([], start=MONDAY, days=1, custom_model_units=0, price=None, **DEFAULTS)


@given(st.lists(st.tuples(st.integers(-20 * 1440, 20 * 1440), st.integers(0, 600)), max_size=8),
       st.integers(0, 27 * 1440))
def test_the_month_so_far_bills_each_held_copy_inside_the_month_and_up_to_now(spans, minutes_in):
    first = datetime(2026, 3, 1, tzinfo=timezone.utc)
    now = first + timedelta(minutes=minutes_in)
    periods = [Period(first + timedelta(minutes=s), first + timedelta(minutes=s + length)) for s, length in spans]
    month = costs.month_to_date(periods, now=now, custom_model_units=2, price=US_WEST_2)
    inside = [(max(p.start, first), min(p.end, now)) for p in periods if p.end > first and p.start < now]
    warm = sum((e - s for s, e in inside), timedelta(0)) / timedelta(minutes=1)
    assert month.start == first and month.until == now and month.warm_spans == len(inside)
    assert month.warm_minutes == pytest.approx(warm)
    # Each copy in whole 5-minute windows from its first success: at most one window more.
    assert warm <= month.billed_minutes <= warm + 5 * len(inside)
    assert month.cost == cents(month.billed_minutes * 2, 0.05718)
    assert month.projected_minutes is None


def test_the_month_so_far_without_units_or_price_gives_minutes_only():
    span = Period(datetime(2026, 3, 2, 9, tzinfo=timezone.utc), datetime(2026, 3, 2, 9, 12, tzinfo=timezone.utc))
    month = costs.month_to_date([span], now=datetime(2026, 3, 3, tzinfo=timezone.utc), custom_model_units=None,
                                price=US_WEST_2)
    assert (month.billed_minutes, month.cost, month.projected_cost) == (15, None, None)
    assert costs.month_end(datetime(2026, 12, 31, 23, tzinfo=timezone.utc)) == datetime(2027, 1, 1, tzinfo=timezone.utc)


MARCH = datetime(2026, 3, 1, tzinfo=UTC)
MARCH_MINUTES = 31 * 1440  # 44,640


def test_an_always_on_model_projects_the_minutes_march_has_and_no_more():
    # Held since the month began, its last success at 08:01:07 on the 9th; the schedule
    # goes on holding the same copy to the end of the month (and past it).
    now = datetime(2026, 3, 9, 8, 2, tzinfo=UTC)
    held = Period(MARCH, datetime(2026, 3, 9, 8, 16, 7, tzinfo=UTC))
    rest = costs.loaded_periods([(MARCH - timedelta(days=2), datetime(2026, 4, 3, tzinfo=UTC))], **DEFAULTS)
    month = costs.month_to_date([held], now=now, custom_model_units=1, price=US_WEST_2, rest=rest)
    assert month.projected_minutes == MARCH_MINUTES
    assert month.projected_cost == cents(MARCH_MINUTES, 0.05718)


@given(st.integers(0, 31 * 1440 - 1), st.integers(1, 32 * 1440), st.integers(0, 600 * 60),
       st.lists(st.tuples(st.integers(-3 * 1440, 33 * 1440), st.integers(1, 3 * 1440)), max_size=12),
       st.booleans(), st.integers(0, 600), st.integers(1, 14))
def test_a_projection_never_bills_more_minutes_than_the_month_has(now_minute, held_minutes, tail_seconds,
                                                                 windows, always, cold_seconds, keepalive):
    now = MARCH + timedelta(minutes=now_minute)
    # The copy held now: since some while before now, to its assumed release after it.
    held = Period(now - timedelta(minutes=held_minutes), now + timedelta(seconds=tail_seconds))
    intervals = [(MARCH + timedelta(minutes=s), MARCH + timedelta(minutes=s + length)) for s, length in windows]
    if always:  # a window open all month and past it: the schedule holds the same copy on
        intervals.append((MARCH - timedelta(days=2), MARCH + timedelta(days=33)))
    rest = costs.loaded_periods(intervals, lead=timedelta(minutes=3), cold_start=timedelta(seconds=cold_seconds),
                                keepalive=timedelta(minutes=keepalive), release=timedelta(minutes=15))
    month = costs.month_to_date([held], now=now, custom_model_units=1, price=US_WEST_2, rest=rest)
    assert month.billed_minutes <= month.projected_minutes <= MARCH_MINUTES
    if always and held.start <= MARCH:
        assert month.projected_minutes == MARCH_MINUTES  # held all month, every minute billed once


def test_a_copy_held_into_next_month_projects_the_month_it_has_and_does_not_fail():
    # 23:55 on 31 March, the copy's assumed release 10 minutes into April: the rest of the
    # month is already held, and nothing of the month is left to project.
    now = datetime(2026, 3, 31, 23, 55, tzinfo=UTC)
    held = Period(MARCH, datetime(2026, 4, 1, 0, 10, tzinfo=UTC))
    rest = costs.loaded_periods([(MARCH - timedelta(days=2), datetime(2026, 4, 3, tzinfo=UTC))], **DEFAULTS)
    month = costs.month_to_date([held], now=now, custom_model_units=1, price=US_WEST_2, rest=rest)
    assert month.projected_minutes == MARCH_MINUTES


@given(length=st.integers(min_value=1, max_value=24 * 60), users=st.lists(st.integers(min_value=0, max_value=24 * 60),
                                                                          max_size=4),
       keepalive=st.integers(min_value=1, max_value=14), extra=st.integers(min_value=1, max_value=46),
       least=st.integers(min_value=0, max_value=5))
def test_the_ready_check_bills_no_more_than_any_earlier_check_with_or_without_users(length, users, keepalive, extra,
                                                                                      least):
    # The copy is billed from the check to its release after the last call: the check, the
    # window's tight end, or a user's request inside the window. No check earlier than
    # the one chosen (all at least ``least`` before the open) is billed less, whoever calls.
    opened = t(9)
    closed = opened + timedelta(minutes=length)
    ka, release = timedelta(minutes=keepalive), timedelta(minutes=keepalive + extra)
    margin = timedelta(minutes=least)
    chosen = ready_check(opened, least=margin)
    assert chosen <= opened - margin
    calls = [opened + timedelta(minutes=min(u, length - 1)) for u in users]

    def bill(check: datetime) -> int:
        last = max([check, closed - ka, *calls])
        return costs.billed_minutes([Period(check, last + release)])

    for earlier in range(0, 61):
        assert bill(chosen) <= bill(opened - margin - timedelta(minutes=earlier))
