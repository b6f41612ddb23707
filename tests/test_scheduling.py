"""Smart scheduling on a simulated clock: learned lead, tight end, self-correction,
leases, overrides, holidays and cost, through the API, tick and worker."""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import ARN_LLAMA, ARN_QWEN
from helpers import at, cents, call_times, calls, events, instant, lead, register, send, show


def test_the_copy_is_released_a_minute_after_the_window_closes(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=67)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(20))
    successes = call_times(simulator, ARN_LLAMA, "ready")
    # The last call is the one that just covers 18:00: 14 minutes before it.
    assert successes[-1] == at(17, 46)
    assert all((b - a) <= timedelta(minutes=14) for a, b in zip(successes, successes[1:]))
    (copy,) = simulator.inspect(ARN_LLAMA)["copies"]
    # The simulator releases an idle copy 15 minutes after the last call: 18:01.
    assert instant(copy["released_at"]) == at(18, 1)


def test_a_slow_model_is_ready_at_the_open_from_its_first_day(client, driver, simulator):
    # Four minutes to load: the billing-aware lead (from the prior, before any sample) is
    # long enough, and costs nothing: the bill starts at the held check, 08:59.
    simulator.add_model(ARN_LLAMA, load_seconds=240)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(12))
    assert call_times(simulator, ARN_LLAMA, "ready")[0] == at(8, 59)
    copy, = simulator.inspect(ARN_LLAMA)["copies"]
    assert instant(copy["loaded_at"]) < at(8, 59) and instant(copy["first_success_at"]) == at(8, 59)


def test_a_load_longer_than_the_lead_teaches_it_and_the_next_day_is_ready_at_the_open(client, driver,
                                                                                        simulator):
    # Ten minutes to load (a large model), more than the first lead: day one's check finds
    # it still loading, polls it until ready (28 s into the window), and that cold start,
    # bounded between the check and the answer, lengthens the lead.
    simulator.add_model(ARN_LLAMA, load_seconds=600)
    register(client, model_arn=ARN_LLAMA, name="llama")
    first_lead = lead(client, "llama")
    assert first_lead < timedelta(seconds=600)
    ready_at = []
    for day in range(3):
        driver.run_until(at(12, day=day))
        first = [t for t in call_times(simulator, ARN_LLAMA, "ready") if t >= at(0, day=day)][0]
        ready_at.append(first - at(9, day=day))
    # Day one: ready once the load outlasted the lead, found by the next poll.
    assert timedelta(0) < ready_at[0] <= timedelta(seconds=600) - first_lead + timedelta(seconds=10)
    assert lead(client, "llama") >= timedelta(seconds=600 + 40)
    assert ready_at[1] <= timedelta(0) and ready_at[2] <= timedelta(0)
    # And the model is not billed long before it is needed: its first success is the held
    # check or, for a load that outlasts it, the poll that finds it ready.
    assert ready_at[2] >= -timedelta(minutes=5)


def test_a_model_released_early_gets_a_shorter_keepalive(client, driver, simulator):
    # This model's copies go after 10 idle minutes, not the assumed 15.
    simulator.add_model(ARN_LLAMA, load_seconds=30, release_seconds=600)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(18))
    surprises = [e for e in events(client, "llama") if e["kind"] == "unexpected_cold"]
    assert len(surprises) == 1
    assert surprises[0]["keepalive_minutes_after"] == 4  # a third of the 14-minute gap
    state = show(client, "llama")["state"]
    assert state["keepalive_minutes_in_force"] == 4 and "found the model cold" in state["keepalive_reason"]
    # Since then the model stayed loaded: one copy from the surprise to the close.
    copies = simulator.inspect(ARN_LLAMA)["copies"]
    assert len(copies) == 2
    # An operator's own interval wins over what was learned.
    body = send(client, "PUT", "/models/llama", {"keepalive_minutes": 9}).json_body
    assert body["state"]["keepalive_minutes_in_force"] == 9 and body["state"]["keepalive_reason"] is None


# -- leases ---------------------------------------------------------------------------------------
def lease(client, name: str, minutes: int, **extra) -> dict:
    response = send(client, "POST", f"/models/{name}/leases", {"minutes": minutes, **extra})
    assert response.status_code == 201, response.body
    return response.json_body


def test_a_lease_warms_the_model_at_once_outside_its_windows(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=90)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20, 0, 30))  # evening: the window is long closed
    body = lease(client, "llama", 60, holder="nightly-etl")
    assert body["ready"] is False and body["status"] == "cold" and body["active"] is True
    assert body["holder"] == "nightly-etl"
    assert instant(body["expires_at"]) == at(21, 0, 30)
    # No sample yet: expected ready after the prior's median load (90 s).
    assert instant(body["expected_ready_at"]) == at(20, 2)
    # The API queued the first call itself: it goes now, not at the next tick.
    assert call_times(simulator, ARN_LLAMA) == []
    driver.run_until(at(20, 0, 31))
    assert call_times(simulator, ARN_LLAMA) == [at(20, 0, 30)]
    driver.run_until(at(20, 5))
    status = client.http.get(f"/models/llama/leases/{body['id']}").json_body
    assert status["ready"] is True and status["status"] == "warm"
    driver.run_until(at(23))
    times = call_times(simulator, ARN_LLAMA)
    assert max(times) < at(21, 0, 30)
    assert max(times) >= at(21, 0, 30) - timedelta(minutes=14)
    expired = client.http.get(f"/models/llama/leases/{body['id']}")
    assert expired.status_code == 404
    assert expired.json_body["Message"] == f"lease {body['id']} of llama expired at 2026-03-09T21:00:30Z"
    # The batch job's team is told when the model was ready for it, and when its lease ran out.
    told = [(e["kind"], e["at"], e["lease"], e["holder"]) for e in reversed(events(client, "llama"))
            if e["kind"] in ("lease_ready", "lease_expired")]
    assert told == [("lease_ready", "2026-03-09T20:02:00Z", body["id"], "nightly-etl"),
                    ("lease_expired", "2026-03-09T21:00:30Z", body["id"], "nightly-etl")]


def test_an_expired_lease_is_gone_for_every_route(client, simulator, clock):
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20))
    old = lease(client, "llama", 5)
    clock.set(at(20, 5))  # the instant it expires
    before = show(client, "llama")
    for method in ("GET", "DELETE"):
        response = getattr(client.http, method.lower())(f"/models/llama/leases/{old['id']}")
        assert response.status_code == 404, (method, response.body)
        assert response.json_body["Message"] == f"lease {old['id']} of llama expired at 2026-03-09T20:05:00Z"
    assert client.http.get("/models/llama/leases").json_body["leases"] == []
    assert show(client, "llama") == before
    assert "lease_released" not in {e["kind"] for e in events(client, "llama")}
    # A later change keeps it for a week, as ended: a late cleanup is told it is over...
    lease(client, "llama", 5)
    gone = client.http.get(f"/models/llama/leases/{old['id']}")
    assert gone.status_code == 404 and gone.json_body["Code"] == "LeaseEnded"
    # ... and then it is simply unknown.
    clock.set(at(20) + timedelta(days=8))
    lease(client, "llama", 5)
    gone = client.http.get(f"/models/llama/leases/{old['id']}")
    assert gone.status_code == 404 and gone.json_body["Code"] == "NotFoundError"
    assert "has no lease" in gone.json_body["Message"]


def test_a_lease_that_existed_is_told_from_one_that_never_did(client, simulator, clock):
    """Releasing twice (a batch job's cleanup after its own release) says the lease is
    over; an id the model never had, or a model that does not exist, says so instead."""
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20))
    taken = lease(client, "llama", 60)
    other = lease(client, "llama", 60)
    clock.set(at(20, 10))
    path = f"/models/llama/leases/{taken['id']}"
    assert client.http.delete(path).status_code == 204
    for method in ("GET", "DELETE"):
        again = getattr(client.http, method.lower())(path)
        assert (again.status_code, again.json_body) == (404, {
            "Code": "LeaseEnded", "Message": f"lease {taken['id']} of llama was released at 2026-03-09T20:10:00Z"})
    # The release ended that lease alone, and the model is held by the other one still.
    assert [x["id"] for x in client.http.get("/models/llama/leases").json_body["leases"]] == [other["id"]]
    assert client.http.get(f"/models/llama/leases/{other['id']}").json_body["active"] is True
    never = client.http.delete("/models/llama/leases/l0123456789ab")
    assert never.status_code == 404 and never.json_body["Code"] == "NotFoundError"
    assert never.json_body["Message"] == ("llama has no lease 'l0123456789ab': none with that id was taken on it "
                                          "in the last 7 days (check the model and the id)")
    no_model = client.http.delete(f"/models/lama/leases/{other['id']}")
    assert no_model.status_code == 404 and no_model.json_body["Code"] == "NotFoundError"
    assert [e["kind"] for e in events(client, "llama")].count("lease_released") == 1


def test_overlapping_leases_and_early_release(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20))
    short = lease(client, "llama", 30)
    long = lease(client, "llama", 120)
    listed = client.http.get("/models/llama/leases").json_body["leases"]
    assert [x["id"] for x in listed] == [short["id"], long["id"]]
    driver.run_until(at(20, 10))
    assert client.http.delete(f"/models/llama/leases/{long['id']}").status_code == 204
    assert client.http.get(f"/models/llama/leases/{long['id']}").status_code == 404
    driver.run_until(at(23))
    # Held while the short lease lasted, not after.
    assert max(call_times(simulator, ARN_LLAMA)) < at(20, 30)
    assert {e["kind"] for e in events(client, "llama")} >= {"lease_created", "lease_released"}


def test_a_lease_across_the_window_close_keeps_the_model_until_it_ends(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    driver.run_until(at(17, 50))
    lease(client, "llama", 40)  # until 18:30
    driver.run_until(at(20))
    times = call_times(simulator, ARN_LLAMA)
    assert at(18) < max(times) < at(18, 30)
    (copy,) = simulator.inspect(ARN_LLAMA)["copies"]
    assert at(18, 30) <= instant(copy["released_at"]) <= at(18, 31)


PAUSED = ('no lease taken: llama is paused (enabled: false); PUT /models/llama with {"enabled": true} '
          "resumes it")
HELD_COLD = ("no lease taken: a cold override keeps llama cold until 2026-03-09T23:00:00Z; "
             "DELETE /models/llama/override ends it")


@pytest.mark.parametrize("paused, override, message", [
    (True, None, PAUSED),
    (False, {"state": "cold", "until": "2026-03-09T23:00:00Z"}, HELD_COLD),
    (True, {"state": "cold", "until": "2026-03-09T23:00:00Z"}, PAUSED),
])
def test_a_lease_that_cannot_be_honoured_is_refused(client, simulator, clock, paused, override, message):
    register(client, model_arn=ARN_LLAMA, name="llama", enabled=not paused)
    clock.set(at(20))
    if override:
        send(client, "PUT", "/models/llama/override", override)
    before = show(client, "llama")
    response = send(client, "POST", "/models/llama/leases", {"minutes": 30})
    assert response.status_code == 409, response.body
    assert response.json_body["Message"] == message
    assert show(client, "llama") == before
    assert "lease_created" not in {e["kind"] for e in events(client, "llama")}


def test_a_lease_blocked_later_stops_promising_readiness(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20))
    taken = lease(client, "llama", 120)
    assert taken["blocked"] is None and taken["expected_ready_at"] is not None
    driver.run_until(at(20, 5))
    path = f"/models/llama/leases/{taken['id']}"
    assert client.http.get(path).json_body["ready"] is True

    # Held cold: the copy may still be loaded, but nobody keeps it so.
    send(client, "PUT", "/models/llama/override", {"state": "cold", "until": "2026-03-09T21:00:00Z"})
    held = client.http.get(path).json_body
    assert held["ready"] is False and held["expected_ready_at"] is None
    assert held["blocked"] == HELD_COLD.removeprefix("no lease taken: ").replace("23:00", "21:00")
    assert show(client, "llama")["state"]["leases"][0]["blocked"] == held["blocked"]

    # Paused as well: being paused is what the lease hears about first.
    send(client, "PUT", "/models/llama", {"enabled": False})
    paused = client.http.get(path).json_body
    assert paused["ready"] is False and paused["blocked"] == PAUSED.removeprefix("no lease taken: ")

    # Both lifted: the lease promises readiness again, and the model is warmed for it.
    send(client, "PUT", "/models/llama", {"enabled": True})
    assert client.http.delete("/models/llama/override").status_code == 204
    resumed = client.http.get(path).json_body
    assert resumed["blocked"] is None and resumed["expected_ready_at"] is not None
    driver.run_until(at(20, 30))
    assert client.http.get(path).json_body["ready"] is True


def test_a_cold_override_that_ends_unblocks_the_lease(client, simulator, clock):
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(20))
    taken = lease(client, "llama", 120)
    send(client, "PUT", "/models/llama/override", {"state": "cold", "until": "2026-03-09T20:30:00Z"})
    assert client.http.get(f"/models/llama/leases/{taken['id']}").json_body["blocked"] is not None
    clock.set(at(20, 30))
    assert client.http.get(f"/models/llama/leases/{taken['id']}").json_body["blocked"] is None


@pytest.mark.parametrize("body, field", [({"minutes": 0}, "minutes"), ({"minutes": 721}, "minutes"),
                                         ({"minutes": "90"}, "minutes"), ({}, "minutes"),
                                         ({"minutes": 5, "holder": ""}, "holder"),
                                         ({"minutes": 5, "colour": "red"}, "body")])
def test_bad_leases_are_refused(client, simulator, body, field):
    register(client, model_arn=ARN_LLAMA, name="llama")
    response = send(client, "POST", "/models/llama/leases", body)
    assert response.status_code == 400 and response.json_body["Message"].startswith(field)
    assert show(client, "llama")["state"]["leases"] == []
    assert send(client, "POST", "/models/ghost/leases", {"minutes": 5}).status_code == 404


# -- overrides --------------------------------------------------------------------------------------
def test_a_cold_override_that_expires_during_a_window(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(8))
    response = send(client, "PUT", "/models/llama/override", {"state": "cold", "until": "2026-03-09T11:00:00Z"})
    assert response.status_code == 200
    assert response.json_body["state"]["override"]["state"] == "cold"
    assert response.json_body["state"]["next_action"] == {"kind": "warmup", "at": "2026-03-09T11:00:00Z"}
    driver.run_until(at(12))
    times = call_times(simulator, ARN_LLAMA)
    # Nothing until 11:00, then the schedule resumed by itself.
    assert times[0] == at(11)
    assert show(client, "llama")["state"]["status"] == "warm"


def test_a_warm_override_outside_the_windows_and_ending_it_early(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama")
    clock.set(at(19))
    send(client, "PUT", "/models/llama/override", {"state": "warm", "until": "2026-03-09T23:00:00Z"})
    driver.run_until(at(20))
    assert show(client, "llama")["state"]["status"] == "warm"
    assert client.http.delete("/models/llama/override").status_code == 204
    count = len(calls(simulator, ARN_LLAMA))
    driver.run_until(at(23, 30))
    assert len(calls(simulator, ARN_LLAMA)) == count
    assert show(client, "llama")["state"]["override"] is None


@pytest.mark.parametrize("body, message", [
    ({"state": "hot", "until": "2026-03-09T23:00:00Z"}, "state"),
    ({"state": "warm", "until": "2026-03-09T07:00:00Z"},
     "until: must be in the future (after 2026-03-09T08:00:00Z), got 2026-03-09T07:00:00Z"),
    ({"state": "warm", "until": "2026-05-09T07:00:00+02:00"},
     "until: must be at most 31 days away (no later than 2026-04-09T08:00:00Z), got 2026-05-09T05:00:00Z"),
    ({"state": "warm", "until": "tomorrow"}, "until"),
    ({"state": "warm", "until": "0001-01-01T00:00:00+14:00"}, "until: '0001-01-01T00:00:00+14:00' is not an ISO"),
    ({"state": "warm"}, "body"),
])
def test_bad_overrides_are_refused(client, simulator, body, message):
    register(client, model_arn=ARN_LLAMA, name="llama")  # at 08:00
    response = send(client, "PUT", "/models/llama/override", body)
    assert response.status_code == 400 and response.json_body["Message"].startswith(message), response.body
    assert show(client, "llama")["state"]["override"] is None


# -- holidays -----------------------------------------------------------------------------------------
def test_excluded_dates_and_public_holidays_have_no_windows(client, driver, simulator):
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    register(client, model_arn=ARN_LLAMA, name="llama", exclude_dates=["2026-03-10"])
    windows = client.http.get("/models/llama/windows?from=2026-03-09T00:00:00Z&days=3").json_body["windows"]
    assert [w["open"] for w in windows] == ["2026-03-09T09:00:00Z", "2026-03-11T09:00:00Z"]
    driver.run_until(at(20, day=1))
    assert not [t for t in call_times(simulator, ARN_LLAMA) if t >= at(0, day=1)]


def test_a_public_holiday_calendar_in_the_models_zone(client, simulator):
    # Good Friday and Easter Monday 2026 (3 and 6 April) are bank holidays in England.
    register(client, model_arn=ARN_LLAMA, name="llama", holidays={"country": "GB", "subdiv": "ENG"})
    windows = client.http.get("/models/llama/windows?from=2026-03-30T00:00:00Z&days=14").json_body["windows"]
    days = [w["open"][:10] for w in windows]
    assert "2026-04-03" not in days and "2026-04-06" not in days
    assert len(days) == 8
    bad = send(client, "PUT", "/models/llama", {"holidays": {"country": "XX"}})
    assert bad.status_code == 400 and bad.json_body["Message"].startswith("holidays")


# -- cost -----------------------------------------------------------------------------------------------
def test_cost_of_a_business_week_against_around_the_clock(client, simulator):
    register(client, model_arn=ARN_LLAMA, name="llama", custom_model_units=4)
    body = client.http.get("/models/llama/cost?days=30&from=2026-03-09T00:00:00Z").json_body
    assert body["custom_model_units"] == 4 and body["custom_model_units_source"] == "setting custom_model_units"
    assert body["always_warm_cost"] == pytest.approx(9880.70, abs=0.01)
    assert body["price"]["per_cmu_minute"] == pytest.approx(0.05718)
    # 22 weekdays from 9 March (London on GMT, then BST from 29 March: still 9 hours a day).
    assert body["windows"] == 22 and body["window_minutes"] == 22 * 540
    assert body["billed_minutes"] >= body["window_minutes"]
    assert body["cost"] < body["always_warm_cost"] / 3
    assert body["saving"] == pytest.approx(body["always_warm_cost"] - body["cost"], abs=0.01)


def test_cost_in_a_region_with_no_known_price_says_how_to_give_one(client, simulator):
    arn = "arn:aws:bedrock:eu-central-1:123456789012:imported-model/frankfurt001"
    register(client, model_arn=arn, name="fra", custom_model_units=4)
    body = client.http.get("/models/fra/cost?days=30&from=2026-03-09T00:00:00Z").json_body
    assert body["billed_minutes"] >= body["window_minutes"] == 22 * 540
    assert body["price"] is None and body["cost"] is None and body["always_warm_cost"] is None
    assert body["hint"] == ("no CMU-minute price is known for eu-central-1: set KEEPWARM_CMU_PRICES to its USD "
                            "price per CMU-minute from the Amazon Bedrock pricing page (Custom Model Import), "
                            'e.g. KEEPWARM_CMU_PRICES=\'{"eu-central-1": 0.0686}\'')
    register(client, model_arn=ARN_LLAMA, name="llama", custom_model_units=4)
    assert client.http.get("/models/llama/cost?days=1").json_body["hint"] is None


def test_cost_reads_the_model_units_from_bedrock(client, simulator):
    simulator.add_model(ARN_QWEN, load_seconds=30, cmus=2)
    register(client, model_arn=ARN_QWEN, name="qwen")
    body = client.http.get("/models/qwen/cost?days=7").json_body
    assert body["custom_model_units"] == 2 and body["custom_model_units_source"] == "GetImportedModel"
    simulator.remove_model(ARN_QWEN)
    gone = client.http.get("/models/qwen/cost?days=7")
    assert gone.status_code == 502 and "not found" in gone.json_body["Message"].lower()


def test_the_months_cost_so_far_is_what_keepwarm_held_beside_the_projection(client, driver, simulator, clock):
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    register(client, model_arn=ARN_LLAMA, name="llama", custom_model_units=4)
    driver.run_until(at(19))  # the business day, and the copy's assumed release after it
    happened = events(client, "llama")
    successes = sorted(instant(e["at"]) for e in happened if e["kind"] == "call" and e["outcome"] == "ready")
    (warm,) = [instant(e["at"]) for e in happened if e["kind"] == "warm"]
    release = timedelta(minutes=show(client, "llama")["state"]["release_minutes_assumed"])
    held = successes[-1] + release - warm  # from the first success to the assumed release
    billed = -(-held // timedelta(minutes=5)) * 5

    month = client.http.get("/models/llama/cost?days=30").json_body["month_to_date"]
    assert (month["start"], month["until"]) == ("2026-03-01T00:00:00Z", "2026-03-09T19:00:00Z")
    assert month["warm_spans"] == 1 and warm == successes[0]
    assert month["warm_minutes"] == pytest.approx(held / timedelta(minutes=1), abs=0.1)
    assert month["billed_minutes"] == billed
    assert month["cost"] == cents(billed * 4, 0.05718)
    # The rest of March: 16 more weekdays of nine hours, each with its lead and tail.
    assert billed + 16 * 540 < month["projected_minutes"] < billed + 16 * 600
    assert month["projected_cost"] == cents(month["projected_minutes"] * 4, 0.05718)
    # The model's own view shows the same, as the day goes on.
    assert show(client, "llama")["state"]["month_to_date"] == {**month, "projected_minutes": None,
                                                               "projected_cost": None}
    clock.set(at(12))
    partway = show(client, "llama")["state"]["month_to_date"]
    assert partway["warm_spans"] == 1 and partway["billed_minutes"] == -(-(at(12) - warm) // timedelta(minutes=5)) * 5


def test_weeks_of_excluded_days_do_not_lose_the_model(client, driver, simulator, clock):
    # Hourly windows, three weeks excluded: the model must come back by itself afterwards.
    simulator.add_model(ARN_LLAMA, load_seconds=30)
    excluded = [f"2026-03-{d:02d}" for d in range(9, 30)]
    register(client, model_arn=ARN_LLAMA, name="llama", timezone="UTC", exclude_dates=excluded,
             windows=[{"warm": "0 * * * *", "stop": "30 * * * *"}])
    assert show(client, "llama")["state"]["next_action"]["at"].startswith("2026-03-29T23:5")
