"""Imported models on a clock: the rules of the local Bedrock stand-in, without HTTP.

:class:`Simulator` decides what Bedrock's runtime (InvokeModel) and control plane
(GetImportedModel) answer for each imported model: its copies, loads and releases, cold
modes, request bodies, faults, billing and callers. ``local.simulator`` serves it over
HTTP; soaks and benchmarks call it in process. The rules:

- A model with no loaded copy answers 429 ``ModelNotReadyException`` and starts loading one;
  the copy is ready after the model's load time (fixed, or drawn per cold start from a
  lognormal or uniform distribution). A loaded copy answers a one-token completion in the
  format of the request: OpenAI chat, OpenAI completion or Llama style.
- Or, with ``cold_mode`` ``hold``, a call that finds no loaded copy is held while one
  loads, as AWS documents a cold model may do: answered once the copy is ready if that is
  within ``hold_seconds`` (default 300), else 429 ``ModelNotReadyException`` then.
- Two kinds of import, by ``imported_at`` (GetImportedModel's ``creationTime``) and
  ``architecture``: a model imported after 11 November 2025 takes all three bodies; an
  older one only its architecture's own (see :func:`accepted_formats`), and any other body
  gets 400 ``ValidationException``, as Bedrock answers a body it cannot read.
- A copy is released once the model has had no successful invocation for
  ``release_seconds`` (default 900: seed 000's "kept 5 minutes, then two idle 5-minute
  periods"), counted from the later of the last invocation and the end of loading. With
  ``release_jitter_seconds``, each copy's release time is drawn uniformly within that much
  either side of ``release_seconds`` (at least one second), from its own per-model RNG, so
  the load-time draws are the same with or without it.
- Billing per copy: whole 5-minute windows from the copy's first successful call until its
  release (or until now, while it is loaded); billed CMU-minutes = minutes x CMUs per copy.
  That is the documented rule (``billing`` ``first_success``); ``billing`` ``load`` bills
  from the end of the copy's load instead, whether or not any call succeeded (the
  pessimistic reading, for measuring what a pre-warm costs if Bedrock's rule differs).
- Faults per model: ``throttle_rate`` (429 ThrottlingException), ``error_rate`` (500
  InternalServerException and 503 ServiceUnavailableException, alternating),
  ``slow_seconds`` (the answer is held back that long), ``denied`` (403
  AccessDeniedException), ``model_error`` (a loaded copy's container fails: 424
  ModelErrorException), and deletion (404 ResourceNotFoundException).
- Optionally (``auto_create``, on under ``make run``) any well-formed imported-model ARN
  is a model: the first call or GetImportedModel naming one registers it with a default
  load time, so a model registered only with keepwarm can be tried locally.

Documented choices:
- State is computed lazily from the clock on each request; there are no background
  threads, so a :class:`ManualClock` drives hours of simulated time in milliseconds.
  Simulator time never runs backwards: an earlier clock reading counts as the latest seen.
- Checks run in this order: unknown or deleted model (404), denied (403), malformed body
  or one the import does not take (400), throttled (429), server error (500/503), then
  readiness. A call stopped by any of them is not activity: it neither holds a copy loaded
  nor starts loading one. A 424 from a loaded copy is activity (the copy ran it) but not a
  success (billing starts at a copy's first success).
- A held call is decided when it arrives, on the simulated clock: served at the instant
  the copy is ready (its first success, if it is the copy's first) whether or not the
  client is still waiting then. Only the HTTP answer waits, on the simulator's clock (a
  :class:`ManualClock` must be moved for it to come).
- ``slow_seconds`` does not change the outcome: the call is processed when it arrives
  (recorded, counted as activity if it succeeds) and only the answer is delayed, as when a
  real endpoint is slow and the client gives up while the model still ran.
- A copy that loaded but never served a successful call bills nothing (billing counts from
  the first successful call).
- Randomness (faults, load-time draws) comes from per-model RNGs seeded from the model's
  ``seed`` or else from the simulator's seed and the model ARN: runs are reproducible.
- Signatures and credentials are not checked; the access key a request was signed with
  is recorded (``access_key`` on each call and each GetImportedModel in ``lookups``), so a
  test can see whether it came through an assumed role.
- Timestamps are ISO 8601 UTC with a ``Z``; fractions of a second appear only when non-zero.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional, Union

UTC = timezone.utc
Clock = Callable[[], datetime]
LoadTime = Union[float, dict[str, Any]]

ARN_RE = re.compile(r"^arn:aws(-[a-z-]+)?:bedrock:([a-z0-9-]{1,20}):([0-9]{12}):imported-model/([a-z0-9]{12})\Z")
WINDOW_SECONDS = 300
NOT_READY_MESSAGE = "Model is not ready for inference. Wait and try your request again."
FAULT_KEYS = ("throttle_rate", "error_rate", "slow_seconds", "denied", "model_error")
COLD_MODES = ("reject", "hold")
BILLING_MODES = ("first_success", "load")
# AWS's "Invoke your imported model": OpenAI-style bodies for models imported after
# 11 November 2025 (the first instant after that day, in UTC).
OPENAI_BODIES_SINCE = datetime(2025, 11, 12, tzinfo=timezone.utc)
BODY_SHAPES = {"chat": '{"messages": [...]}', "completion": '{"prompt", "max_tokens"}',
               "llama": '{"prompt", "max_gen_len"}'}

# Outcome of a call -> (HTTP status, error code). "ready" is the 200 answer.
OUTCOMES = {
    "ready": (200, None),
    "not_ready": (429, "ModelNotReadyException"),
    "throttled": (429, "ThrottlingException"),
    "error": (500, "InternalServerException"),
    "unavailable": (503, "ServiceUnavailableException"),
    "denied": (403, "AccessDeniedException"),
    "not_found": (404, "ResourceNotFoundException"),
    "invalid": (400, "ValidationException"),
    "model_error": (424, "ModelErrorException"),
}


def iso(dt: Optional[datetime]) -> Optional[str]:
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond:06d}" if dt.microsecond else "") + "Z"


def parse_iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp needs a time zone: {text!r}")
    return dt.astimezone(UTC)


def real_clock() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; thread-safe. Calling it returns ``now()``."""

    def __init__(self, start: Optional[datetime] = None):
        self._lock = threading.Lock()
        self._now = self._aware(start) if start is not None else real_clock().replace(microsecond=0)

    @staticmethod
    def _aware(dt: datetime) -> datetime:
        if dt.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        return dt.astimezone(UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    __call__ = now

    def set(self, dt: datetime) -> datetime:
        with self._lock:
            self._now = self._aware(dt)
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


class SimError(Exception):
    """An error answered as ``{"__type", "message"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_load_time(load: LoadTime) -> LoadTime:
    if isinstance(load, bool):
        raise ValueError("load_seconds must be a number or a distribution")
    if isinstance(load, (int, float)):
        if load < 0:
            raise ValueError("load_seconds must be >= 0")
        return float(load)
    if isinstance(load, dict):
        kind = load.get("kind")
        if kind == "lognormal" and float(load["median"]) > 0 and float(load.get("sigma", 0)) >= 0:
            return {"kind": kind, "median": float(load["median"]), "sigma": float(load.get("sigma", 0))}
        if kind == "uniform" and 0 <= float(load["low"]) <= float(load["high"]):
            return {"kind": kind, "low": float(load["low"]), "high": float(load["high"])}
    raise ValueError(f"bad load time {load!r}: a number, {{'kind': 'lognormal', 'median', 'sigma'}} "
                     "or {'kind': 'uniform', 'low', 'high'}")


def check_faults(faults: dict[str, Any]) -> dict[str, Any]:
    unknown = set(faults) - set(FAULT_KEYS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {list(FAULT_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("throttle_rate", "error_rate"):
        if key in faults:
            rate = float(faults[key])
            if not 0 <= rate <= 1:
                raise ValueError(f"{key} must be within [0, 1]")
            out[key] = rate
    if "slow_seconds" in faults:
        if float(faults["slow_seconds"]) < 0:
            raise ValueError("slow_seconds must be >= 0")
        out["slow_seconds"] = float(faults["slow_seconds"])
    for key in ("denied", "model_error"):
        if key in faults:
            if not isinstance(faults[key], bool):
                raise ValueError(f"{key} must be true or false")
            out[key] = faults[key]
    return out


def accepted_formats(architecture: str, imported_at: datetime) -> tuple[str, ...]:
    """The request bodies an import takes: all three after 11 November 2025; before, the
    architecture's own: Llama's ``prompt`` + ``max_gen_len``, OpenAI-style chat and
    completion for Qwen and GPT-OSS (the seeds' Qwen2.5-VL and GPT-OSS walkthroughs use
    ``messages``), ``prompt`` + ``max_tokens`` for Mistral, Mixtral, Flan and the rest."""
    if imported_at >= OPENAI_BODIES_SINCE:
        return ("chat", "completion", "llama")
    family = re.sub(r"[^a-z0-9]", "", architecture.lower())
    if "llama" in family:
        return ("llama",)
    if family.startswith(("qwen", "gptoss")):
        return ("chat", "completion")
    return ("completion",)


@dataclass
class Copy:
    load_started_at: datetime
    load_seconds: float
    first_success_at: Optional[datetime] = None
    released_at: Optional[datetime] = None
    billing: str = "first_success"  # see BILLING_MODES
    release_seconds: Optional[float] = None  # drawn for this copy (release jitter); None: the model's

    @property
    def ready_at(self) -> datetime:
        return self.load_started_at + timedelta(seconds=self.load_seconds)

    def billing_started_at(self, now: datetime) -> Optional[datetime]:
        """When this copy's billing started (None: not yet, or never)."""
        if self.billing == "load":
            start: Optional[datetime] = self.ready_at if self.ready_at <= (self.released_at or now) else None
        else:
            start = self.first_success_at
        return start if start is not None and start <= now else None  # (a held call is served later)

    def billed_minutes(self, now: datetime) -> int:
        start = self.billing_started_at(now)
        if start is None:
            return 0
        end = self.released_at or now
        windows = math.ceil((end - start).total_seconds() / WINDOW_SECONDS)
        # A window is billed whole from its first second, so a live copy bills at least one.
        return max(1, windows) * WINDOW_SECONDS // 60


@dataclass
class Model:
    arn: str
    name: str
    load: LoadTime
    release_seconds: float
    cmus: int
    architecture: str
    instruct_supported: bool
    created_at: datetime
    fault_rng: random.Random
    load_rng: random.Random
    release_rng: Optional[random.Random] = None
    release_jitter_seconds: float = 0.0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    slow_seconds: float = 0.0
    denied: bool = False
    model_error: bool = False
    cold_mode: str = "reject"
    hold_seconds: float = 300.0
    billing: str = "first_success"
    deleted: bool = False
    errors_given: int = 0
    last_activity: Optional[datetime] = None
    copies: list[Copy] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    lookups: list[dict[str, Any]] = field(default_factory=list)  # GetImportedModel requests

    @property
    def model_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]

    @property
    def accepts(self) -> tuple[str, ...]:
        return accepted_formats(self.architecture, self.created_at)

    @property
    def current(self) -> Optional[Copy]:
        return self.copies[-1] if self.copies and self.copies[-1].released_at is None else None

    def draw_load_seconds(self) -> float:
        load = self.load
        if isinstance(load, float):
            return load
        if load["kind"] == "lognormal":
            return load["median"] * math.exp(load["sigma"] * self.load_rng.gauss(0.0, 1.0))
        return self.load_rng.uniform(load["low"], load["high"])

    def draw_release_seconds(self) -> Optional[float]:
        """This copy's release time, when releases are jittered (None: the model's own)."""
        if not self.release_jitter_seconds or self.release_rng is None:
            return None
        jitter = self.release_jitter_seconds
        return max(1.0, self.release_seconds + self.release_rng.uniform(-jitter, jitter))

    def settle(self, now: datetime) -> None:
        """Release the current copy if it has idled out by ``now``."""
        copy = self.current
        if copy is None or copy.ready_at > now:
            return
        idle_from = max(copy.ready_at, self.last_activity or copy.ready_at)
        release_at = idle_from + timedelta(seconds=copy.release_seconds or self.release_seconds)
        if now >= release_at:
            copy.released_at = release_at

    def state(self, now: datetime) -> str:
        if self.deleted:
            return "deleted"
        copy = self.current
        if copy is None:
            return "cold"
        return "loaded" if copy.ready_at <= now else "loading"


@dataclass
class Answer:
    """What an invocation answers: status, headers and JSON body, once the simulator's clock
    reaches ``at`` (later than the call for a held one), then after ``delay_seconds``."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    at: Optional[datetime] = None


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "message": message}


def error_headers(code: str) -> dict[str, str]:
    # The header form AWS sends; botocore's rest-json parser prefers it over the body.
    return {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def request_format(body: Any) -> Optional[str]:
    """Which of the three request formats ``body`` is, or None."""
    if not isinstance(body, dict):
        return None

    def positive(key: str, required: bool) -> bool:
        value = body.get(key)
        if value is None:
            return not required
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    messages = body.get("messages")
    if messages is not None:
        ok = (isinstance(messages, list) and messages
              and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages))
        return "chat" if ok and positive("max_tokens", False) else None
    if isinstance(body.get("prompt"), str):
        if "max_gen_len" in body:
            return "llama" if positive("max_gen_len", True) else None
        return "completion" if positive("max_tokens", False) else None
    return None


def prompt_text(fmt: str, body: dict[str, Any]) -> str:
    if fmt != "chat":
        return body["prompt"]
    parts = []
    for m in body["messages"]:
        content = m.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(str(content or ""))
    return " ".join(parts)


def completion(fmt: str, body: dict[str, Any], model: Model, now: datetime) -> dict[str, Any]:
    prompt_tokens = count_tokens(prompt_text(fmt, body))
    if fmt == "llama":
        return {"generation": ".", "prompt_token_count": prompt_tokens,
                "generation_token_count": 1, "stop_reason": "length"}
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}
    common = {"created": int(now.timestamp()), "model": model.arn, "usage": usage}
    if fmt == "chat":
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", **common,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "."},
                             "finish_reason": "length"}]}
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", **common,
            "choices": [{"index": 0, "text": ".", "finish_reason": "length"}]}


class Simulator:
    """Imported models on a clock. Every public method is thread-safe.

    ``clock`` is a zero-argument callable returning an aware datetime (default: the real
    clock). Pass a :class:`ManualClock` or its ``now`` to allow ``set_clock``/``POST
    /_sim/clock``.

    ``auto_create``, a load time, makes the simulator play any imported model it is asked
    about: InvokeModel or GetImportedModel naming a well-formed ARN it has never seen
    registers that model (defaults otherwise) instead of answering 404, so a model
    registered only with keepwarm works locally. A model removed with ``remove_model``
    stays gone. Left None, unknown models are not found, as in AWS.
    """

    def __init__(self, clock: Optional[Clock] = None, seed: int = 0, auto_create: Optional[LoadTime] = None):
        self._clock: Clock = clock or real_clock
        owner = clock if isinstance(clock, ManualClock) else getattr(clock, "__self__", None)
        self.manual_clock: Optional[ManualClock] = owner if isinstance(owner, ManualClock) else None
        self.seed = seed
        self.auto_create = None if auto_create is None else check_load_time(auto_create)
        self._lock = threading.RLock()
        self._models: dict[str, Model] = {}  # by ARN
        self._calls: list[dict[str, Any]] = []
        self._last_now: Optional[datetime] = None

    # -- time ---------------------------------------------------------------------------
    def now(self) -> datetime:
        with self._lock:
            now = self._clock()
            if now.tzinfo is None:
                raise ValueError("the simulator's clock must return aware datetimes")
            now = now.astimezone(UTC)
            if self._last_now is not None and now < self._last_now:
                now = self._last_now
            self._last_now = now
            return now

    def set_clock(self, now: Optional[datetime] = None, advance_seconds: Optional[float] = None) -> datetime:
        if self.manual_clock is None:
            raise SimError(409, "ConflictException", "the simulator runs on the real clock")
        if (now is None) == (advance_seconds is None):
            raise SimError(400, "ValidationException", "give exactly one of now, advance_seconds")
        with self._lock:
            if now is not None:
                self.manual_clock.set(now)
            else:
                self.manual_clock.advance(float(advance_seconds))  # type: ignore[arg-type]
            return self.now()

    # -- administration -----------------------------------------------------------------
    def add_model(self, arn: str, load_seconds: LoadTime = 60.0, *, release_seconds: float = 900.0,
                  cmus: int = 1, architecture: str = "llama", name: Optional[str] = None,
                  instruct_supported: bool = True, imported_at: Union[datetime, str, None] = None,
                  cold_mode: str = "reject", hold_seconds: float = 300.0, seed: Optional[int] = None,
                  billing: str = "first_success", release_jitter_seconds: float = 0.0,
                  **faults: Any) -> dict[str, Any]:
        """Register an imported model (re-registering a deleted one starts it afresh).

        ``imported_at`` (default: now, a new import) is its creationTime, which with
        ``architecture`` decides the bodies it takes; ``cold_mode`` ``hold`` holds calls
        to a cold model up to ``hold_seconds`` instead of answering not ready at once;
        ``billing`` ``load`` bills each copy from the end of its load, not its first success;
        ``release_jitter_seconds`` draws each copy's release within that much of ``release_seconds``."""
        match = ARN_RE.match(arn)
        if not match:
            raise ValueError(f"not an imported-model ARN (12 lowercase alphanumerics at the end): {arn!r}")
        if not (isinstance(cmus, int) and cmus >= 1):
            raise ValueError("cmus must be a positive integer")
        if float(release_seconds) <= 0:
            raise ValueError("release_seconds must be > 0")
        if not 0 <= float(release_jitter_seconds) < float(release_seconds):
            raise ValueError("release_jitter_seconds must be >= 0 and below release_seconds")
        if cold_mode not in COLD_MODES:
            raise ValueError(f"cold_mode must be one of {', '.join(COLD_MODES)}, got {cold_mode!r}")
        if float(hold_seconds) <= 0:
            raise ValueError("hold_seconds must be > 0")
        if billing not in BILLING_MODES:
            raise ValueError(f"billing must be one of {', '.join(BILLING_MODES)}, got {billing!r}")
        imported = parse_iso(imported_at) if isinstance(imported_at, str) else imported_at
        if imported is not None and imported.tzinfo is None:
            raise ValueError("imported_at needs a time zone")
        try:
            load = check_load_time(load_seconds)
        except (KeyError, TypeError) as err:
            raise ValueError(f"bad load time {load_seconds!r}: {err}") from err
        checked = check_faults(faults)
        with self._lock:
            for other in self._models.values():
                if not other.deleted and other.model_id == match.group(4):
                    raise SimError(409, "ConflictException", f"model {other.arn} is already registered")
            base = f"{seed}" if seed is not None else f"{self.seed}:{arn}"
            model = Model(arn=arn, name=name or match.group(4), load=load,
                          release_seconds=float(release_seconds), cmus=cmus,
                          architecture=architecture, instruct_supported=instruct_supported,
                          created_at=(imported or self.now()).astimezone(UTC),
                          cold_mode=cold_mode, hold_seconds=float(hold_seconds), billing=billing,
                          fault_rng=random.Random(f"{base}:faults"),
                          load_rng=random.Random(f"{base}:load"), release_rng=random.Random(f"{base}:release"),
                          release_jitter_seconds=float(release_jitter_seconds), **checked)
            self._models[arn] = model
            return self._inspect(model)

    def set_faults(self, model: str, **faults: Any) -> dict[str, Any]:
        checked = check_faults(faults)
        with self._lock:
            found = self._find(model)
            for key, value in checked.items():
                setattr(found, key, value)
            return self._inspect(found)

    def set_load(self, model: str, load_seconds: LoadTime) -> dict[str, Any]:
        """Change how long the model's next loads take (a copy loading now keeps its own)."""
        load = check_load_time(load_seconds)
        with self._lock:
            found = self._find(model)
            found.load = load
            return self._inspect(found)

    def remove_model(self, model: str) -> None:
        """Delete a model: later calls get 404; its history stays visible to ``inspect``."""
        with self._lock:
            found = self._find(model)
            now = self.now()
            found.settle(now)
            if found.current is not None:
                found.current.released_at = now
            found.deleted = True

    def inspect(self, model: str) -> dict[str, Any]:
        with self._lock:
            return self._inspect(self._find(model, include_deleted=True))

    def models(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._inspect(m) for m in self._models.values()]

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._calls]

    def _find(self, ident: str, include_deleted: bool = False) -> Model:
        for m in self._models.values():
            if (include_deleted or not m.deleted) and ident in (m.arn, m.model_id, m.name):
                return m
        raise SimError(404, "ResourceNotFoundException", f"Model {ident} not found.")

    def _find_or_create(self, ident: str) -> Model:
        """``_find``, or with ``auto_create`` a new model for an ARN whose model id was never seen."""
        try:
            return self._find(ident)
        except SimError:
            match = ARN_RE.match(ident)
            if (self.auto_create is None or not match
                    or any(m.model_id == match.group(4) for m in self._models.values())):
                raise
            self.add_model(ident, self.auto_create)
            return self._models[ident]

    def _inspect(self, m: Model) -> dict[str, Any]:
        now = self.now()
        m.settle(now)
        copies = [{
            "load_started_at": iso(c.load_started_at),
            "load_seconds": round(c.load_seconds, 3),
            "loaded_at": iso(c.ready_at) if c.ready_at <= (c.released_at or now) else None,
            "first_success_at": iso(c.first_success_at),
            "billing_started_at": iso(c.billing_started_at(now)),
            "released_at": iso(c.released_at),
            "billed_minutes": c.billed_minutes(now),
        } for c in m.copies]
        billed = sum(c["billed_minutes"] for c in copies)
        return {
            "model_arn": m.arn, "model_id": m.model_id, "model_name": m.name,
            "architecture": m.architecture, "cmus": m.cmus, "load_seconds": m.load,
            "release_seconds": m.release_seconds, "release_jitter_seconds": m.release_jitter_seconds,
            "created_at": iso(m.created_at),
            "accepts": list(m.accepts), "cold_mode": m.cold_mode, "hold_seconds": m.hold_seconds,
            "billing": m.billing,
            "faults": {k: getattr(m, k) for k in FAULT_KEYS},
            "state": m.state(now), "now": iso(now),
            "calls": [dict(c) for c in m.calls],
            "lookups": [dict(x) for x in m.lookups],
            "copies": copies, "billed_minutes": billed, "billed_cmu_minutes": billed * m.cmus,
        }

    # -- control plane ------------------------------------------------------------------
    def get_imported_model(self, ident: str, access_key: Optional[str] = None) -> dict[str, Any]:
        """GetImportedModel's response body."""
        with self._lock:
            m = self._find_or_create(ident)
            m.lookups.append({"at": iso(self.now()), "access_key": access_key})
            job_id = hashlib.sha256(m.arn.encode()).hexdigest()[:12]
            prefix = m.arn.split(":imported-model/")[0]
            return {
                "modelArn": m.arn, "modelName": m.name,
                "jobName": f"import-{m.name}", "jobArn": f"{prefix}:model-import-job/{job_id}",
                "modelDataSource": {"s3DataSource": {"s3Uri": f"s3://keepwarm-sim-models/{m.name}/"}},
                "creationTime": iso(m.created_at), "modelArchitecture": m.architecture,
                "instructSupported": m.instruct_supported,
                "customModelUnits": {"customModelUnitsPerModelCopy": m.cmus, "customModelUnitsVersion": "1.0"},
            }

    # -- runtime ------------------------------------------------------------------------
    def invoke(self, ident: str, raw_body: bytes, access_key: Optional[str] = None) -> Answer:
        """InvokeModel: decide the answer and record the call."""
        with self._lock:
            now = self.now()
            try:
                model: Optional[Model] = self._find_or_create(ident)
            except SimError:
                model = None
            outcome, fmt, body, answer_at = self._decide(model, raw_body, now)
            status, code = OUTCOMES[outcome]
            request_id = str(uuid.uuid4())
            headers = {"x-amzn-RequestId": request_id}
            message = None
            if code is None:
                assert model is not None and fmt is not None
                answer = completion(fmt, body, model, answer_at)
                headers.update({"X-Amzn-Bedrock-Input-Token-Count": str(count_tokens(prompt_text(fmt, body))),
                                "X-Amzn-Bedrock-Output-Token-Count": "1"})
            else:
                message = self._message(outcome, ident, model)
                answer = error_body(code, message)
                if outcome == "model_error":
                    assert model is not None
                    answer.update(originalStatusCode=500, resourceName=model.arn)
                headers.update(error_headers(code))
            call = {"at": iso(now), "answered_at": iso(answer_at), "model": ident,
                    "model_arn": model.arn if model else None,
                    "outcome": outcome, "status": status, "code": code, "message": message,
                    "format": fmt, "slow_seconds": model.slow_seconds if model else 0.0,
                    "request_id": request_id, "access_key": access_key}
            self._calls.append(call)
            if model is not None:
                model.calls.append(call)
            return Answer(status, answer, headers, model.slow_seconds if model else 0.0,
                          answer_at if answer_at > now else None)

    def _decide(self, model: Optional[Model], raw_body: bytes,
                now: datetime) -> tuple[str, Optional[str], Any, datetime]:
        """The outcome of a call arriving ``now``, and when it is answered."""
        if model is None:
            return "not_found", None, None, now
        try:
            body = json.loads(raw_body or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        fmt = request_format(body)
        if model.denied:
            return "denied", fmt, body, now
        if fmt not in model.accepts:
            return "invalid", None, body, now
        # Both draws are made on every call, so changing one rate leaves the other's sequence alone.
        throttle_draw, error_draw = model.fault_rng.random(), model.fault_rng.random()
        if throttle_draw < model.throttle_rate:
            return "throttled", fmt, body, now
        if error_draw < model.error_rate:
            model.errors_given += 1
            return ("error" if model.errors_given % 2 else "unavailable"), fmt, body, now
        model.settle(now)
        copy = model.current
        if copy is None:
            copy = Copy(now, model.draw_load_seconds(), billing=model.billing,
                        release_seconds=model.draw_release_seconds())
            model.copies.append(copy)
            if model.cold_mode != "hold":
                return "not_ready", fmt, body, now
        answer_at = now
        if copy.ready_at > now:
            held_until = now + timedelta(seconds=model.hold_seconds if model.cold_mode == "hold" else 0)
            if copy.ready_at > held_until:
                return "not_ready", fmt, body, held_until
            answer_at = copy.ready_at
        model.last_activity = max(answer_at, model.last_activity or answer_at)
        if model.model_error:
            return "model_error", fmt, body, answer_at
        if copy.first_success_at is None:
            copy.first_success_at = answer_at
        return "ready", fmt, body, answer_at

    def wait_for(self, at: datetime, stopping: threading.Event) -> bool:
        """Wait until the simulator's clock reaches ``at`` (a :class:`ManualClock` must be
        moved by someone else); True if ``stopping`` was set first."""
        while True:
            remaining = (at - self.now()).total_seconds()
            if remaining <= 0:
                return False
            if stopping.wait(min(remaining, 0.02)):
                return True

    @staticmethod
    def _message(outcome: str, ident: str, model: Optional[Model]) -> str:
        if outcome == "not_ready":
            return NOT_READY_MESSAGE
        if outcome == "not_found":
            return "The provided model identifier is invalid or the model does not exist."
        if outcome == "denied":
            return ("User: arn:aws:sts::123456789012:assumed-role/sim/keepwarm is not authorized to "
                    f"perform: bedrock:InvokeModel on resource: {model.arn if model else ident}")
        if outcome == "invalid":
            shapes = " or ".join(BODY_SHAPES[f] for f in (model.accepts if model else BODY_SHAPES))
            return f"Malformed input request: expected {shapes}, please reformat your input and try again."
        if outcome == "model_error":
            return "Received server error (500) from model. See the model's logs for more information."
        if outcome == "throttled":
            return "Too many requests, please wait before trying again."
        if outcome == "error":
            return "The server encountered an internal error while processing the request."
        return "The service is temporarily unable to handle the request. Try again later."

