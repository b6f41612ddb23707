"""Readiness records through the whole loop on a simulated clock: the routes, ``tick`` and
``worker`` as Lambda runs them, moto's DynamoDB, the simulator over HTTP. A model whose
copies are released after 5 minutes (the keep-alive assumes 15) and a well-behaved one,
over a morning's window: what the model, the fleet, the metrics and EventBridge then say."""
from __future__ import annotations

from conftest import ARN_LLAMA, ARN_QWEN
from emf import data, select
from helpers import at, register, show
from test_notify import received  # noqa: F401  (the fixture: a rule's queue on the default bus)

WINDOWS = [{"days": "MON-FRI", "start": "09:00", "stop": "10:00"}]


def test_windows_are_judged_after_they_close_from_what_the_calls_proved(client, driver, simulator, capsys,
                                                                         received):  # noqa: F811
    simulator.add_model(ARN_LLAMA, load_seconds=60)
    simulator.add_model(ARN_QWEN, load_seconds=45, release_seconds=300)
    register(client, model_arn=ARN_LLAMA, name="steady", windows=WINDOWS)
    register(client, model_arn=ARN_QWEN, name="early", windows=WINDOWS)
    capsys.readouterr()
    driver.run_until(at(10, 1))
    assert show(client, "steady")["readiness"]["recent"] == []  # judged after the close, not at it
    driver.run_until(at(10, 5))
    found = data(capsys.readouterr().out)

    steady = show(client, "steady")["readiness"]
    (record,) = steady["recent"]
    assert record["window_open"] == "2026-03-09T09:00:00Z" and record["window_close"] == "2026-03-09T10:00:00Z"
    assert record["ready_at_open"] is True and record["late_seconds"] == 0.0
    assert record["verified_share"] >= 0.99 and record["unexpected_cold"] == 0
    assert record["cold_starts"] == 1  # the pre-warm's
    assert steady["summary"] == {"openings": 1, "ready_at_open": 1, "late_seconds_max": 0.0,
                                 "verified_share": record["verified_share"]}

    early = show(client, "early")["readiness"]
    (monday,) = early["recent"]
    # The 09:13 keep-alive found the copy gone (released at 09:04): nothing proves it was
    # loaded at the open, and it was first proved again when the copy had reloaded.
    assert monday["ready_at_open"] is False and 13 * 60 < monday["late_seconds"] < 15 * 60
    assert monday["unexpected_cold"] >= 1 and monday["verified_share"] < 0.9
    assert early["summary"] == {"openings": 1, "ready_at_open": 0, "late_seconds_max": monday["late_seconds"],
                                "verified_share": monday["verified_share"]}

    fleet = client.http.get("/fleet").json_body["readiness"]
    assert fleet == {"openings": 2, "ready_at_open": 1, "days": 7}
    assert "<b>1 of 2</b>openings ready in 7 days" in client.http.get("/status").body.decode()

    # A metric per window, by model and for the fleet (what the alarm watches).
    service = {"service": "keepwarm"}
    assert select(found, "WindowReadyShare", model="steady", **service) == [record["verified_share"]]
    assert select(found, "WindowLateSeconds", model="early", **service) == [monday["late_seconds"]]
    assert sorted(select(found, "WindowReadyShare", **service)) == [monday["verified_share"], record["verified_share"]]

    # Monday's window was told: not ready at its open, with its record.
    (told,) = [e for e in received() if e["detail-type"] == "Window Not Ready"
               and e["detail"]["window_open"] == "2026-03-09T09:00:00Z"]
    assert told["resources"] == [ARN_QWEN]
    assert told["detail"] == {"model": "early", "model_arn": ARN_QWEN, "at": "2026-03-09T10:00:00Z",
                              "kind": "window_not_ready", **monday}
