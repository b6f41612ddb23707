"""The local Bedrock imported-model simulator over HTTP, and its command line.

moto cannot play an imported model (its ``invoke_model`` always answers ``{}``, and it has
no ``GetImportedModel``), so :mod:`local.models` simulates them, as the project brief
describes them, and this module serves them behind the same wire protocol a real boto3
client speaks (``python -m local.simulator``; ``make run`` starts one in ``local.stack``):

- ``POST /model/{modelId}/invoke`` (bedrock-runtime InvokeModel) and
  ``GET /imported-models/{modelIdentifier}`` (bedrock GetImportedModel) on one server, so
  ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and ``AWS_ENDPOINT_URL_BEDROCK`` both point at it.
- Administration in JSON, mirrored in Python on :class:`Simulator`: ``POST /_sim/models``
  (``add_model``), ``GET /_sim/models``, ``GET|PATCH|DELETE /_sim/models/{id or ARN}``
  (``inspect``, ``set_faults``, ``remove_model``), ``GET /_sim/calls`` (``calls``),
  and in Python only ``set_load`` (a model whose loads change, e.g. one much slower),
  ``GET|POST /_sim/clock`` (``now``, ``set_clock``; 409 unless on a :class:`ManualClock`).

Errors go out as AWS sends them: the HTTP status of botocore's model, an
``x-amzn-ErrorType: Code:http://internal.amazon.com/coral/...`` header (what botocore's
rest-json parser reads first) and a ``{"__type": Code, "message": ...}`` body (its
fallback), so ``e.response["Error"]["Code"]`` and ``["Message"]`` come out right.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

# The model rules live in local.models; every name this module held before they moved
# there is re-exported, so ``from local.simulator import Simulator, ManualClock, ...`` works.
from local.models import (  # noqa: F401
    ARN_RE,
    BILLING_MODES,
    BODY_SHAPES,
    COLD_MODES,
    FAULT_KEYS,
    NOT_READY_MESSAGE,
    OPENAI_BODIES_SINCE,
    OUTCOMES,
    UTC,
    WINDOW_SECONDS,
    Answer,
    Clock,
    Copy,
    LoadTime,
    ManualClock,
    Model,
    SimError,
    Simulator,
    accepted_formats,
    check_faults,
    check_load_time,
    completion,
    count_tokens,
    error_body,
    error_headers,
    iso,
    parse_iso,
    prompt_text,
    real_clock,
    request_format,
)

DEMO_MODELS = [
    # An import from before OpenAI-style bodies: it takes only Llama's own.
    dict(arn="arn:aws:bedrock:us-west-2:123456789012:imported-model/demollama8b1",
         load_seconds={"kind": "lognormal", "median": 67, "sigma": 0.1}, cmus=4,
         architecture="llama", name="demo-llama-8b", imported_at="2025-06-02T10:00:00Z"),
    dict(arn="arn:aws:bedrock:us-west-2:123456789012:imported-model/demoqwen7b01",
         load_seconds={"kind": "lognormal", "median": 96, "sigma": 0.1}, cmus=2,
         architecture="qwen2", name="demo-qwen-7b"),
]


# -- HTTP ---------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"
    timeout = 30  # a client that connects and says nothing must not pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _access_key(self) -> Optional[str]:
        """The access key in the request's SigV4 ``Authorization`` header, if any."""
        match = re.search(r"Credential=([^/,\s]+)/", self.headers.get("Authorization") or "")
        return match.group(1) if match else None

    def _json(self, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw or b"{}")
        except ValueError as err:
            raise SimError(400, "ValidationException", f"body is not JSON: {err}")
        if not isinstance(data, dict):
            raise SimError(400, "ValidationException", "body must be a JSON object")
        return data

    def _send(self, status: int, body: Optional[dict[str, Any]], headers: Optional[dict[str, str]] = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout); nothing to tell it

    def _route(self, method: str) -> None:
        sim = self.server.simulator
        raw = self._read()
        parts = urlsplit(self.path).path.split("/")[1:]  # split before decoding: ARNs hold %2F
        try:
            if method == "POST" and len(parts) >= 3 and parts[0] == "model" and parts[-1] == "invoke":
                answer = sim.invoke(unquote("/".join(parts[1:-1])), raw, self._access_key())
                # Waiting on the stop event, not sleeping, lets stop() end a held or slow answer at once.
                if answer.at is not None and sim.wait_for(answer.at, self.server.stopping):
                    return
                if answer.delay_seconds and self.server.stopping.wait(answer.delay_seconds):
                    return
                self._send(answer.status, answer.body, answer.headers)
            elif method == "GET" and len(parts) >= 2 and parts[0] == "imported-models":
                self._send(200, sim.get_imported_model(unquote("/".join(parts[1:])), self._access_key()))
            elif parts[:1] == ["_sim"]:
                self._admin(method, parts[1:], raw)
            else:
                raise SimError(404, "UnknownOperationException", f"no route for {method} {self.path}")
        except SimError as err:
            self._send(err.status, error_body(err.code, err.message), error_headers(err.code))
        except (ValueError, TypeError, KeyError) as err:
            self._send(400, error_body("ValidationException", str(err)), error_headers("ValidationException"))

    def _admin(self, method: str, parts: list[str], raw: bytes) -> None:
        sim = self.server.simulator
        ident = unquote("/".join(parts[1:]))
        if parts == ["models"] and method == "GET":
            self._send(200, {"models": sim.models()})
        elif parts == ["models"] and method == "POST":
            self._send(201, sim.add_model(**self._json(raw)))
        elif parts[:1] == ["models"] and ident and method == "GET":
            self._send(200, sim.inspect(ident))
        elif parts[:1] == ["models"] and ident and method == "PATCH":
            self._send(200, sim.set_faults(ident, **self._json(raw)))
        elif parts[:1] == ["models"] and ident and method == "DELETE":
            sim.remove_model(ident)
            self._send(204, None)
        elif parts == ["calls"] and method == "GET":
            self._send(200, {"calls": sim.calls()})
        elif parts == ["clock"] and method == "GET":
            self._send(200, {"now": iso(sim.now()), "manual": sim.manual_clock is not None})
        elif parts == ["clock"] and method == "POST":
            body = self._json(raw)
            unknown = set(body) - {"now", "advance_seconds"}
            if unknown:
                raise SimError(400, "ValidationException", f"unknown keys {sorted(unknown)}")
            when = parse_iso(body["now"]) if "now" in body else None
            now = sim.set_clock(when, body.get("advance_seconds"))
            self._send(200, {"now": iso(now), "manual": True})
        else:
            raise SimError(404, "UnknownOperationException", f"no route for {method} /_sim/{'/'.join(parts)}")


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads are joined on close (HTTP/1.0: one request per connection, so they end).
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], simulator: Simulator, quiet: bool):
        self.simulator, self.quiet, self.stopping = simulator, quiet, threading.Event()
        super().__init__(address, _Handler)


class SimulatorServer:
    """Serves a :class:`Simulator` over HTTP on loopback, from a daemon thread."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            raise ValueError(f"the simulator binds loopback only, not {host!r}")
        self.simulator = simulator
        self._httpd = _HTTPServer((host, port), simulator, quiet)
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SimulatorServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="keepwarm-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- CLI ----------------------------------------------------------------------------------
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.simulator",
                                     description="Local Bedrock imported-model simulator (loopback only).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--demo", action="store_true", help="register the two demo models")
    parser.add_argument("--model", action="append", default=[], metavar="ARN",
                        help="register an imported model (repeatable; the options below apply to each)")
    parser.add_argument("--auto-create", action="store_true",
                        help="play any other imported-model ARN from its first call, loading in --load-seconds")
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--release-seconds", type=float, default=900.0)
    parser.add_argument("--cmus", type=int, default=1)
    parser.add_argument("--architecture", default="llama")
    parser.add_argument("--imported-at", metavar="ISO",
                        help="the models' creationTime (default now: a new import, which takes every body)")
    parser.add_argument("--cold-mode", choices=COLD_MODES, default="reject",
                        help="hold: keep a call to a cold model waiting while a copy loads")
    parser.add_argument("--hold-seconds", type=float, default=300.0)
    parser.add_argument("--billing", choices=BILLING_MODES, default="first_success",
                        help="load: bill each copy from the end of its load (default: from its first success)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manual-clock", nargs="?", const="", metavar="ISO",
                        help="run on a manual clock (from ISO, default now), moved by POST /_sim/clock")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    clock: Optional[ManualClock] = None
    if args.manual_clock is not None:
        clock = ManualClock(parse_iso(args.manual_clock) if args.manual_clock else None)
    sim = Simulator(clock=clock, seed=args.seed, auto_create=args.load_seconds if args.auto_create else None)
    try:
        for spec in DEMO_MODELS if args.demo else []:
            sim.add_model(**spec)  # type: ignore[arg-type]
        for arn in args.model:
            sim.add_model(arn, args.load_seconds, release_seconds=args.release_seconds,
                          cmus=args.cmus, architecture=args.architecture, imported_at=args.imported_at,
                          cold_mode=args.cold_mode, hold_seconds=args.hold_seconds, billing=args.billing)
        server = SimulatorServer(sim, args.host, args.port, quiet=not args.verbose)
    except (ValueError, SimError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    stop = threading.Event()
    # SIGINT too: a shell starts background jobs with SIGINT ignored, which Python inherits.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        print(f"imported-model simulator on {server.url}"
              f" ({'manual clock, POST /_sim/clock to move it' if clock else 'real clock'})")
        for m in sim.models():
            print(f"  model {m['model_arn']} ({m['architecture']}, {m['cmus']} CMUs, load {m['load_seconds']})")
        if args.auto_create:
            print(f"  any other imported-model ARN: from its first call, load {args.load_seconds:g} s")
        print("export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + server.url)
        print("export AWS_ENDPOINT_URL_BEDROCK=" + server.url)
        print("# signatures are not checked; without credentials: "
              "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing", flush=True)
        while not stop.wait(0.5):
            pass
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
