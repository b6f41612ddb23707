"""The imported-model simulator, seen through real botocore clients over loopback HTTP.

What a test checks here is what the service would see from a real account: the HTTP status
and error code botocore parses, when a cold model becomes ready, when an idle copy is
released and what it is billed.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from live import request
from local.simulator import ManualClock, Simulator, SimulatorServer

UTC = timezone.utc
T0 = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
ARN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/llama8b00001"
QWEN = "arn:aws:bedrock:us-west-2:123456789012:imported-model/qwen7b000001"
CHAT = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
COMPLETION = {"prompt": "ping", "max_tokens": 1}
LLAMA = {"prompt": "ping", "max_gen_len": 1}
NOT_READY = "Model is not ready for inference. Wait and try your request again."


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left running: {left}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sim(clock: ManualClock) -> Simulator:
    return Simulator(clock=clock.now, seed=1)


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim) as s:
        yield s


def runtime_client(url: str, read_timeout: float = 5) -> Any:
    return boto3.client("bedrock-runtime", region_name="us-west-2", endpoint_url=url,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout,
                                      connect_timeout=2))


@pytest.fixture
def rt(server: SimulatorServer) -> Any:
    return runtime_client(server.url)


def invoke(rt: Any, body: Any = LLAMA, model: str = ARN) -> dict[str, Any]:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = rt.invoke_model(modelId=model, body=raw, contentType="application/json",
                               accept="application/json")
    return json.loads(response["body"].read())


def error_of(rt: Any, body: Any = LLAMA, model: str = ARN) -> tuple[str, int, str, ClientError]:
    with pytest.raises(ClientError) as info:
        invoke(rt, body, model)
    err = info.value
    return (err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"],
            err.response["Error"]["Message"], err)


def admin(url: str, method: str, path: str, body: Optional[dict] = None) -> tuple[int, Any]:
    return request(method, url + path, body)


# -- cold start, formats, release -----------------------------------------------------------
def test_a_cold_model_is_not_ready_until_its_load_time_then_answers_each_format(sim, clock, rt):
    sim.add_model(ARN, load_seconds=67)
    code, status, message, err = error_of(rt)
    assert (code, status, message) == ("ModelNotReadyException", 429, NOT_READY)
    assert isinstance(err, rt.exceptions.ModelNotReadyException)
    assert sim.inspect(ARN)["state"] == "loading"

    clock.advance(66)
    assert error_of(rt, CHAT)[:2] == ("ModelNotReadyException", 429)
    assert len(sim.inspect(ARN)["copies"]) == 1  # a call during loading does not load again

    clock.advance(1)
    chat = invoke(rt, CHAT)
    assert chat["object"] == "chat.completion" and chat["model"] == ARN
    assert chat["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "."},
                                "finish_reason": "length"}]
    assert chat["usage"]["completion_tokens"] == 1
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + 1
    text = invoke(rt, COMPLETION)
    assert text["object"] == "text_completion"
    assert text["choices"] == [{"index": 0, "text": ".", "finish_reason": "length"}]
    assert invoke(rt, {"prompt": "two words", "max_gen_len": 1}) == {
        "generation": ".", "prompt_token_count": 2, "generation_token_count": 1, "stop_reason": "length"}

    model = sim.inspect(ARN)
    assert model["state"] == "loaded"
    assert [c["outcome"] for c in model["calls"]] == ["not_ready", "not_ready", "ready", "ready", "ready"]
    assert [c["format"] for c in model["calls"]][2:] == ["chat", "completion", "llama"]
    assert model["copies"][0]["loaded_at"] == "2026-03-09T08:01:07Z"
    assert model["copies"][0]["first_success_at"] == "2026-03-09T08:01:07Z"


def test_an_arn_with_a_trailing_newline_is_refused(sim):
    with pytest.raises(ValueError, match="not an imported-model ARN"):
        sim.add_model(ARN + "\n")


def test_a_model_is_reachable_by_its_id_as_well_as_its_arn(sim, clock, rt):
    sim.add_model(ARN, load_seconds=0)
    assert error_of(rt, model="llama8b00001")[0] == "ModelNotReadyException"
    assert invoke(rt, model="llama8b00001")["generation"] == "."
    assert [c["model_arn"] for c in sim.inspect(ARN)["calls"]] == [ARN, ARN]


def test_an_idle_copy_is_released_after_15_minutes_and_a_call_at_14_keeps_it(sim, clock, rt):
    sim.add_model(ARN, load_seconds=30)
    error_of(rt)
    clock.advance(30)
    invoke(rt)                                   # 08:00:30, first success
    clock.advance(14 * 60)
    invoke(rt)                                   # 08:14:30 keeps it
    clock.advance(899)
    assert sim.inspect(ARN)["state"] == "loaded"
    clock.advance(1)                             # 08:29:30: 900 s idle
    assert sim.inspect(ARN)["state"] == "cold"
    assert sim.inspect(ARN)["copies"][0]["released_at"] == "2026-03-09T08:29:30Z"
    code, status, _, _ = error_of(rt)
    assert (code, status) == ("ModelNotReadyException", 429)
    copies = sim.inspect(ARN)["copies"]
    assert len(copies) == 2 and copies[1]["load_started_at"] == "2026-03-09T08:29:30Z"


def test_idle_time_counts_from_the_end_of_loading_and_release_time_is_per_model(sim, clock, rt):
    sim.add_model(ARN, load_seconds=100, release_seconds=300)
    error_of(rt)                                 # loading 08:00:00 -> 08:01:40
    clock.advance(100 + 299)
    assert sim.inspect(ARN)["state"] == "loaded"
    clock.advance(1)
    model = sim.inspect(ARN)
    assert model["state"] == "cold" and model["copies"][0]["released_at"] == "2026-03-09T08:06:40Z"
    # Never called while loaded: nothing billed.
    assert model["copies"][0]["first_success_at"] is None and model["billed_cmu_minutes"] == 0


def test_a_jittered_release_differs_from_copy_to_copy_within_its_bounds_and_leaves_loads_alone(clock):
    # Each copy's idle release is drawn within 120 s of 600 s; the load draws are the
    # same as without jitter, so a benchmark changes one rule at a time.
    def releases(jitter: float) -> tuple[list[float], list[float]]:
        sim = Simulator(clock=ManualClock(T0).now, seed=3)
        sim.add_model(ARN, {"kind": "lognormal", "median": 60, "sigma": 0.5}, release_seconds=600,
                      release_jitter_seconds=jitter)
        for _ in range(12):
            sim.invoke(ARN, json.dumps(LLAMA).encode())   # cold: starts a load
            sim.set_clock(advance_seconds=400)
            sim.invoke(ARN, json.dumps(LLAMA).encode())   # loaded: the last activity
            sim.set_clock(advance_seconds=2000)           # idles out
        copies = sim.inspect(ARN)["copies"]
        idle = [(datetime.fromisoformat(c["released_at"][:-1]) - datetime.fromisoformat(
            c["first_success_at"][:-1])).total_seconds() for c in copies]
        return idle, [c["load_seconds"] for c in copies]

    jittered, loads = releases(120)
    fixed, same_loads = releases(0)
    assert fixed == [600.0] * 12 and loads == same_loads
    assert all(480 <= r <= 720 for r in jittered) and len(set(jittered)) == 12
    with pytest.raises(ValueError, match="release_jitter_seconds"):
        Simulator(clock=clock.now).add_model(ARN, 60, release_seconds=300, release_jitter_seconds=300)


def test_billing_counts_whole_5_minute_windows_from_first_success_to_release(sim, clock, rt):
    sim.add_model(ARN, load_seconds=60, cmus=4)
    error_of(rt)
    clock.advance(60)
    invoke(rt)                                   # first success 08:01
    assert sim.inspect(ARN)["copies"][0]["billed_minutes"] == 5   # a live copy: a window begun
    clock.advance(6 * 60)
    invoke(rt)
    clock.advance(6 * 60)
    invoke(rt)                                   # used 12 minutes: 08:01 -> 08:13
    clock.advance(15 * 60)                       # released 08:28: 27 min -> 6 windows
    model = sim.inspect(ARN)
    assert model["copies"][0]["released_at"] == "2026-03-09T08:28:00Z"
    assert model["copies"][0]["billed_minutes"] == 30
    assert model["billed_minutes"] == 30 and model["billed_cmu_minutes"] == 120

    # A second copy, one call only: 15 minutes exactly is 3 windows, not 4.
    error_of(rt)
    clock.advance(60)
    invoke(rt)
    clock.advance(3600)
    model = sim.inspect(ARN)
    assert [c["billed_minutes"] for c in model["copies"]] == [30, 15]
    assert model["billed_cmu_minutes"] == (30 + 15) * 4


@pytest.mark.parametrize("billing, first_copy, second_copy", [
    # As documented: from the first success (08:04, held back 3 minutes after the load)
    # to the release; a copy nobody called successfully bills nothing.
    ("first_success", ("2026-03-09T08:04:00Z", 15), (None, 0)),
    # Pessimistic: from the end of the load (08:01), called or not.
    ("load", ("2026-03-09T08:01:00Z", 20), ("2026-03-09T08:25:00Z", 15)),
])
def test_billing_starts_at_the_first_success_or_at_the_load_as_chosen(clock, billing, first_copy, second_copy):
    sim = Simulator(clock=clock.now)
    with SimulatorServer(sim) as server:
        admin(server.url, "POST", "/_sim/models", {"arn": ARN, "load_seconds": 60, "billing": billing})
        rt = runtime_client(server.url)
        error_of(rt)                             # 08:00: the load starts, ready 08:01
        clock.advance(4 * 60)
        invoke(rt)                               # 08:04: the first success; released 08:19
        clock.advance(20 * 60)
        error_of(rt)                             # 08:24: cold again; loaded 08:25, never called
        clock.advance(3600)
        copies = sim.inspect(ARN)["copies"]
        assert [(c["billing_started_at"], c["billed_minutes"]) for c in copies] == [first_copy, second_copy]
        assert sim.inspect(ARN)["billing"] == billing
    with pytest.raises(ValueError, match="billing must be one of"):
        sim.add_model(ARN[:-1] + "2", billing="at_once")


def cold_start_draws(load: dict, seed: int, n: int) -> list[float]:
    clock = ManualClock(T0)
    sim = Simulator(clock=clock, seed=seed)
    sim.add_model(ARN, load_seconds=load, release_seconds=60)
    body = json.dumps(LLAMA).encode()
    for _ in range(n):
        assert sim.invoke(ARN, body).status == 429
        clock.advance(3600)                      # loaded, then released; the next call is cold
    return [c["load_seconds"] for c in sim.inspect(ARN)["copies"]]


def test_load_times_are_drawn_per_cold_start_reproducibly():
    lognormal = {"kind": "lognormal", "median": 90, "sigma": 0.4}
    draws = cold_start_draws(lognormal, seed=5, n=40)
    assert draws == cold_start_draws(lognormal, seed=5, n=40)
    assert draws != cold_start_draws(lognormal, seed=6, n=40)
    assert len(set(draws)) == 40
    below = sum(d < 90 for d in draws)
    assert 10 <= below <= 30                     # the median is the median
    uniform = cold_start_draws({"kind": "uniform", "low": 60, "high": 120}, seed=5, n=40)
    assert all(60 <= d <= 120 for d in uniform) and len(set(uniform)) == 40


# -- kinds of import ---------------------------------------------------------------------------
OLD = "2025-06-02T10:00:00Z"


@pytest.mark.parametrize("architecture, imported_at, takes", [
    ("llama", OLD, {"llama"}),
    ("mllama", OLD, {"llama"}),
    ("qwen2", OLD, {"chat", "completion"}),
    ("gpt_oss", OLD, {"chat", "completion"}),
    ("mistral", OLD, {"completion"}),
    ("mixtral", OLD, {"completion"}),
    ("llama", "2025-11-11T23:59:59Z", {"llama"}),
    ("llama", "2025-11-12T00:00:00Z", {"chat", "completion", "llama"}),
    ("mistral", None, {"chat", "completion", "llama"}),   # imported now: a new import
])
def test_an_import_takes_the_bodies_of_its_kind_and_refuses_the_others(sim, clock, rt, architecture,
                                                                       imported_at, takes):
    sim.add_model(ARN, load_seconds=60, architecture=architecture, imported_at=imported_at)
    for fmt, body in (("chat", CHAT), ("completion", COMPLETION), ("llama", LLAMA)):
        code, status, message, _ = error_of(rt, body)
        if fmt in takes:
            assert (code, status) == ("ModelNotReadyException", 429), fmt  # read, and loading
        else:
            assert (code, status) == ("ValidationException", 400), fmt
            assert message.startswith("Malformed input request: expected ")
            assert "max_gen_len" in message if takes == {"llama"} else "max_gen_len" not in message
    assert sorted(sim.inspect(ARN)["accepts"]) == sorted(takes)


def test_get_imported_model_tells_the_kind_of_import(sim, server):
    sim.add_model(QWEN, load_seconds=0, architecture="qwen2", imported_at=OLD, instruct_supported=False)
    bedrock = boto3.client("bedrock", region_name="us-west-2", endpoint_url=server.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    model = bedrock.get_imported_model(modelIdentifier=QWEN)
    assert model["creationTime"] == datetime(2025, 6, 2, 10, tzinfo=UTC)
    assert (model["modelArchitecture"], model["instructSupported"]) == ("qwen2", False)


def test_auto_created_models_are_new_imports(clock):
    sim = Simulator(clock=clock, auto_create=30)
    assert sim.get_imported_model(QWEN)["creationTime"] == "2026-03-09T08:00:00Z"
    assert set(sim.inspect(QWEN)["accepts"]) == {"chat", "completion", "llama"}


# -- a cold model that holds the request ----------------------------------------------------------
def held(rt: Any, body: Any = LLAMA) -> tuple[threading.Thread, dict[str, Any]]:
    """Start a call in a thread (it waits on the simulator's clock); its result lands in the dict."""
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["answer"] = invoke(rt, body)
        except Exception as err:  # the test looks at what it was
            result["error"] = err

    thread = threading.Thread(target=call)
    thread.start()
    return thread, result


def wait_until_held(sim: Simulator, n: int = 1) -> None:
    deadline = time.monotonic() + 5
    while len(sim.calls()) < n:
        assert time.monotonic() < deadline, "the call never arrived"
        time.sleep(0.01)


def test_a_held_call_is_answered_once_the_copy_is_ready(sim, clock, rt):
    sim.add_model(ARN, load_seconds=67, cold_mode="hold")
    thread, result = held(rt)
    wait_until_held(sim)
    time.sleep(0.1)
    assert thread.is_alive()                     # no answer while the copy loads
    clock.advance(67)
    thread.join(5)
    assert result["answer"]["generation"] == "."
    (call,) = sim.inspect(ARN)["calls"]
    assert (call["at"], call["answered_at"], call["outcome"]) == (
        "2026-03-09T08:00:00Z", "2026-03-09T08:01:07Z", "ready")
    assert sim.inspect(ARN)["copies"][0]["first_success_at"] == "2026-03-09T08:01:07Z"


def test_a_load_longer_than_the_hold_is_answered_not_ready_when_the_hold_ends(sim, clock, rt):
    sim.add_model(ARN, load_seconds=400, cold_mode="hold", hold_seconds=300)
    thread, result = held(rt)
    wait_until_held(sim)
    clock.advance(299)
    time.sleep(0.1)
    assert thread.is_alive()
    clock.advance(1)
    thread.join(5)
    err = result["error"]
    assert isinstance(err, ClientError) and err.response["Error"]["Code"] == "ModelNotReadyException"
    assert sim.inspect(ARN)["state"] == "loading"  # the load goes on; a later call finds it
    clock.advance(100)
    assert invoke(rt)["generation"] == "."


def test_a_caller_that_stops_waiting_still_started_the_load(sim, clock, server):
    sim.add_model(ARN, load_seconds=60, cold_mode="hold")
    with pytest.raises(ReadTimeoutError):
        invoke(runtime_client(server.url, read_timeout=0.3))
    clock.advance(60)
    assert invoke(runtime_client(server.url))["generation"] == "."
    (copy,) = sim.inspect(ARN)["copies"]
    # The held call was served when the copy came up, although nobody was listening.
    assert copy["first_success_at"] == "2026-03-09T08:01:00Z"


def test_on_the_real_clock_a_held_call_takes_the_load_time():
    with SimulatorServer(Simulator()) as server:
        server.simulator.add_model(ARN, load_seconds=0.3, cold_mode="hold")
        started = time.monotonic()
        assert invoke(runtime_client(server.url))["generation"] == "."
        assert 0.25 <= time.monotonic() - started < 3


# -- a container that fails -----------------------------------------------------------------------
def test_a_loaded_copy_whose_container_fails_answers_424(sim, clock, rt):
    sim.add_model(ARN, load_seconds=30, model_error=True)
    assert error_of(rt)[0] == "ModelNotReadyException"  # cold first: nothing ran yet
    clock.advance(30)
    code, status, message, err = error_of(rt)
    assert (code, status) == ("ModelErrorException", 424)
    assert isinstance(err, rt.exceptions.ModelErrorException) and message
    assert err.response["originalStatusCode"] == 500 and err.response["resourceName"] == ARN
    model = sim.inspect(ARN)
    assert model["state"] == "loaded" and model["copies"][0]["first_success_at"] is None
    clock.advance(14 * 60)
    error_of(rt)                                 # the failing call still holds the copy
    clock.advance(60)
    assert sim.inspect(ARN)["state"] == "loaded"


# -- error wire shape: every code as botocore parses it ----------------------------------------
@pytest.mark.parametrize("setup, body, code, status", [
    ({"denied": True}, LLAMA, "AccessDeniedException", 403),
    ({"throttle_rate": 1.0}, LLAMA, "ThrottlingException", 429),
    ({"error_rate": 1.0}, LLAMA, "InternalServerException", 500),
    ({}, b"{not json", "ValidationException", 400),
    ({}, {"input": "no known format"}, "ValidationException", 400),
    ({}, {"prompt": "p", "max_gen_len": 0}, "ValidationException", 400),
    ({}, {"messages": [], "max_tokens": 1}, "ValidationException", 400),
    ("deleted", LLAMA, "ResourceNotFoundException", 404),
    ("unknown", LLAMA, "ResourceNotFoundException", 404),
])
def test_each_error_is_parsed_by_botocore_with_its_code_and_status(sim, rt, setup, body, code, status):
    sim.add_model(ARN, load_seconds=0)
    model = ARN
    if setup == "deleted":
        sim.remove_model(ARN)
    elif setup == "unknown":
        model = "arn:aws:bedrock:us-west-2:123456789012:imported-model/nosuchmodel1"
    else:
        sim.set_faults(ARN, **setup)
    got_code, got_status, message, err = error_of(rt, body, model)
    assert (got_code, got_status) == (code, status)
    assert isinstance(err, getattr(rt.exceptions, code))
    last = sim.calls()[-1]
    assert message and (last["code"], last["status"], last["message"]) == (code, status, message)
    # A faulted or refused call is not activity: no copy starts loading.
    assert sim.inspect(ARN)["copies"] == []


def test_server_errors_alternate_500_and_503(sim, rt):
    sim.add_model(ARN, load_seconds=0, error_rate=1.0)
    seen = [error_of(rt)[:2] for _ in range(3)]
    assert seen == [("InternalServerException", 500), ("ServiceUnavailableException", 503),
                    ("InternalServerException", 500)]
    _, _, message, err = error_of(rt)
    assert isinstance(err, rt.exceptions.ServiceUnavailableException) and message


def test_fault_rates_are_fractions_drawn_from_a_seeded_rng(sim):
    body = json.dumps(LLAMA).encode()
    sim.add_model(ARN, load_seconds=0, throttle_rate=0.5, seed=7)
    outcomes = [sim.invoke(ARN, body).status for _ in range(200)]
    assert 70 <= outcomes.count(429) <= 130 and outcomes.count(200) > 50
    again = Simulator(clock=ManualClock(T0))
    again.add_model(ARN, load_seconds=0, throttle_rate=0.5, seed=7)
    assert [again.invoke(ARN, body).status for _ in range(200)] == outcomes


def test_throttled_calls_do_not_hold_a_copy_loaded(sim, clock, rt):
    sim.add_model(ARN, load_seconds=0)
    error_of(rt)
    invoke(rt)                                   # 08:00 first success
    sim.set_faults(ARN, throttle_rate=1.0)
    clock.advance(14 * 60)
    assert error_of(rt)[0] == "ThrottlingException"
    clock.advance(60)
    assert sim.inspect(ARN)["state"] == "cold"
    sim.set_faults(ARN, throttle_rate=0.0)
    assert error_of(rt)[0] == "ModelNotReadyException"


def test_a_slow_answer_trips_the_client_read_timeout(sim, clock, server):
    sim.add_model(ARN, load_seconds=0, slow_seconds=5)
    impatient = runtime_client(server.url, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        invoke(impatient)
    assert time.monotonic() - started < 2
    # The call arrived and was processed; only its answer was late.
    (call,) = sim.inspect(ARN)["calls"]
    assert call["outcome"] == "not_ready" and call["slow_seconds"] == 5
    sim.set_faults(ARN, slow_seconds=0)
    assert invoke(impatient)["generation"] == "."


def test_stopping_the_server_ends_a_slow_answer_at_once(clock):
    sim = Simulator(clock=clock)
    sim.add_model(ARN, load_seconds=0, slow_seconds=30)
    server = SimulatorServer(sim).start()
    try:
        with pytest.raises(ReadTimeoutError):
            invoke(runtime_client(server.url, read_timeout=0.2))
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 2


# -- control plane ----------------------------------------------------------------------------
def test_get_imported_model_through_the_bedrock_client(sim, server):
    sim.add_model(QWEN, load_seconds=96, cmus=2, architecture="qwen2", name="qwen-7b")
    bedrock = boto3.client("bedrock", region_name="us-west-2", endpoint_url=server.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing",
                           config=Config(retries={"total_max_attempts": 1}))
    model = bedrock.get_imported_model(modelIdentifier=QWEN)
    assert model["modelArn"] == QWEN and model["modelName"] == "qwen-7b"
    assert model["modelArchitecture"] == "qwen2" and model["instructSupported"] is True
    assert model["customModelUnits"] == {"customModelUnitsPerModelCopy": 2, "customModelUnitsVersion": "1.0"}
    assert model["creationTime"] == T0
    assert model["jobArn"].startswith("arn:aws:bedrock:us-west-2:123456789012:model-import-job/")
    assert model["jobName"] and model["modelDataSource"]["s3DataSource"]["s3Uri"].startswith("s3://")
    for ident in ("qwen7b000001", "qwen-7b"):
        assert bedrock.get_imported_model(modelIdentifier=ident)["modelArn"] == QWEN
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as info:
        bedrock.get_imported_model(modelIdentifier="nosuchmodel1")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_auto_create_plays_any_imported_model_arn_it_is_asked_about(clock):
    """As ``make run`` starts it: a model registered only with keepwarm goes cold, loads and
    answers; its units can be read; a removed model and a malformed id stay not found."""
    sim = Simulator(clock=clock, auto_create=30)
    with SimulatorServer(sim) as server:
        rt = runtime_client(server.url)
        assert error_of(rt, model=QWEN)[:2] == ("ModelNotReadyException", 429)
        clock.advance(30)
        assert invoke(rt, CHAT, model=QWEN)["choices"][0]["message"]["content"] == "."
        model = sim.inspect(QWEN)
        assert (model["load_seconds"], model["cmus"], model["state"]) == (30.0, 1, "loaded")
        assert sim.get_imported_model(ARN)["customModelUnits"]["customModelUnitsPerModelCopy"] == 1
        sim.remove_model(QWEN)
        assert error_of(rt, model=QWEN)[:2] == ("ResourceNotFoundException", 404)
        assert error_of(rt, model="not-an-arn")[0] == "ResourceNotFoundException"
    assert [m["model_arn"] for m in sim.models()] == [QWEN, ARN]


# -- administration over HTTP ----------------------------------------------------------------
def test_admin_endpoints_register_change_inspect_and_delete(sim, clock, server, rt):
    url = server.url
    status, model = admin(url, "POST", "/_sim/models", {
        "arn": ARN, "load_seconds": {"kind": "uniform", "low": 10, "high": 20},
        "release_seconds": 600, "cmus": 3, "architecture": "llama", "throttle_rate": 0.0})
    assert status == 201 and model["state"] == "cold" and model["cmus"] == 3
    assert admin(url, "POST", "/_sim/models", {"arn": ARN})[0] == 409
    assert admin(url, "POST", "/_sim/models", {"arn": "arn:aws:bedrock:us-west-2:1:imported-model/x"})[0] == 400
    assert admin(url, "POST", "/_sim/models", {"arn": QWEN, "load_seconds": {"kind": "poisson"}})[0] == 400
    assert admin(url, "POST", "/_sim/models", {"arn": QWEN, "flood_rate": 1})[0] == 400

    status, model = admin(url, "PATCH", "/_sim/models/llama8b00001", {"denied": True})
    assert status == 200 and model["faults"]["denied"] is True
    assert error_of(rt)[0] == "AccessDeniedException"
    assert admin(url, "PATCH", "/_sim/models/llama8b00001", {"throttle_rate": 2})[0] == 400
    admin(url, "PATCH", "/_sim/models/llama8b00001", {"denied": False})
    error_of(rt)
    clock.advance(20)
    invoke(rt)

    status, model = admin(url, "GET", "/_sim/models/" + quote(ARN, safe=""))
    assert status == 200 and model["state"] == "loaded"
    assert [(c["at"], c["outcome"]) for c in model["calls"]] == [
        ("2026-03-09T08:00:00Z", "denied"), ("2026-03-09T08:00:00Z", "not_ready"),
        ("2026-03-09T08:00:20Z", "ready")]
    (copy,) = model["copies"]
    assert 10 <= copy["load_seconds"] <= 20 and copy["load_started_at"] == "2026-03-09T08:00:00Z"
    assert set(copy) == {"load_started_at", "load_seconds", "loaded_at", "first_success_at",
                         "billing_started_at", "released_at", "billed_minutes"}
    assert copy["billing_started_at"] == copy["first_success_at"] == "2026-03-09T08:00:20Z"
    assert model["billed_cmu_minutes"] == 15
    assert admin(url, "GET", "/_sim/models")[1]["models"][0]["model_arn"] == ARN

    assert admin(url, "DELETE", "/_sim/models/llama8b00001") == (204, None)
    assert error_of(rt)[:2] == ("ResourceNotFoundException", 404)
    status, model = admin(url, "GET", "/_sim/models/llama8b00001")
    assert status == 200 and model["state"] == "deleted"
    assert model["copies"][0]["released_at"] == "2026-03-09T08:00:20Z"
    assert admin(url, "DELETE", "/_sim/models/llama8b00001")[0] == 404
    assert admin(url, "GET", "/_sim/models/nosuchmodel1")[0] == 404

    status, calls = admin(url, "GET", "/_sim/calls")
    assert status == 200 and [c["outcome"] for c in calls["calls"]] == [
        "denied", "not_ready", "ready", "not_found"]
    # Registered again after deletion: a fresh model.
    assert admin(url, "POST", "/_sim/models", {"arn": ARN, "load_seconds": 5})[1]["calls"] == []


def test_admin_clock_moves_a_manual_clock(sim, clock, server):
    assert admin(server.url, "GET", "/_sim/clock") == (200, {"now": "2026-03-09T08:00:00Z", "manual": True})
    assert admin(server.url, "POST", "/_sim/clock", {"advance_seconds": 90})[1]["now"] == "2026-03-09T08:01:30Z"
    assert clock.now() == T0 + timedelta(seconds=90)
    status, body = admin(server.url, "POST", "/_sim/clock", {"now": "2026-03-09T10:00:00+01:00"})
    assert status == 200 and body["now"] == "2026-03-09T09:00:00Z"
    assert admin(server.url, "POST", "/_sim/clock", {"now": "2026-03-09T10:00:00"})[0] == 400
    assert admin(server.url, "POST", "/_sim/clock", {})[0] == 400


def test_the_clock_cannot_be_moved_on_a_real_clock_simulator():
    with SimulatorServer(Simulator()) as server:
        status, body = admin(server.url, "GET", "/_sim/clock")
        assert status == 200 and body["manual"] is False
        assert abs(datetime.fromisoformat(body["now"].replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(seconds=5)
        assert admin(server.url, "POST", "/_sim/clock", {"advance_seconds": 60})[0] == 409


def test_manual_clock_refuses_naive_datetimes_and_binds_loopback_only():
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ManualClock(T0).set(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        SimulatorServer(Simulator(), host="0.0.0.0")


def test_errors_carry_both_wire_forms_aws_uses(sim, server):
    # botocore reads x-amzn-ErrorType first, then the body's __type: both are sent, so
    # a client reading either one (botocore, or a plain HTTP client) sees the code.
    sim.add_model(ARN, load_seconds=60)
    req = urllib.request.Request(f"{server.url}/model/{quote(ARN, safe='')}/invoke",
                                 data=json.dumps(LLAMA).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    with info.value as err:
        assert err.code == 429
        assert err.headers["x-amzn-ErrorType"].split(":")[0] == "ModelNotReadyException"
        assert json.loads(err.read()) == {"__type": "ModelNotReadyException", "message": NOT_READY}
