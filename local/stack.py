"""The whole service on this machine, no AWS account: ``make run`` (``python -m local.stack``).

Starts, all on loopback:
- moto's server for DynamoDB and SQS, with the table, the work queue and its dead-letter
  queue created;
- the imported-model simulator with two demo models, playing any other imported-model
  ARN from its first call (unless ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` is already set:
  then that endpoint is used);
- the REST API under ``chalice local`` on 127.0.0.1:$PORT (default 8000), with the fleet
  page at ``/status``;
- a runner that plays EventBridge (calls ``tick`` every minute, with the minute as the
  event's time) and Lambda's SQS poller (hands ``worker`` up to ten messages at a time,
  deletes those it handled and leaves those it names as failed, or the whole batch if it
  raises, for redelivery and the dead-letter queue).

The service finds all of them through the standard ``AWS_ENDPOINT_URL*`` variables, as
it would find AWS, and nothing else: every AWS client it builds (EventBridge and STS
included, and any it comes to need) is pointed at moto, its credentials are fake ones
set here whatever the shell exported, and the shell's profile and shared AWS config are
not read. The service's JSON logs go to a file (``--log-file``); the terminal gets the
banner, then one short line per change of a model's status. Ctrl-C stops everything it
started.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TextIO
from urllib.parse import urlsplit

import boto3

from chalicelib.delivery import WORKER_BATCH
from chalicelib.fleetpage import REFRESH_SECONDS
from local.harness import sqs_batch_event, tick_event

ROOT = Path(__file__).resolve().parent.parent
TABLE = "keepwarm-local"
QUEUE = "keepwarm-local-work"
DLQ = "keepwarm-local-dead"
# A message the worker failed on this many times goes to the dead-letter queue
# (KEEPWARM_MAX_RECEIVES' default).
MAX_RECEIVES = 5
DEMO_MODELS = {
    "demo-llama": "arn:aws:bedrock:us-west-2:123456789012:imported-model/demollama8b1",
    "demo-qwen": "arn:aws:bedrock:us-west-2:123456789012:imported-model/demoqwen7b01",
}
# Not under "keepwarm": Powertools keeps the service's own lines off the root handler by that prefix.
log = logging.getLogger(__name__)


# The keys every AWS client the stack starts signs with: nothing it talks to checks them.
FAKE_ACCESS_KEY = "AKIAKEEPWARMLOCAL000"
FAKE_SECRET_KEY = "keepwarm-local-fake-secret"
REGION = "us-west-2"
# What could make a client started here reach beyond loopback, or sign as someone real: a
# profile or role to load, a credentials provider to ask, endpoints in shared config to
# ignore the ones set here, a proxy to go through.
UNSAFE_VARIABLES = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)
# Endpoints someone may point at their own stand-in for Bedrock (on loopback only).
OWN_ENDPOINTS = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_BEDROCK")


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_only(environ: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Make ``environ`` (os.environ) safe for a stack that must reach nothing but loopback:
    fake credentials forced (not defaulted: an engineer's real ones may be exported), no
    profile, no shared config or credentials file, no instance metadata, no proxy, every
    ``AWS_ENDPOINT_URL*`` dropped but a loopback Bedrock stand-in. Returns the Bedrock
    endpoints kept. Raises ValueError for a Bedrock endpoint off loopback."""
    env = os.environ if environ is None else environ
    kept = {}
    for var in OWN_ENDPOINTS:
        url = env.get(var)
        if url and not is_loopback_url(url):
            raise ValueError(f"{var}={url} is not on loopback: the local stack talks to nothing else "
                             f"(unset it to use the simulator)")
        if url:
            kept[var] = url
    for var in [v for v in env if v in UNSAFE_VARIABLES or v.startswith("AWS_ENDPOINT_URL")]:
        del env[var]
    env.update(kept)
    env.update(AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=FAKE_SECRET_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return kept


def point_at(moto_url: str, environ: Optional[dict[str, str]] = None) -> None:
    """Every AWS service at moto (``AWS_ENDPOINT_URL``: those not named below too, such as
    EventBridge and STS), each service the stack uses named as well, so that no shared
    setting can send one elsewhere."""
    env = os.environ if environ is None else environ
    env["AWS_ENDPOINT_URL"] = moto_url
    for service in ("DYNAMODB", "SQS", "CLOUDWATCH", "EVENTBRIDGE", "STS"):
        env[f"AWS_ENDPOINT_URL_{service}"] = moto_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:``port``. Binds as chalice local's
    server does (SO_REUSEADDR), so a closed connection still in TIME_WAIT does not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# Run as the child, before chalice: ask Linux to send it SIGTERM when the stack dies, even
# by SIGKILL, so no API server is left holding the port. Elsewhere it just runs chalice.
_CHILD = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):  # the stack died before the line above ran
    sys.exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


def create_resources() -> dict[str, str]:
    """The table, the queue and its dead-letter queue, as the deployment template has them."""
    from chalicelib.dynamo import create_table

    create_table(boto3.client("dynamodb"), TABLE)
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={
        "VisibilityTimeout": "130",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
    })["QueueUrl"]
    return {"queue_url": queue_url, "dead_letter_queue_url": dlq_url}


class Runner:
    """EventBridge's minute tick and Lambda's SQS poller, in threads of this process."""

    def __init__(self, queue_url: str, tick_seconds: float = 60.0, workers: int = 4,
                 say: Callable[[str], None] = lambda line: None):
        import app  # the service's own handlers, as Lambda would load them

        self.app = app
        self.say = say  # a failure's one line on the terminal (its traceback goes to the log)
        self.queue_url = queue_url
        self.tick_seconds = tick_seconds
        self.sqs = boto3.client("sqs")
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        self.threads = [threading.Thread(target=self._tick_loop, name="tick", daemon=True),
                        threading.Thread(target=self._poll_loop, name="poller", daemon=True)]

    def start(self) -> "Runner":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _tick_loop(self) -> None:
        period = self.tick_seconds
        while not self.stopping.is_set():
            # Fire on the boundary, with the boundary as the event's time, as EventBridge does.
            now = time.time()
            due = (now // period + 1) * period
            if self.stopping.wait(due - now):
                return
            at = datetime.fromtimestamp(due, timezone.utc)
            try:
                self.app.tick(tick_event(at), None)
            except Exception as err:  # keep ticking: EventBridge would call again next minute
                log.exception("tick failed")
                self.say(f"{at:%H:%M:%S}  tick failed: {type(err).__name__}: {str(err)[:120]} (the log has more)")

    def _poll_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=WORKER_BATCH, WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
            except Exception:
                log.exception("receive failed")
                self.stopping.wait(1)
                continue
            if messages:
                self.pool.submit(self.deliver, messages)

    def deliver(self, messages: list[dict[str, Any]]) -> None:
        """Hand a batch to the worker as Lambda does with ReportBatchItemFailures on: delete
        the messages it handled; those it names as failed, or all if it raises, stay for
        redelivery after the visibility timeout, then the dead-letter queue."""
        try:
            answer = self.app.worker(sqs_batch_event(messages, QUEUE), None)
        except Exception as err:
            log.exception("worker failed; the batch will be redelivered")
            self.say(f"{datetime.now(timezone.utc):%H:%M:%S}  worker failed: {type(err).__name__}: "
                     f"{str(err)[:120]}; the batch will be redelivered (the log has more)")
            return
        failed = {failure["itemIdentifier"] for failure in answer["batchItemFailures"]}
        if failed:
            log.warning("worker failed on %d of %d messages; they will be redelivered", len(failed), len(messages))
        handled = [m for m in messages if m["MessageId"] not in failed]
        if handled:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(handled)])


def wait_for_http(url: str, timeout: float, server: Optional[subprocess.Popen] = None) -> None:
    """Wait until ``url`` answers; fail at once if ``server``, which should answer it, exited."""
    deadline = time.monotonic() + timeout
    while True:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answered at {url} within {timeout:.0f} s") from None
            time.sleep(0.2)


def register_demo(api_url: str, now: datetime) -> list[str]:
    """Give a newcomer something to watch: a window opening in five minutes, for an hour
    (so the pre-warm, three minutes before it opens, can be seen too)."""
    start = (now + timedelta(minutes=5)).strftime("%H:%M")
    stop = (now + timedelta(minutes=65)).strftime("%H:%M")
    lines = []
    for name, arn in DEMO_MODELS.items():
        body = {"model_arn": arn, "name": name, "timezone": "UTC",
                "windows": [{"start": start, "stop": stop}]}  # request_format auto picks each one's body
        request = urllib.request.Request(f"{api_url}/models", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
            lines.append(f"  {name}: warm {start}-{stop} UTC daily")
        except urllib.error.HTTPError as err:
            lines.append(f"  {name}: not registered ({err.code} {err.read().decode()[:200]})")
    return lines


def seed_demo_traffic(now: datetime, weeks: int = 4) -> None:
    """Four weeks of made-up requests for the demo models in moto's CloudWatch, as Bedrock
    records them (AWS/Bedrock Invocations per ModelId, hourly), so that
    GET /models/demo-llama/suggestion has something to read: office hours Monday to Friday
    in UTC for demo-llama, the same plus a nightly batch for demo-qwen."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-west-2")
    end = now.replace(minute=0, second=0, microsecond=0)
    for name, arn in DEMO_MODELS.items():
        data = []
        hour = end - timedelta(weeks=weeks)
        while hour < end:
            office = hour.isoweekday() <= 5 and 8 <= hour.hour < 18
            batch = name == "demo-qwen" and 1 <= hour.hour < 3
            if office or batch:
                data.append({"MetricName": "Invocations", "Dimensions": [{"Name": "ModelId", "Value": arn}],
                             "Timestamp": hour, "Value": float(40 + (hour.hour * 7 + hour.day) % 30),
                             "Unit": "Count"})
            hour += timedelta(hours=1)
        for i in range(0, len(data), 1000):
            cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=data[i:i + 1000])


def own_model_help(simulator_url: str, load_seconds: Optional[float]) -> str:
    """How to try one's own model, as ``make run`` prints it."""
    if load_seconds is None:
        told = "the simulator knows only the models it is told about (--strict-models), so"
    else:
        told = (f"the simulator plays any imported-model ARN from its first call\n"
                f"(loading in {load_seconds:g} s, 1 CMU). To choose its load time, CMUs or faults,")
    example = json.dumps({"arn": "arn:aws:bedrock:us-west-2:123456789012:imported-model/km5b98xhpqel",
                          "load_seconds": 90, "cmus": 4})
    return (f"your own model: register its ARN with keepwarm (POST /models, see the README's tour);\n{told}\n"
            f"tell the simulator before you register it with keepwarm (which reads it from the simulator):\n"
            f"  curl -s -X POST {simulator_url}/_sim/models -H 'Content-Type: application/json' \\\n"
            f"       -d '{example}'\n"
            f"  (also release_seconds, architecture, imported_at, cold_mode, hold_seconds, throttle_rate, "
            f"error_rate, slow_seconds, denied, model_error:\n"
            f"  docs/local.md says what each does)\n")


class StatusWatch:
    """One short line on the terminal each time a model's status changes (as the API shows
    it: cold, warming, warm, error), is paused or resumed, appears or goes; read from the
    store every ``every`` seconds, in a thread of this process."""

    def __init__(self, say: Callable[[str], None], every: float = 1.0):
        from chalicelib.runtime import get_runtime

        self.runtime = get_runtime()
        self.say = say
        self.every = every
        self.seen: dict[str, tuple[str, bool, Optional[str]]] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="status-watch", daemon=True)

    def start(self) -> "StatusWatch":
        self.look(say=False)  # what is there at start-up the banner already says
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        try:
            self.look()  # what changed since the last look is said before the stack stops
        except Exception:
            log.exception("status watch failed")

    def _loop(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                self.look()
            except Exception:  # a slow moto or a model mid-write: look again next time
                log.exception("status watch failed")

    def look(self, say: bool = True) -> None:
        from chalicelib.planner import display_status

        rt = self.runtime
        now = rt.clock()
        current = {}
        for model in _every_model(rt.store):
            status = display_status(model.config, model.state, now, rt.settings)
            error = model.state.error if status == "error" else None
            current[model.name] = (status, model.config.enabled, error)
        if say:
            for line in status_lines(self.seen, current):
                self.say(f"{datetime.now(timezone.utc):%H:%M:%S}  {line}")
        self.seen = current


def _every_model(store: Any) -> Iterator[Any]:
    token = None
    while True:
        page, token = store.list(100, token)
        yield from page
        if token is None:
            return


def status_lines(before: dict[str, tuple[str, bool, Optional[str]]],
                 after: dict[str, tuple[str, bool, Optional[str]]]) -> list[str]:
    """What changed between two looks at the models (name -> status, enabled, error)."""
    lines = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name), after.get(name)
        if now is None:
            lines.append(f"{name}: deleted")
            continue
        status, enabled, error = now
        said = f": {error[:120]}" if error else ""
        if was is None:
            lines.append(f"{name}: registered, {status}" + ("" if enabled else " (paused)") + said)
            continue
        if was[1] != enabled:
            lines.append(f"{name}: {'resumed' if enabled else 'paused'}")
        if was[0] != status or (error and was[2] != error):
            lines.append(f"{name}: {was[0]} -> {status}{said}")
    return lines


def default_log_file(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"keepwarm-local-{port}.log"


def send_logs_to(stream: TextIO) -> None:
    """This process's log lines, the service's JSON ones (Powertools' handler on the
    ``keepwarm`` logger) and the stack's own, into ``stream`` instead of the terminal."""
    from chalicelib.logs import SERVICE

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=stream, force=True)
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for handler in logging.getLogger(SERVICE).handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setStream(stream)


def banner(api_url: str, endpoints: dict[str, str], log_file: Path, demo_lines: list[str],
           simulator_url: Optional[str], own_model: str = "") -> str:
    """What ``make run`` prints once everything is up: where things are, and the CLI."""
    cli = ".venv/bin/keepwarm"
    lines = ["", "keepwarm is running locally (loopback only; Ctrl-C stops everything):"]
    lines += [f"  {what:22} {url}" for what, url in endpoints.items()]
    if simulator_url is not None:
        lines.append(f"  simulator inspection   {simulator_url}/_sim/models")
    lines.append(f"  service logs (JSON)    {log_file}   (tail -f it; below: one line per status change)")
    if demo_lines:
        lines += ["", "demo models registered:", *demo_lines]
    if own_model:
        lines += ["", own_model.rstrip("\n")]
    lines += ["", f"the fleet page (refreshes every {REFRESH_SECONDS} s): open {api_url}/status in a browser",
              "", "the keepwarm command (docs/cli.md), in another terminal:",
              f"  export KEEPWARM_URL={api_url}",
              f"  {cli} list"]
    if demo_lines:
        lines += [f"  {cli} status demo-llama",
                  f"  {cli} warm demo-qwen --minutes 30 --wait",
                  f"  {cli} events demo-llama --limit 10",
                  f"  {cli} suggest demo-qwen --weeks 4"]
    else:
        lines += [f"  {cli} register NAME MODEL_ARN --window 'MON-FRI 09:00-18:00'",
                  f"  {cli} status NAME"]
    lines += [f"  {cli} export", "", "or the API itself:",
              f"  curl -s {api_url}/models" + ("/demo-llama" if demo_lines else "") + " | python3 -m json.tool", ""]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                        help="REST API port on 127.0.0.1 (default $PORT or 8000)")
    parser.add_argument("--tick-seconds", type=float, default=60.0,
                        help="how often the tick runs (EventBridge: 60)")
    parser.add_argument("--no-demo", action="store_true", help="register no demo models")
    parser.add_argument("--load-seconds", type=float, default=60.0,
                        help="how long a model the simulator did not know takes to load (default 60)")
    parser.add_argument("--strict-models", action="store_true",
                        help="the simulator answers 404 for a model not registered with it, as AWS does")
    parser.add_argument("--endpoints-file", type=Path,
                        help="write the endpoints as JSON here once everything is up")
    parser.add_argument("--log-file", type=Path,
                        help="where the service's JSON logs go (default: keepwarm-local-PORT.log in the "
                             "temporary directory, emptied at start)")
    args = parser.parse_args(argv)
    if port_taken(args.port):
        print(f"port {args.port} on 127.0.0.1 is already in use (another `make run`?): stop that, or "
              f"choose another port: make run PORT={args.port + 1}", file=sys.stderr)
        return 2
    try:
        own_bedrock = loopback_only()
    except ValueError as err:
        print(f"keepwarm local stack: {err}", file=sys.stderr)
        return 2
    log_file = args.log_file or default_log_file(args.port)
    log_stream = open(log_file, "w", buffering=1, encoding="utf-8")
    send_logs_to(log_stream)
    # What the service writes itself (its EMF metrics are printed) goes to the log too;
    # the terminal keeps what this module says.
    terminal, errors = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = log_stream

    def say(line: str) -> None:
        print(line, file=terminal, flush=True)

    from moto.server import ThreadedMotoServer

    from local.simulator import DEMO_MODELS as SIMULATED_DEMO_MODELS, Simulator, SimulatorServer

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    point_at(moto_url)  # DynamoDB, SQS, EventBridge, CloudWatch (the models' traffic), STS, ...

    simulator_server = None
    auto_create = None if args.strict_models else args.load_seconds
    demo = not args.no_demo
    if own_bedrock.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        demo = False  # someone else's models: register none of ours
        os.environ.setdefault("AWS_ENDPOINT_URL_BEDROCK", os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
    else:
        sim = Simulator(auto_create=auto_create)
        for spec in SIMULATED_DEMO_MODELS:  # an old Llama import and a new Qwen one
            sim.add_model(**spec)  # type: ignore[arg-type]
        simulator_server = SimulatorServer(sim, port=free_port()).start()
        os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = simulator_server.url
        os.environ["AWS_ENDPOINT_URL_BEDROCK"] = simulator_server.url

    resources = create_resources()
    os.environ["KEEPWARM_TABLE"] = TABLE
    os.environ["KEEPWARM_QUEUE_URL"] = resources["queue_url"]
    os.environ["KEEPWARM_QUEUE_NAME"] = QUEUE

    api_url = f"http://127.0.0.1:{args.port}"
    chalice = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(os.getpid()), str(Path(sys.executable).parent / "chalice"),
         "local", "--host", "127.0.0.1", "--port", str(args.port), "--stage", "local", "--no-autoreload"],
        cwd=ROOT, env=os.environ.copy(), stdout=log_stream, stderr=subprocess.STDOUT,
    )
    runner: Optional[Runner] = None
    watch: Optional[StatusWatch] = None
    try:
        try:
            wait_for_http(f"{api_url}/models", timeout=30, server=chalice)
        except (RuntimeError, TimeoutError) as err:
            print(f"chalice local did not start: {err} (its output: {log_file})", file=errors)
            return 1
        runner = Runner(resources["queue_url"], tick_seconds=args.tick_seconds, say=say).start()
        demo_lines = register_demo(api_url, datetime.now(timezone.utc)) if demo else []
        if demo:
            seed_demo_traffic(datetime.now(timezone.utc))
        endpoints = {"api": api_url, "dynamodb_sqs": moto_url, "queue_url": resources["queue_url"],
                     "dead_letter_queue_url": resources["dead_letter_queue_url"],
                     "bedrock_runtime": os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"],
                     "fleet_page": f"{api_url}/status"}
        say(banner(api_url, endpoints, log_file, demo_lines,
                   simulator_server.url if simulator_server is not None else None,
                   own_model_help(simulator_server.url, auto_create) if simulator_server is not None else ""))
        watch = StatusWatch(say, every=min(1.0, args.tick_seconds)).start()
        if args.endpoints_file:
            args.endpoints_file.write_text(json.dumps({**endpoints, "moto": moto_url, "log_file": str(log_file)}))
        while not stopping.is_set():
            if chalice.poll() is not None:
                print(f"chalice local exited with {chalice.returncode} (its output: {log_file})", file=errors)
                return 1
            stopping.wait(0.5)
        return 0
    finally:
        if watch is not None:
            watch.stop()
        if runner is not None:
            runner.stop()
        chalice.terminate()
        try:
            chalice.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chalice.kill()
        if simulator_server is not None:
            simulator_server.stop()
        moto.stop()
        sys.stdout, sys.stderr = terminal, errors
        log_stream.close()
        print("keepwarm local stack stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
