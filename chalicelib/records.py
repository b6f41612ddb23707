"""Records the service stores: a model's configuration and its live state.

Each record serialises itself (``to_item`` / ``from_item``) to plain JSON-compatible
values; the stores add their own keys. Datetimes are aware UTC in memory and ISO 8601
strings (``2026-03-09T13:57:00Z``) on the wire and in DynamoDB, so string order is time order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal, Optional

from chalicelib.leads import Prior

UTC = timezone.utc

# botocore's ImportedModelIdentifier pattern, narrowed: the region must look like an AWS
# region, because it chooses the bedrock-runtime endpoint the worker talks to. Part by
# part, so that an error can say which part is wrong. Patterns end in \Z, not $: "$" also
# matches before a final newline, and "name\n" is not a name. Partition and region are
# bounded like AWS's own (aws-us-gov, us-isob-east-1, ap-southeast-2): the ARN is a DynamoDB
# key (at most 2,048 bytes), and botocore refuses a region of more than 63 characters.
ARN_PARTS = {
    "partition": r"aws(?:-[a-z]{1,10}){0,3}",
    "region": r"[a-z]{2}(?:-[a-z]{1,12}){1,3}-[0-9]{1,2}",
    "account": r"[0-9]{12}",
    "model_id": r"[a-z0-9]{12}",
}
ARN_RE = re.compile(
    rf"^arn:(?P<partition>{ARN_PARTS['partition']}):bedrock:(?P<region>{ARN_PARTS['region']}):"
    rf"(?P<account>{ARN_PARTS['account']}):imported-model/(?P<model_id>{ARN_PARTS['model_id']})\Z"
)
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})\Z")
# An IAM role's name after "role/": a path of /-separated names, then the name.
ROLE_NAME = r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}"

Status = Literal["cold", "warming", "warm", "error"]
RequestFormat = Literal["auto", "chat", "completion", "llama", "custom"]
REQUEST_FORMATS: tuple[str, ...] = ("auto", "chat", "completion", "llama", "custom")

# How many recent cold-start durations a model keeps for its statistics.
COLD_START_SAMPLES = 50
# How many window readiness records a model's state keeps (what GET /models/{model} shows).
READINESS_KEPT = 14
# How many recent warm answer times (a loaded copy's one-token answer) a model keeps.
WARM_LATENCY_SAMPLES = 20


def require_aware(at: datetime, what: str = "datetime") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at!r}")
    return at


def iso(at: Optional[datetime]) -> Optional[str]:
    if at is None:
        return None
    require_aware(at)
    text = at.astimezone(UTC).isoformat(timespec="milliseconds" if at.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_iso(text: Optional[str]) -> Optional[datetime]:
    """Parse an ISO 8601 instant; naive text is rejected rather than guessed."""
    if text is None:
        return None
    at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return require_aware(at, f"instant {text!r}").astimezone(UTC)


def _float_or_none(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def _arn_part(model_arn: str, part: str) -> str:
    match = ARN_RE.match(model_arn)
    if not match:
        raise ValueError(f"not an imported-model ARN: {model_arn!r}")
    return match.group(part)


def arn_region(model_arn: str) -> str:
    return _arn_part(model_arn, "region")


def arn_account(model_arn: str) -> str:
    return _arn_part(model_arn, "account")


def arn_partition(model_arn: str) -> str:
    return _arn_part(model_arn, "partition")


@dataclass(frozen=True)
class Role:
    """An IAM role keepwarm assumes to reach a model in another account."""

    arn: str
    external_id: Optional[str] = None


@dataclass(frozen=True)
class ModelConfig:
    name: str
    model_arn: str
    timezone: str
    windows: list[dict[str, Any]]
    keepalive_minutes: int = 14
    release_minutes: int = 15
    enabled: bool = True
    # "auto": chosen from what GetImportedModel says, and learned from the model's answers.
    request_format: str = "auto"
    request_body: Optional[dict[str, Any]] = None
    # Local dates (YYYY-MM-DD) with no windows, and an optional public-holiday calendar
    # from the holidays package: {"country": "GB", "subdiv": "ENG"}.
    exclude_dates: tuple[str, ...] = ()
    holidays: Optional[dict[str, Any]] = None
    # CMUs per copy for the cost estimate; None: ask GetImportedModel.
    custom_model_units: Optional[int] = None
    # The role (and its external id) through which the model is read and called; None:
    # keepwarm's own roles.
    role_arn: Optional[str] = None
    external_id: Optional[str] = None
    # The load starts early and the first call that can succeed (which starts the bill)
    # is held back until just before the window opens (see planner.ready_check_at).
    billing_aware_prewarm: bool = True
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None

    @property
    def region(self) -> str:
        return arn_region(self.model_arn)

    @property
    def role(self) -> Optional[Role]:
        return Role(self.role_arn, self.external_id) if self.role_arn else None

    def to_item(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model_arn": self.model_arn,
            "timezone": self.timezone,
            "windows": self.windows,
            "keepalive_minutes": self.keepalive_minutes,
            "release_minutes": self.release_minutes,
            "enabled": self.enabled,
            "request_format": self.request_format,
            "request_body": self.request_body,
            "exclude_dates": list(self.exclude_dates),
            "holidays": self.holidays,
            "custom_model_units": self.custom_model_units,
            "role_arn": self.role_arn,
            "external_id": self.external_id,
            "billing_aware_prewarm": self.billing_aware_prewarm,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "ModelConfig":
        return cls(
            name=item["name"],
            model_arn=item["model_arn"],
            timezone=item["timezone"],
            windows=list(item["windows"]),
            keepalive_minutes=int(item["keepalive_minutes"]),
            release_minutes=int(item.get("release_minutes", 15)),
            enabled=bool(item["enabled"]),
            request_format=item.get("request_format", "chat"),
            request_body=item.get("request_body"),
            exclude_dates=tuple(item.get("exclude_dates") or ()),
            holidays=item.get("holidays"),
            custom_model_units=item.get("custom_model_units"),
            role_arn=item.get("role_arn"),
            external_id=item.get("external_id"),
            billing_aware_prewarm=bool(item.get("billing_aware_prewarm", True)),
            created_at=parse_iso(item.get("created_at")),
            updated_at=parse_iso(item.get("updated_at")),
        )


@dataclass(frozen=True)
class Pending:
    """An action claimed by a tick (or re-enqueued by the worker) and not yet reported."""

    id: str
    kind: str
    at: datetime
    attempt: int = 0

    def to_item(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "at": iso(self.at), "attempt": self.attempt}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Pending":
        return cls(id=item["id"], kind=item["kind"], at=parse_iso(item["at"]),  # type: ignore[arg-type]
                   attempt=int(item.get("attempt", 0)))


@dataclass(frozen=True)
class Lease:
    """A batch job's request: keep the model warm from ``created_at`` to ``expires_at``."""

    id: str
    created_at: datetime
    expires_at: datetime
    holder: Optional[str] = None
    # Whether its end was told (a lease_expired event). An ended lease stays for a while
    # (chalicelib.api.LEASE_MEMORY), so that asking about it says when and how it ended,
    # and a lease that never existed can be told from one that did.
    expiry_told: bool = False
    # Ended early by its holder: expires_at is then when it was released.
    released: bool = False

    def to_item(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": iso(self.created_at),
                "expires_at": iso(self.expires_at), "holder": self.holder, "expiry_told": self.expiry_told,
                "released": self.released}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Lease":
        return cls(item["id"], parse_iso(item["created_at"]), parse_iso(item["expires_at"]),  # type: ignore[arg-type]
                   item.get("holder"), bool(item.get("expiry_told", False)), bool(item.get("released", False)))


@dataclass(frozen=True)
class Override:
    """An operator's "warm" or "cold" until ``until``; then the schedule resumes."""

    state: str
    until: datetime
    set_at: datetime

    def to_item(self) -> dict[str, Any]:
        return {"state": self.state, "until": iso(self.until), "set_at": iso(self.set_at)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Override":
        return cls(item["state"], parse_iso(item["until"]), parse_iso(item["set_at"]))  # type: ignore[arg-type]


# -- a probe's record (chalicelib.probe plans and reads it) --------------------------------------
# A probe's status.
RUNNING, DONE, ABORTED = "running", "done", "aborted"
# Phases of a running probe: ``load`` gets a copy up, ``sample`` times warm answers,
# ``gap`` leaves the copy idle and calls once, ``final`` times the load the cold call started.
LOAD, SAMPLE, GAP, FINAL = "load", "sample", "gap", "final"


@dataclass(frozen=True)
class Step:
    """One answer the probe read (a poll of a load still running is only counted)."""

    at: datetime  # when the call went out
    phase: str
    outcome: str
    code: Optional[str]
    latency_ms: int
    found: str  # warm | cold | loading | none
    gap_minutes: Optional[float] = None  # how long the copy had idled, for a gap's call

    def to_item(self) -> dict[str, Any]:
        return {"at": iso(self.at), "phase": self.phase, "outcome": self.outcome, "code": self.code,
                "latency_ms": self.latency_ms, "found": self.found, "gap_minutes": self.gap_minutes}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Step":
        gap = item.get("gap_minutes")
        return cls(parse_iso(item["at"]), item["phase"], item["outcome"], item.get("code"),  # type: ignore[arg-type]
                   int(item.get("latency_ms", 0)), item["found"], float(gap) if gap is not None else None)


@dataclass(frozen=True)
class Probe:
    status: str  # running | done | aborted
    started_at: datetime
    gaps_minutes: tuple[int, ...]
    phase: str = LOAD
    step: int = 0  # the gap being tried
    last_warm_at: Optional[datetime] = None  # the last answer from a loaded copy: a gap runs from here
    cold_since: Optional[datetime] = None  # the first call of the load being timed
    steps: tuple[Step, ...] = ()
    polls: int = 0
    warm_latencies_ms: tuple[int, ...] = ()
    loads_seconds: tuple[float, ...] = ()
    cold_answer: Optional[str] = None  # "429" | "held"
    held_minutes: Optional[float] = None  # the longest idle a copy survived
    released_minutes: Optional[float] = None  # the idle after which a copy was gone
    finished_at: Optional[datetime] = None
    reason: Optional[str] = None  # why it ended (aborted) or what it concluded (done)

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def to_item(self) -> dict[str, Any]:
        return {
            "status": self.status, "started_at": iso(self.started_at), "gaps_minutes": list(self.gaps_minutes),
            "phase": self.phase, "step": self.step, "last_warm_at": iso(self.last_warm_at),
            "cold_since": iso(self.cold_since), "steps": [s.to_item() for s in self.steps], "polls": self.polls,
            "warm_latencies_ms": list(self.warm_latencies_ms), "loads_seconds": list(self.loads_seconds),
            "cold_answer": self.cold_answer, "held_minutes": self.held_minutes,
            "released_minutes": self.released_minutes, "finished_at": iso(self.finished_at), "reason": self.reason,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Probe":
        def number(key: str) -> Optional[float]:
            value = item.get(key)
            return float(value) if value is not None else None

        return cls(
            status=item["status"], started_at=parse_iso(item["started_at"]),  # type: ignore[arg-type]
            gaps_minutes=tuple(int(g) for g in item["gaps_minutes"]), phase=item.get("phase", LOAD),
            step=int(item.get("step", 0)), last_warm_at=parse_iso(item.get("last_warm_at")),
            cold_since=parse_iso(item.get("cold_since")),
            steps=tuple(Step.from_item(s) for s in item.get("steps") or ()), polls=int(item.get("polls", 0)),
            warm_latencies_ms=tuple(int(x) for x in item.get("warm_latencies_ms") or ()),
            loads_seconds=tuple(float(x) for x in item.get("loads_seconds") or ()),
            cold_answer=item.get("cold_answer"), held_minutes=number("held_minutes"),
            released_minutes=number("released_minutes"), finished_at=parse_iso(item.get("finished_at")),
            reason=item.get("reason"),
        )


@dataclass(frozen=True)
class ImportedModel:
    """What GetImportedModel says about a model, as far as keepwarm uses it; a field
    Bedrock left out is None. The request format is chosen from the first three."""

    architecture: Optional[str] = None
    created_at: Optional[datetime] = None
    instruct_supported: Optional[bool] = None
    custom_model_units: Optional[int] = None  # per copy

    def to_item(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "created_at": iso(self.created_at),
                "instruct_supported": self.instruct_supported, "custom_model_units": self.custom_model_units}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "ImportedModel":
        units = item.get("custom_model_units")
        return cls(item.get("architecture"), parse_iso(item.get("created_at")), item.get("instruct_supported"),
                   int(units) if units is not None else None)


@dataclass(frozen=True)
class ModelState:
    status: Status = "cold"
    last_success_at: Optional[datetime] = None
    last_call_at: Optional[datetime] = None
    # First "not ready" answer of the cold start in progress: the cold start's start.
    warming_since: Optional[datetime] = None
    error: Optional[str] = None
    # "fatal": denied / gone / invalid, not retried until the next window or a config
    # change; "transient": retried at the next keep-alive slot.
    error_kind: Optional[str] = None
    error_at: Optional[datetime] = None
    pending: Optional[Pending] = None
    next_due_at: Optional[datetime] = None
    # Cold starts measured to a poll interval (seconds), and those only bounded (the
    # ready-check was held back, or a poll was lost): the copy was ready after ``low``
    # and by ``high`` seconds. The recent ones; cold_start_count counts them all.
    cold_starts: tuple[float, ...] = ()
    cold_start_bounds: tuple[tuple[float, float], ...] = ()
    # Cold starts timed to a poll interval but across a held-back ready-check that reached
    # the load unpolled: (seconds, the unpolled wait in seconds). Exact while the release
    # in force allows that wait; once a shorter one is learned, the trigger's copy may have
    # loaded and gone unseen, and each is only a bound (chalicelib.planner.load_samples).
    cold_starts_unpolled: tuple[tuple[float, float], ...] = ()
    cold_start_count: int = 0
    # What the fleet (or the operator's default) says about load times, as of the last
    # time the model was saved with a cold start: the start of its own learning.
    lead_prior: Optional[Prior] = None
    # While a billing-aware pre-warm's load runs: when the held-back ready-check goes out.
    ready_check_at: Optional[datetime] = None
    # Set when that check found the model still not ready after the unpolled wait: the
    # load is proven to be warming_since's only until this instant (the trigger's answer),
    # since its copy may have loaded, idled past an unknown release unseen, and be loading
    # again; the cold start then ends as a bound, not an exact sample.
    warming_proven_until: Optional[datetime] = None
    # Set when that check found it still loading after its unpolled wait: the wait, in
    # seconds. An exact cold start is recorded with it (``cold_starts_unpolled``), and a
    # load is judged stuck (``max_cold_start_seconds``) only by the time it was watched.
    warming_unpolled_seconds: Optional[float] = None
    leases: tuple[Lease, ...] = ()
    override: Optional[Override] = None
    # Learned from keep-alives that found the model cold: the interval and release time
    # in force when shorter than configured, and why.
    learned_keepalive_minutes: Optional[int] = None
    learned_release_minutes: Optional[int] = None
    keepalive_reason: Optional[str] = None
    # The shortest idle gap (minutes) after which a copy was found cold, and the longest
    # after which one still answered warm: proven safe (planner.learn_from_warm).
    release_found_cold_minutes: Optional[float] = None
    release_proven_minutes: Optional[float] = None
    # The shortest idle gap (minutes) after which any model of its region was found cold,
    # as last read from the store: the prior of a model that learned nothing itself.
    region_release_minutes: Optional[float] = None
    # The operator set keepalive_minutes or release_minutes: the region's prior gives way.
    region_prior_waived: bool = False
    # A loaded copy's recent one-token answer times (ms): what "warm" answers look like.
    warm_latencies_ms: tuple[int, ...] = ()
    # An error is only cleared by an answer: a lease, a PUT or a warm override on a model
    # in error asks for a verification call at this instant instead.
    verify_requested_at: Optional[datetime] = None
    # GetImportedModel's answer when the model was last verified (None: unverified, and
    # unverified_reason says why: the control plane did not answer).
    imported: Optional[ImportedModel] = None
    verified_at: Optional[datetime] = None
    unverified_reason: Optional[str] = None
    # With request_format auto: the body the model accepted, once one was, and those it
    # refused with ValidationException before that.
    format_confirmed: Optional[str] = None
    formats_refused: tuple[str, ...] = ()
    # The first success of the copy keepwarm holds now (or held last): where its warm span,
    # which lasts until the release time after the last success, starts.
    warm_since: Optional[datetime] = None
    # The readiness of the model's latest window openings (chalicelib.readiness), oldest
    # first, at most READINESS_KEPT; and the close up to which windows have been judged.
    readiness: tuple["WindowRecord", ...] = ()
    readiness_until: Optional[datetime] = None
    # A measurement of the platform (chalicelib.probe): running, or the last one's result.
    probe: Optional["Probe"] = None
    version: int = 0

    def with_cold_start(self, seconds: float, after: Optional[float] = None,
                        unpolled: Optional[float] = None) -> "ModelState":
        """Record a cold start: exact, or (with ``after``) only known to have ended after
        ``after`` seconds and by ``seconds``; exact across an unpolled wait of ``unpolled``
        seconds (see ``cold_starts_unpolled``)."""
        if after is None and unpolled is not None:
            timed = (self.cold_starts_unpolled + ((round(seconds, 3), round(unpolled, 3)),))[-COLD_START_SAMPLES:]
            return replace(self, cold_starts_unpolled=timed, cold_start_count=self.cold_start_count + 1)
        if after is None:
            samples = (self.cold_starts + (round(seconds, 3),))[-COLD_START_SAMPLES:]
            return replace(self, cold_starts=samples, cold_start_count=self.cold_start_count + 1)
        bounds = (self.cold_start_bounds + ((round(after, 3), round(seconds, 3)),))[-COLD_START_SAMPLES:]
        return replace(self, cold_start_bounds=bounds, cold_start_count=self.cold_start_count + 1)

    def to_item(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "last_success_at": iso(self.last_success_at),
            "last_call_at": iso(self.last_call_at),
            "warming_since": iso(self.warming_since),
            "error": self.error,
            "error_kind": self.error_kind,
            "error_at": iso(self.error_at),
            "pending": self.pending.to_item() if self.pending else None,
            "next_due_at": iso(self.next_due_at),
            "cold_starts": list(self.cold_starts),
            "cold_start_bounds": [list(b) for b in self.cold_start_bounds],
            "cold_starts_unpolled": [list(u) for u in self.cold_starts_unpolled],
            "cold_start_count": self.cold_start_count,
            "lead_prior": self.lead_prior.to_item() if self.lead_prior else None,
            "ready_check_at": iso(self.ready_check_at),
            "warming_proven_until": iso(self.warming_proven_until),
            "warming_unpolled_seconds": self.warming_unpolled_seconds,
            "leases": [lease.to_item() for lease in self.leases],
            "override": self.override.to_item() if self.override else None,
            "learned_keepalive_minutes": self.learned_keepalive_minutes,
            "learned_release_minutes": self.learned_release_minutes,
            "keepalive_reason": self.keepalive_reason,
            "release_found_cold_minutes": self.release_found_cold_minutes,
            "release_proven_minutes": self.release_proven_minutes,
            "region_release_minutes": self.region_release_minutes,
            "region_prior_waived": self.region_prior_waived,
            "warm_latencies_ms": list(self.warm_latencies_ms),
            "verify_requested_at": iso(self.verify_requested_at),
            "imported": self.imported.to_item() if self.imported else None,
            "verified_at": iso(self.verified_at),
            "unverified_reason": self.unverified_reason,
            "format_confirmed": self.format_confirmed,
            "formats_refused": list(self.formats_refused),
            "warm_since": iso(self.warm_since),
            "readiness": [record.to_item() for record in self.readiness],
            "readiness_until": iso(self.readiness_until),
            "probe": self.probe.to_item() if self.probe else None,
            "version": self.version,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "ModelState":
        pending = item.get("pending")
        return cls(
            status=item.get("status", "cold"),
            last_success_at=parse_iso(item.get("last_success_at")),
            last_call_at=parse_iso(item.get("last_call_at")),
            warming_since=parse_iso(item.get("warming_since")),
            error=item.get("error"),
            error_kind=item.get("error_kind"),
            error_at=parse_iso(item.get("error_at")),
            pending=Pending.from_item(pending) if pending else None,
            next_due_at=parse_iso(item.get("next_due_at")),
            cold_starts=tuple(float(s) for s in item.get("cold_starts") or ()),
            cold_start_bounds=tuple((float(low), float(high)) for low, high in item.get("cold_start_bounds") or ()),
            cold_starts_unpolled=tuple((float(seconds), float(wait))
                                       for seconds, wait in item.get("cold_starts_unpolled") or ()),
            cold_start_count=int(item.get("cold_start_count", 0)),
            lead_prior=Prior.from_item(item["lead_prior"]) if item.get("lead_prior") else None,
            ready_check_at=parse_iso(item.get("ready_check_at")),
            warming_proven_until=parse_iso(item.get("warming_proven_until")),
            warming_unpolled_seconds=(float(item["warming_unpolled_seconds"])
                                      if item.get("warming_unpolled_seconds") is not None else None),
            leases=tuple(Lease.from_item(x) for x in item.get("leases") or ()),
            override=Override.from_item(item["override"]) if item.get("override") else None,
            learned_keepalive_minutes=item.get("learned_keepalive_minutes"),
            learned_release_minutes=item.get("learned_release_minutes"),
            keepalive_reason=item.get("keepalive_reason"),
            release_found_cold_minutes=_float_or_none(item.get("release_found_cold_minutes")),
            release_proven_minutes=_float_or_none(item.get("release_proven_minutes")),
            region_release_minutes=_float_or_none(item.get("region_release_minutes")),
            region_prior_waived=bool(item.get("region_prior_waived", False)),
            warm_latencies_ms=tuple(int(x) for x in item.get("warm_latencies_ms") or ()),
            verify_requested_at=parse_iso(item.get("verify_requested_at")),
            imported=ImportedModel.from_item(item["imported"]) if item.get("imported") else None,
            verified_at=parse_iso(item.get("verified_at")),
            unverified_reason=item.get("unverified_reason"),
            format_confirmed=item.get("format_confirmed"),
            formats_refused=tuple(item.get("formats_refused") or ()),
            warm_since=parse_iso(item.get("warm_since")),
            readiness=tuple(WindowRecord.from_item(r) for r in item.get("readiness") or ()),
            readiness_until=parse_iso(item.get("readiness_until")),
            probe=Probe.from_item(item["probe"]) if item.get("probe") else None,
            version=int(item.get("version", 0)),
        )


@dataclass(frozen=True)
class Model:
    config: ModelConfig
    state: ModelState

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def incarnation(self) -> Optional[str]:
        """Which registration under this name this is: the instant it was registered. Its
        events and warm spans carry it, so that what a deleted model's late writers (a
        request or a call still running when it was deleted) leave under the name is never
        read as the history of a model registered under it again."""
        return iso(self.config.created_at)


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_item(self) -> dict[str, Any]:
        return {"at": iso(self.at), "kind": self.kind, **self.detail}


def expire_leases(model: Model, at: datetime) -> tuple[Model, list[Event]]:
    """A ``lease_expired`` event for each lease that ended by ``at`` and was not told yet
    (a batch job's lease running out is a change its team may want told), and the model
    with those leases marked told."""
    ended = [lease for lease in model.state.leases if lease.expires_at <= at and not lease.expiry_told]
    if not ended:
        return model, []
    leases = tuple(replace(lease, expiry_told=True) if lease in ended else lease for lease in model.state.leases)
    events = [Event(lease.expires_at, "lease_expired", {"lease": lease.id, "holder": lease.holder})
              for lease in ended]
    return replace(model, state=replace(model.state, leases=leases)), events


@dataclass(frozen=True)
class WarmSpan:
    """A copy keepwarm held: from its first success to its assumed release (the release
    time after its last success). What Bedrock bills, as keepwarm saw it."""

    start: datetime
    end: datetime

    def to_item(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "WarmSpan":
        return cls(parse_iso(item["start"]), parse_iso(item["end"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class WindowRecord:
    """How ready one opening of a model's schedule window was, from the evidence of its
    calls (chalicelib.readiness computes it)."""

    window_open: datetime
    window_close: datetime
    ready_at_open: bool
    late_seconds: Optional[float]  # 0 when ready at the open; None: never verified warm
    verified_warm_minutes: float
    unexpected_cold: int
    cold_starts: int

    @property
    def minutes(self) -> float:
        return (self.window_close - self.window_open).total_seconds() / 60

    @property
    def verified_share(self) -> float:
        return round(min(1.0, self.verified_warm_minutes / self.minutes), 4) if self.minutes > 0 else 0.0

    def to_view(self) -> dict[str, Any]:
        """The record as the API shows it and its event carries it."""
        return {"window_open": iso(self.window_open), "window_close": iso(self.window_close),
                "ready_at_open": self.ready_at_open, "late_seconds": self.late_seconds,
                "verified_warm_minutes": self.verified_warm_minutes, "verified_share": self.verified_share,
                "unexpected_cold": self.unexpected_cold, "cold_starts": self.cold_starts}

    def to_item(self) -> list[Any]:
        # A list, not a map: the state is rewritten at every call, and fourteen of these
        # ride along; as a list each is about a third the bytes.
        return [iso(self.window_open), iso(self.window_close), self.ready_at_open, self.late_seconds,
                self.verified_warm_minutes, self.unexpected_cold, self.cold_starts]

    @classmethod
    def from_item(cls, item: list[Any]) -> "WindowRecord":
        opened, closed, ready, late, verified, unexpected, cold = item
        return cls(parse_iso(opened), parse_iso(closed), bool(ready),  # type: ignore[arg-type]
                   None if late is None else float(late), float(verified), int(unexpected), int(cold))
