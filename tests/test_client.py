"""The client and the ``keepwarm`` command against the real service: ``python -m
local.stack`` (as ``make run`` starts it) in a subprocess, over HTTP on loopback, with a
one-second tick and one-second polls. Nothing about the service is faked; the simulator
stands in for Bedrock as everywhere else in the suite.

Signing is checked by building a request without sending it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
try:
    import keepwarm_client  # noqa: F401  (installed: pip install -e .)
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "client"))

from keepwarm_client import KeepwarmClient, KeepwarmError, LeaseTimeout  # noqa: E402
from keepwarm_client import client as client_module  # noqa: E402
from keepwarm_client.cli import main  # noqa: E402

from live import POLL_SECONDS, free_port, request  # noqa: E402

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("client-stack")

UTC = timezone.utc
LOAD_SECONDS = 3
ACCOUNT = "123456789012"


_serial = iter(range(1, 10_000))


@pytest.fixture
def register(stack) -> Callable[..., tuple[str, str]]:
    """A simulator model and a keepwarm model for it whose only window is hours away, so
    that nothing but a lease warms it. Returns (name, ARN)."""
    api, sim = stack["api"], stack["bedrock_runtime"]

    def make(load_seconds: float = LOAD_SECONDS, **faults: Any) -> tuple[str, str]:
        n = next(_serial)
        arn = f"arn:aws:bedrock:us-west-2:{ACCOUNT}:imported-model/cli{os.getpid() % 100000:05d}{n:04d}"
        name = f"cli-{n}"
        status, body = request("POST", f"{sim}/_sim/models", {"arn": arn, "load_seconds": load_seconds, **faults})
        assert status == 201, body
        now = datetime.now(UTC)
        window = {"start": (now + timedelta(hours=4)).strftime("%H:%M"),
                  "stop": (now + timedelta(hours=5)).strftime("%H:%M")}
        status, body = request("POST", f"{api}/models", {"model_arn": arn, "name": name, "windows": [window]})
        assert status == 201, body
        assert body["state"]["status"] == "cold" and body["state"]["window_open"] is False
        return name, arn

    return make


@pytest.fixture
def kw(stack) -> KeepwarmClient:
    return KeepwarmClient(stack["api"])


def sim_calls(stack, arn: str) -> list[dict]:
    return request("GET", f"{stack['bedrock_runtime']}/_sim/models/{quote(arn, safe='')}")[1]["calls"]


# -- the command, end to end ----------------------------------------------------------------
def test_warm_wait_makes_the_model_ready(stack, register, kw, capsys):
    name, arn = register()
    assert sim_calls(stack, arn) == []

    code = main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait",
                 "--poll", "0.5", "--timeout", "30", "--holder", "nightly-etl"])
    out, err = capsys.readouterr()
    assert code == 0, (out, err)

    lease_id = re.search(r"^lease (l[0-9a-f]+) on " + re.escape(name) + r" until \S+Z", out, re.M).group(1)
    assert re.search(rf"^{re.escape(name)} is ready \(lease {lease_id}, until \S+Z\)$", out, re.M), out
    # Not a terminal: one progress line per poll, on stderr.
    progress = [line for line in err.splitlines() if line.startswith(f"waiting for {name}: ")]
    assert progress, err
    assert "\r" not in err
    for line in progress:
        assert re.fullmatch(rf"waiting for {re.escape(name)}: (cold|warming), \d+ s elapsed"
                            r"(, expected ready \d\d:\d\d:\d\dZ)?", line), line

    state = kw.model(name)["state"]
    assert state["status"] == "warm" and state["ready"] is True
    assert state["window_open"] is False  # the lease did it, not the schedule
    assert [lease["holder"] for lease in state["leases"]] == ["nightly-etl"]
    assert any(call["outcome"] == "ready" for call in sim_calls(stack, arn))
    lease = kw.lease_status(name, lease_id)
    assert lease["ready"] is True and lease["status"] == "warm" and lease["active"] is True

    # status, one fact a line, with the cold start just measured.
    assert main(["--url", stack["api"], "status", name]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:3] == ["status: warm", "ready: yes", "window_open: no"]
    # A 5-minute lease needs no keep-alive (14 min): next is the window's pre-warm.
    assert re.fullmatch(r"next action: (keepalive|prewarm) at \S+Z", lines[3]), lines
    p50 = float(re.fullmatch(r"cold-start p50: ([0-9.]+) s \(1 recorded\)", lines[4]).group(1))
    assert LOAD_SECONDS <= p50 <= LOAD_SECONDS + POLL_SECONDS + 2
    # What a loaded copy's answers take, and when an answer reads as a cold copy instead.
    latency = state["warm_latency"]  # the poll that found the copy loaded was answered at once
    assert latency["samples"] >= 1 and lines[5] == (
        f"warm latency: {latency['p50_ms']} ms p50, {latency['p95_ms']} ms p95 "
        f"({latency['samples']} answer{'' if latency['samples'] == 1 else 's'}); "
        f"an answer over {latency['cold_above_ms']} ms reads as a cold copy")
    assert lines[6] == "keep-alive: every 14 min (copies assumed released after 15 idle min)"


def test_client_warm_and_release(stack, register, kw):
    name, arn = register()
    seen: list[tuple[str, float]] = []
    lease = kw.warm(arn, 5, wait=True, timeout=30, poll=0.5,  # by ARN: URL-encoded in the path
                    on_progress=lambda lease, elapsed: seen.append((lease["status"], elapsed)))
    assert lease["ready"] is True and lease["model"] == name
    assert seen and all(status in ("cold", "warming") for status, _ in seen)
    assert [elapsed for _, elapsed in seen] == sorted(elapsed for _, elapsed in seen)

    assert kw.release(name, lease["id"]) is None
    with pytest.raises(KeepwarmError) as caught:
        kw.lease_status(name, lease["id"])
    assert caught.value.status == 404 and caught.value.code == "LeaseEnded"
    assert lease["id"] in caught.value.message and "was released at" in caught.value.message
    assert str(caught.value).startswith("HTTP 404 LeaseEnded: ")
    with pytest.raises(KeepwarmError) as caught:
        kw.wait_until_ready(name, lease["id"], timeout=5, poll=0.5)
    assert caught.value.status == 404 and "gone" in str(caught.value)


def test_release_command(stack, register, kw, capsys):
    name, _ = register()
    lease = kw.lease(name, 5)
    assert main(["release", name, lease["id"], "--url", stack["api"]]) == 0
    out, _ = capsys.readouterr()
    assert out == f"released lease {lease['id']} on {name}\n"
    # Again, as a batch script's cleanup trap would after the lease ran out: not a failure.
    assert main(["release", name, lease["id"], "--url", stack["api"]]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith(f"lease {lease['id']} on {name} is already gone: ") and "was released at" in out


def test_releasing_what_never_existed_fails_naming_it(stack, register, kw, capsys):
    """A typo in the lease id or the model's name is not "already gone": it exits 2 and
    says what was not found, so that a script's mistake is seen."""
    name, _ = register()
    lease = kw.lease(name, 5)
    typo = lease["id"][:-1] + ("0" if lease["id"][-1] != "0" else "1")
    assert main(["release", name, typo, "--url", stack["api"]]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"keepwarm: cannot release lease {typo} on {name}: {name} has no lease '{typo}': none with "
                   "that id was taken on it in the last 7 days (check the model and the id)\n")
    assert main(["release", name + "x", lease["id"], "--url", stack["api"]]) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"keepwarm: cannot release lease {lease['id']} on {name}x: no model named")
    assert main(["release", name, "not-a-lease", "--url", stack["api"]]) == 2
    assert kw.lease_status(name, lease["id"])["active"] is True  # none of that touched the real one


def test_wait_times_out_and_keeps_the_lease(stack, register, kw, capsys):
    name, _ = register(load_seconds=60)
    started = time.monotonic()
    code = main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait",
                 "--timeout", "1", "--poll", "0.5"])
    assert code == 3
    assert time.monotonic() - started < 10
    out, err = capsys.readouterr()
    lease_id = re.search(r"^lease (l[0-9a-f]+) on ", out, re.M).group(1)
    assert "is ready" not in out
    assert f"keepwarm: {name} was not ready after 1 s" in err
    assert f"keepwarm release {name} {lease_id}" in err
    assert kw.lease_status(name, lease_id)["active"] is True  # not released
    kw.release(name, lease_id)

    with pytest.raises(LeaseTimeout) as caught:
        kw.warm(name, 5, wait=True, timeout=0.5, poll=0.2)
    assert isinstance(caught.value, KeepwarmError) and caught.value.lease["active"] is True
    kw.release(name, caught.value.lease["id"])


def test_interrupt_exits_130_without_releasing(stack, register, kw, capsys, monkeypatch):
    name, _ = register(load_seconds=60)

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(client_module.time, "sleep", ctrl_c)
    assert main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait"]) == 130
    monkeypatch.undo()
    out, err = capsys.readouterr()
    lease_id = re.search(r"^lease (l[0-9a-f]+) on ", out, re.M).group(1)
    assert "interrupted; the lease was NOT released" in err
    assert kw.lease_status(name, lease_id)["active"] is True
    kw.release(name, lease_id)


def test_unknown_model_exits_2_with_the_servers_message(stack, capsys):
    status, body = request("POST", f"{stack['api']}/models/no-such-model/leases", {"minutes": 5})
    assert status == 404
    assert main(["--url", stack["api"], "warm", "no-such-model", "--minutes", "5", "--wait"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"keepwarm: HTTP 404 NotFoundError: {body['Message']}\n"
    assert main(["--url", stack["api"], "status", "no-such-model"]) == 2


def test_model_error_exits_2_with_the_models_error(stack, register, capsys):
    name, _ = register(denied=True)  # the simulator answers AccessDeniedException
    code = main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait", "--poll", "0.5",
                 "--timeout", "30"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert f"keepwarm: {name} is in error: " in err and "AccessDenied" in err


def test_a_lease_on_a_failing_model_fails_fast_again_over_http(stack, register, capsys):
    # A loaded copy whose container fails every call (424 ModelErrorException): the first
    # lease's calls find it so; a second lease on the model in error is not "ready" on the
    # lease's word but plans a verification call at once, and its answer fails the wait.
    name, arn = register(load_seconds=1, model_error=True)
    for attempt in (1, 2):
        started = time.monotonic()
        code = main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait", "--poll", "0.5",
                     "--timeout", "60"])
        out, err = capsys.readouterr()
        assert code == 2 and time.monotonic() - started < 30, (attempt, out, err)
        assert "is ready" not in out and f"keepwarm: {name} is in error: " in err and "ModelErrorException" in err
    outcomes = [call["outcome"] for call in sim_calls(stack, arn)]
    assert outcomes.count("model_error") >= 2, outcomes  # the second lease's own verification call


def test_a_lease_refused_at_once_exits_2_with_the_reason(stack, register, capsys):
    name, _ = register()
    status, _ = request("PUT", f"{stack['api']}/models/{name}", {"enabled": False})
    assert status == 200
    started = time.monotonic()
    code = main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait", "--timeout", "60"])
    assert code == 2 and time.monotonic() - started < 10
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"keepwarm: HTTP 409 ConflictError: no lease taken: {name} is paused (enabled: false); "
                   f'PUT /models/{name} with {{"enabled": true}} resumes it\n')


def test_a_lease_blocked_while_waiting_exits_2_at_once(stack, register, kw, capsys, monkeypatch):
    name, _ = register(load_seconds=60)
    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sleep = time.sleep

    def override_then_sleep(seconds: float) -> None:
        # While the command waits, an operator holds the model cold.
        request("PUT", f"{stack['api']}/models/{name}/override", {"state": "cold", "until": until})
        sleep(min(seconds, 0.2))

    monkeypatch.setattr(client_module.time, "sleep", override_then_sleep)
    started = time.monotonic()
    code = main(["--url", stack["api"], "warm", name, "--minutes", "5", "--wait", "--poll", "0.5",
                 "--timeout", "60"])
    assert code == 2 and time.monotonic() - started < 10
    out, err = capsys.readouterr()
    lease_id = re.search(r"^lease (l[0-9a-f]+) on ", out, re.M).group(1)
    assert f"keepwarm: {name} cannot become ready: a cold override keeps {name} cold until {until}; " \
           f"DELETE /models/{name}/override ends it" in err
    assert f"keepwarm release {name} {lease_id}" in err  # the lease is still there
    monkeypatch.undo()

    # The Python client says the same, as a KeepwarmError with its own code.
    request("DELETE", f"{stack['api']}/models/{name}/override")
    lease = kw.lease(name, 5)
    request("PUT", f"{stack['api']}/models/{name}", {"enabled": False})
    with pytest.raises(KeepwarmError) as caught:
        kw.wait_until_ready(name, lease["id"], timeout=60, poll=0.2)
    assert caught.value.code == "LeaseBlocked" and "is paused" in str(caught.value)


def test_bad_request_from_the_server_exits_2(stack, register, capsys):
    name, _ = register()
    assert main(["--url", stack["api"], "warm", name, "--minutes", "100000"]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("keepwarm: HTTP 400 BadRequestError: minutes")


def test_bad_usage_exits_1(capsys):
    assert main([]) == 1
    assert main(["warm", "m"]) == 1  # --minutes is required
    assert main(["warm", "m", "--minutes", "0"]) == 1
    assert main(["warm", "m", "--minutes", "5", "--timeout", "soon"]) == 1
    assert main(["frobnicate"]) == 1
    assert main(["--url", "ftp://example.com", "status", "m"]) == 1
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    assert "keepwarm warm my-model --minutes 90 --wait && python run_batch.py" in out


def test_network_error(capsys):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(KeepwarmError) as caught:
        KeepwarmClient(url).model("m")
    assert caught.value.status is None and caught.value.code == "NetworkError"
    assert str(caught.value).startswith(f"cannot reach {url}: ")
    assert main(["--url", url, "status", "m"]) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"keepwarm: cannot reach {url}: ") and "(URL from --url)" in err
    assert "Give its URL with --url URL or export KEEPWARM_URL=URL" in err


def test_unreachable_says_where_the_url_came_from(capsys, monkeypatch):
    monkeypatch.delenv("KEEPWARM_URL", raising=False)
    monkeypatch.setenv("PORT", str(free_port()))  # not read: other servers use it too
    code = main(["list"])
    _, err = capsys.readouterr()
    if "cannot reach http://127.0.0.1:8000" in err:  # nothing on the default port (else it answered)
        assert code == 2
        assert "(URL from the default: neither --url nor KEEPWARM_URL is set)" in err
        assert "--url URL or export KEEPWARM_URL=URL" in err
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("KEEPWARM_URL", url)
    assert main(["list"]) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"keepwarm: cannot reach {url}: ") and "(URL from KEEPWARM_URL)" in err


def test_status_shows_the_recent_windows_readiness_in_the_models_zone():
    from keepwarm_client.cli import readiness_lines

    readiness = {"recent": [
        {"window_open": "2026-03-10T08:00:00Z", "window_close": "2026-03-10T17:00:00Z", "ready_at_open": False,
         "late_seconds": 42.0, "verified_warm_minutes": 520.0, "verified_share": 0.963, "unexpected_cold": 1,
         "cold_starts": 1},
        {"window_open": "2026-03-09T08:00:00Z", "window_close": "2026-03-09T17:00:00Z", "ready_at_open": True,
         "late_seconds": 0.0, "verified_warm_minutes": 540.0, "verified_share": 1.0, "unexpected_cold": 0,
         "cold_starts": 0}],
        "summary": {"openings": 2, "ready_at_open": 1, "late_seconds_max": 42.0, "verified_share": 0.9815}}
    assert readiness_lines(readiness, "Europe/Paris") == [
        "readiness (last 7 days): ready at 1 of 2 openings, at worst 42 s late, verified warm 98.2% of window time",
        "  2026-03-10 09:00-18:00 Europe/Paris  ready 42 s late, verified warm 96.3%, 1 unexpected cold, "
        "1 cold start(s)",
        "  2026-03-09 09:00-18:00 Europe/Paris  ready at open, verified warm 100.0%"]
    # An API without readiness (older, or before any window opened): nothing is shown.
    assert readiness_lines(None, "UTC") == [] and readiness_lines({"recent": [], "summary": {}}, "UTC") == []


def test_url_from_the_environment(stack, register, capsys, monkeypatch):
    name, _ = register()
    monkeypatch.setenv("KEEPWARM_URL", stack["api"])
    assert main(["status", name]) == 0
    assert capsys.readouterr().out.startswith("status: cold\n")


# -- signing, without sending --------------------------------------------------------------
ENDPOINT = "https://abc123.execute-api.us-west-2.amazonaws.com/api"


@pytest.fixture
def fake_credentials(monkeypatch, tmp_path):
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the host's region wins


def test_signed_request_for_a_deployed_stage(fake_credentials):
    kw = KeepwarmClient(ENDPOINT, timeout=1)
    assert kw.sign is True and kw.region == "us-west-2"
    arn = f"arn:aws:bedrock:us-west-2:{ACCOUNT}:imported-model/abcdefghijkl"
    req = kw.build_request("POST", f"/models/{quote(arn, safe='')}/leases", {"minutes": 90})
    assert req.full_url == ("https://abc123.execute-api.us-west-2.amazonaws.com/api/models/"
                            "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Aimported-model%2Fabcdefghijkl/leases")
    assert req.get_method() == "POST" and json.loads(req.data) == {"minutes": 90}
    headers = {k.lower(): v for k, v in req.header_items()}
    auth = headers["authorization"]
    assert re.fullmatch(r"AWS4-HMAC-SHA256 Credential=testing/\d{8}/us-west-2/execute-api/aws4_request, "
                        r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}", auth), auth
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(signed)
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["x-amz-date"])
    assert "x-amz-security-token" not in headers

    # A session token is sent along; a region given explicitly wins over the host's.
    os.environ["AWS_SESSION_TOKEN"] = "token"
    try:
        req = KeepwarmClient(ENDPOINT, region="us-east-1").build_request("GET", "/models/m")
    finally:
        del os.environ["AWS_SESSION_TOKEN"]
    headers = {k.lower(): v for k, v in req.header_items()}
    assert "/us-east-1/execute-api/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "token"


def test_signature_is_valid_sigv4(fake_credentials):
    """What goes on the wire verifies as SigV4, recomputed here from AWS's specification
    (not with botocore): for a POST whose path holds a URL-encoded ARN, which the canonical
    request encodes once more, as API Gateway expects."""
    arn = f"arn:aws:bedrock:us-west-2:{ACCOUNT}:imported-model/abcdefghijkl"
    req = KeepwarmClient(ENDPOINT).build_request("POST", f"/models/{quote(arn, safe='')}/leases",
                                                 {"minutes": 90, "holder": "etl"})
    headers = {k.lower(): v for k, v in req.header_items()}
    headers.setdefault("host", "abc123.execute-api.us-west-2.amazonaws.com")  # urllib adds it from the URL
    credential, signed_headers, signature = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})",
        headers["authorization"]).groups()
    _, day, region, service, _ = credential.split("/")
    path = urllib.parse.urlsplit(req.full_url).path
    canonical = "\n".join([
        "POST",
        "/".join(quote(segment, safe="-_.~") for segment in path.split("/")),
        "",
        "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers.split(";")),
        signed_headers,
        hashlib.sha256(req.data).hexdigest(),
    ])
    assert "%253Aimported-model%252Fabcdefghijkl" in canonical
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + "testing").encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() == signature


def test_the_region_comes_only_from_a_whole_execute_api_host_name():
    assert client_module.region_from_host("abc123.execute-api.us-west-2.amazonaws.com") == "us-west-2"
    assert client_module.region_from_host("abc123.execute-api.us-west-2.amazonaws.com\n") is None
    assert client_module.region_from_host("abc123.execute-api.us-west-2.amazonaws.com.evil.example") is None


def test_loopback_is_not_signed_and_sign_can_be_forced(fake_credentials):
    for url in ("http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:8000"):
        req = KeepwarmClient(url).build_request("GET", "/models/m")
        assert "Authorization" not in dict(req.header_items()), url
    req = KeepwarmClient("http://127.0.0.1:8000", sign=True, region="us-west-2").build_request("GET", "/models")
    assert dict(req.header_items())["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    req = KeepwarmClient(ENDPOINT, sign=False).build_request("GET", "/models")
    assert "Authorization" not in dict(req.header_items())


def test_signing_without_credentials_or_region_fails_clearly(fake_credentials, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(KeepwarmError) as caught:
        KeepwarmClient("https://keepwarm.example.com/api").build_request("GET", "/models")
    assert caught.value.code == "NoRegion" and "region" in str(caught.value)

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(KeepwarmError) as caught:
        KeepwarmClient(ENDPOINT).build_request("GET", "/models")
    assert caught.value.code == "NoCredentials" and "no AWS credentials" in str(caught.value)
    assert main(["--url", ENDPOINT, "status", "m"]) == 2
