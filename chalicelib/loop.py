"""Doing: the tick (claim due calls, enqueue them) and the worker (make a call, record it).

Both are at-least-once consumers. Every state change is a conditional write on the model's
version, and every queued call carries the id of the claim that sent it: a duplicate tick
loses the claim race, and a duplicate, late or superseded message finds a different claim
and is dropped without calling. The worst a duplicate costs is one extra call, when two
copies of one message run at the very same moment. The tick's threads, claiming different
models, change none of this: each claim is still one conditional write.
"""
from __future__ import annotations

import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Callable, Iterable, Iterator, Optional, Protocol, Sequence

from chalicelib import probe as probing
from chalicelib import readiness
from chalicelib.answers import FATAL, MODEL_ERROR, READY, TRANSIENT, CallResult
from chalicelib.bedrock import ControlPlaneError, format_in_use, next_format
from chalicelib.budget import budget
from chalicelib.logs import log_event
from chalicelib.planner import (
    PLANNING_ERRORS,
    Decision,
    apply_outcome,
    drop_claim,
    fleet_prior,
    load_groups,
    new_action_id,
    next_call,
    wanted,
    with_next_due,
)
from chalicelib.queue import SEND_BATCH, WorkMessage, WorkQueue, delay_until
from chalicelib.records import (
    Event,
    ImportedModel,
    Model,
    ModelConfig,
    ModelState,
    Pending,
    expire_leases,
    iso,
    require_aware,
)
from chalicelib.settings import Settings
from chalicelib.storage import StateConflict, Store
from chalicelib.telemetry import Journal

Clock = Callable[[], datetime]

# The tick runs every minute and enqueues everything due before the next one.
TICK_HORIZON = timedelta(seconds=60)
SAVE_TRIES = 3


# A model whose planning failed is tried again after this (a PUT re-plans it at once).
PLANNING_RETRY = timedelta(hours=1)


def set_planning_error(journal: Journal, model: Model, err: BaseException, now: datetime,
                       settings: Settings) -> None:
    """Put a model whose planning failed in ``error`` with the reason, without planning it
    (that is what failed): it is looked at again after PLANNING_RETRY. Best effort: a
    model that changed meanwhile keeps its newer state."""
    reason = f"planning failed ({type(err).__name__}: {str(err)[:300]}); fix the schedule with a PUT"
    state = replace(model.state, status="error", error=reason, error_kind="planning", error_at=now,
                    pending=None, warming_since=None, next_due_at=now + PLANNING_RETRY)
    try:
        saved = journal.store.save(replace(model, state=state), model.state.version)
    except StateConflict:
        return
    journal.record(saved, [Event(now, "error", {"reason": reason})])


class InvokerLike(Protocol):
    def invoke(self, config: ModelConfig, request_format: str) -> CallResult: ...


class ControlPlaneLike(Protocol):
    def describe(self, config: ModelConfig) -> ImportedModel:
        """GetImportedModel's answer; raises chalicelib.bedrock.ControlPlaneError."""


@dataclass
class TickReport:
    due: int = 0
    enqueued: int = 0
    rescheduled: int = 0
    conflicts: int = 0
    expired_claims: int = 0
    failed: int = 0
    # Due, but not claimed: the tick's time was up, and the next tick takes them.
    left: int = 0

    def add(self, other: "TickReport") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True)
class Claim:
    """A call claimed in the store, to be queued; ``before`` is what undoing it restores."""

    before: Model
    saved: Model
    pending: Pending


def _chunks(items: Iterable[Model], size: int) -> Iterator[list[Model]]:
    chunk: list[Model] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Ticker:
    def __init__(self, store: Store, queue: WorkQueue, settings: Settings, clock: Clock,
                 journal: Optional[Journal] = None, timer: Callable[[], float] = time.monotonic):
        self.store, self.queue, self.settings, self.clock = store, queue, settings, clock
        self.journal = journal or Journal(store, settings)
        # Real elapsed seconds, for the tick's own deadline (``clock`` may be simulated).
        self.timer = timer

    def run(self, now: datetime) -> TickReport:
        """Claim and enqueue every call due up to the next tick (``now`` + one minute).

        ``now`` is the scheduled time of the tick (the event's), so a replayed event plans
        the same; the queue delay is measured on the real clock so each call fires on its
        second however late this Lambda started.

        Each claim waits on a DynamoDB round trip, so claims run on ``tick_concurrency``
        threads, ten models to a task, and each task queues its ten calls with one
        SendMessageBatch. Earliest calls go first; ``tick_claim_seconds`` after it started
        the tick stops claiming and leaves the rest (``left``) to the next tick, rather
        than running into its Lambda's timeout with claims written and calls unsent."""
        require_aware(now, "now")
        stop_at = self.timer() + self.settings.tick_claim_seconds
        report = TickReport()
        with ThreadPoolExecutor(self.settings.tick_concurrency, thread_name_prefix="tick") as pool:
            tasks = [pool.submit(self._claim_and_send, chunk, now, stop_at)
                     for chunk in _chunks(self.store.due(now + TICK_HORIZON), SEND_BATCH)]
            for task in tasks:
                report.add(task.result())
        log_event("tick", now=now, **vars(report))
        return report

    def _claim_and_send(self, models: list[Model], now: datetime, stop_at: float) -> TickReport:
        report = TickReport()
        claims = []
        for model in models:
            pending = model.state.pending
            if pending is not None and now < pending.at + timedelta(seconds=self.settings.claim_timeout_seconds):
                # Due within the minute, but the claim still stands: the tick at or after
                # its expiry takes it.
                continue
            report.due += 1
            if self.timer() >= stop_at:
                report.left += 1
                continue
            claim = self._take(model, now, report)
            if claim is not None:
                claims.append(claim)
        for claim, error in zip(claims, self._send(claims)):
            if error is None:
                report.enqueued += 1
            else:
                report.failed += 1
                self._failed(claim.before, error)
        return report

    def _take(self, model: Model, now: datetime, report: TickReport) -> Optional[Claim]:
        """Claim the model's next call, or record when it is due; counts what happened."""
        try:
            pending = model.state.pending
            if pending is not None:
                # A claimed call never reported back (lost message, crashed worker).
                report.expired_claims += 1
                log_event("claim_expired", model=model.name, kind=pending.kind)
                self._record(model, [Event(now, "claim_expired", {"action": pending.kind})])
                model = replace(model, state=drop_claim(model.state))
            # Outside the planning budget: judging reads the model's events.
            model, judged = self._judge(model, now)
            # The deadline lives in a context variable: set here, in the thread planning.
            with budget(self.settings.plan_budget_seconds):
                claim = self._claim(model, now, judged)[1]
            if claim is None:
                report.rescheduled += 1
            return claim
        except StateConflict:
            # Another tick, the worker or an API call moved first; it re-planned.
            report.conflicts += 1
        except Exception as err:  # one model's trouble must not stop the others' calls
            report.failed += 1
            self._failed(model, err)
            if isinstance(err, PLANNING_ERRORS):
                set_planning_error(self.journal, model, err, now, self.settings)
        return None

    def dispatch(self, model: Model, now: datetime) -> Model:
        """Claim and enqueue the model's next call if it is due before the next tick;
        otherwise just record when it is due. ``model`` must have no live claim. Each
        lease that has ended is told once (``lease_expired``).

        The API calls this too, so a lease or a registration inside a window starts its
        call at once rather than at the next tick. Raises StateConflict if the model
        changed since it was read, and what stopped the send if the queue refused it."""
        saved, claim = self._claim(model, now)
        if claim is not None:
            error, = self._send([claim])
            if error is not None:
                raise error
        return saved

    def _claim(self, model: Model, now: datetime, judged: Sequence[Event] = ()) -> tuple[Model, Optional[Claim]]:
        model, expired = expire_leases(model, now)
        expired = [*expired, *judged]
        state = model.state
        action = next_call(model.config, state, now, self.settings)
        if action is None or action.at > now + TICK_HORIZON:
            saved = self.store.save(replace(model, state=with_next_due(model.config, state, now, self.settings)),
                                    state.version)
            self._record(saved, expired + probing.ended_events(state.probe, saved.state.probe))
            return saved, None
        pending = Pending(new_action_id(), action.kind, action.at)
        claimed = with_next_due(model.config, replace(state, pending=pending), now, self.settings)
        saved = self.store.save(replace(model, state=claimed), state.version)
        self._record(saved, expired + probing.ended_events(state.probe, saved.state.probe))
        return saved, Claim(model, saved, pending)

    def _judge(self, model: Model, now: datetime) -> tuple[Model, list[Event]]:
        """Record the readiness of the model's windows that closed (chalicelib.readiness).
        A failure is logged and tried again at the next tick: it must not stop the calls."""
        try:
            return readiness.judge(model, lambda since: self.store.events_since(
                model.name, since, readiness.MAX_EVENTS, model.incarnation),
                                   now, self.settings)
        except Exception as err:
            log_event("readiness_failed", level=logging.ERROR, model=model.name,
                      error=f"{type(err).__name__}: {err}")
            return model, []

    def _send(self, claims: list[Claim]) -> list[Optional[Exception]]:
        """Queue the claimed calls, each with the delay that fires it on its second; undo
        the claim of each one the queue did not take, so that the next tick tries again
        rather than waiting out the claim's expiry."""
        if not claims:
            return []
        errors = self.queue.send_batch([(WorkMessage(c.saved.name, c.pending), delay_until(c.pending.at, self.clock()))
                                        for c in claims])
        for claim, error in zip(claims, errors):
            if error is None:
                log_event("enqueued", model=claim.saved.name, kind=claim.pending.kind, at=claim.pending.at)
                continue
            unclaimed = replace(claim.before.state, next_due_at=claim.pending.at)
            try:
                self.store.save(replace(claim.before, state=unclaimed), claim.saved.state.version)
            except Exception as err:  # a newer write stands, or the claim expires in its time
                log_event("unclaim_failed", level=logging.WARNING, model=claim.saved.name,
                          error=f"{type(err).__name__}: {err}")
        return errors

    def _record(self, model: Model, events: list[Event]) -> None:
        """Write down and tell of ``events``; the claim is saved, and a lost event must
        not leave it unsent."""
        if not events:
            return
        try:
            self.journal.record(model, events)
        except Exception as err:
            log_event("event_write_failed", level=logging.ERROR, model=model.name,
                      error=f"{type(err).__name__}: {err}")

    def _failed(self, model: Model, err: BaseException) -> None:
        log_event("tick_failed", level=logging.ERROR, model=model.name,
                  error=f"{type(err).__name__}: {err}")


def fleet_priors(store: Store, model: Model, settings: Settings) -> dict[str, object]:
    """The state fields for the priors the fleet now gives ``model``: its load times
    (nothing if the fleet has too few cold starts) and its region's shortest idle gap
    found cold (nothing if none was); nothing if the store cannot be read: the priors it
    has stand."""
    try:
        prior = fleet_prior(model.config, model.state, store.fleet_loads(), settings)
        release = store.region_releases().get(model.config.region)
    except Exception as err:  # a prior is an improvement, never a reason to fail a call or a registration
        log_event("fleet_read_failed", level=logging.WARNING, model=model.name, error=f"{type(err).__name__}: {err}")
        return {}
    learned: dict[str, object] = {"lead_prior": prior} if prior is not None else {}
    if release is not None:
        learned["region_release_minutes"] = round(release, 3)
    return learned


def probe_step(config: ModelConfig, before: ModelState, state: ModelState, action: Pending, result: CallResult,
               called_at: datetime, answered_at: datetime, settings: Settings) -> tuple[ModelState, list[Event]]:
    """``state`` (the call's outcome applied) with the model's running probe advanced by the
    answer and the next call re-planned, and the event of the probe's end if it ended."""
    if before.probe is None or not before.probe.running:
        return state, []
    state = probing.recorded(config, state, action, result.outcome, result.code, result.message, result.latency_ms,
                             called_at, answered_at, settings)
    if state.pending is None:
        state = with_next_due(config, state, answered_at, settings)
    return state, probing.ended_events(before.probe, state.probe)


class Worker:
    def __init__(self, store: Store, queue: WorkQueue, invoker: InvokerLike, settings: Settings,
                 clock: Clock, control: Optional[ControlPlaneLike] = None, journal: Optional[Journal] = None):
        self.store, self.queue, self.invoker = store, queue, invoker
        self.settings, self.clock = settings, clock
        self.control = control
        self.journal = journal or Journal(store, settings)

    def handle(self, message: WorkMessage) -> str:
        """Carry out one queued call; returns what happened, for logs and tests."""
        model = self.store.find(message.model)
        if model is None:
            return self._log("dropped", message, reason="model_gone")
        if model.state.pending is None or model.state.pending.id != message.action.id:
            return self._log("dropped", message, reason="stale")
        now = self.clock()
        try:
            with budget(self.settings.plan_budget_seconds):
                if not wanted(model.config, model.state, now, self.settings):
                    # Paused, or the window closed before the call came due: no call.
                    self._save(model, lambda m: replace(m, state=with_next_due(
                        m.config, drop_claim(m.state), now, self.settings)), message)
                    return self._log("dropped", message, reason="not_wanted")
        except PLANNING_ERRORS as err:
            # Redelivering would fail the same way: the model shows why, and is not called.
            set_planning_error(self.journal, model, err, now, self.settings)
            return self._log("dropped", message, reason="planning_failed")

        checked, check_events = self._verify(model, now)
        known = replace(model.state, **checked)
        request_format, _ = format_in_use(model.config, known)
        called_at = self.clock()
        answer = self.invoker.invoke(model.config, request_format)
        answered_at = self.clock()
        result, learned, format_events = self._body_outcome(model.config, known, request_format, answer,
                                                            answered_at)
        if result.outcome in (READY, MODEL_ERROR) and model.state.status != "warm":
            # A cold start ends (polled, or held): its priors are refreshed from the fleet.
            learned = {**learned, **fleet_priors(self.store, model, self.settings)}
        decision: Optional[Decision] = None
        probe_events: list[Event] = []

        def decide(current: Model) -> Model:
            nonlocal decision, probe_events
            with budget(self.settings.plan_budget_seconds):
                decision = apply_outcome(current.config, current.state, message.action, result,
                                         called_at, answered_at, self.settings)
                state, probe_events = probe_step(current.config, current.state,
                                                 replace(decision.state, **checked, **learned),
                                                 message.action, result, called_at, answered_at, self.settings)
            return replace(current, state=state)

        try:
            saved = self._save(model, decide, message)
        except PLANNING_ERRORS as err:
            set_planning_error(self.journal, self.store.find(model.name) or model, err, answered_at,
                               self.settings)
            return self._log("dropped", message, reason="planning_failed")
        assert decision is not None
        if saved:
            if decision.follow_up is not None:
                # First the poll or retry, so that nothing after it can break the chain.
                follow = decision.follow_up
                self.queue.send(WorkMessage(model.name, follow), delay_until(follow.at, self.clock()))
            try:
                self.journal.record(Model(model.config, decision.state),
                                    (*check_events, *decision.events, *format_events, *probe_events))
                for event in decision.events:
                    # A load a held call sat through is only known to be under the hold.
                    # One timed across an unpolled wait may be a load, a release and another.
                    if (event.kind == "cold_start" and event.detail.get("exact") and not event.detail.get("held")
                            and "unpolled_seconds" not in event.detail):
                        self.store.add_fleet_load(load_groups(model.config, decision.state),
                                                  math.log(max(1.0, event.detail["seconds"])))
                    if event.kind == "unexpected_cold":
                        # What this model learned of the release, its region's models start from.
                        self.store.add_region_release(model.config.region, event.detail["gap_seconds"] / 60)
                for event in probe_events:
                    gone = event.detail.get("release_minutes", {}).get("at_most") if event.kind == "probe_done" else None
                    if gone is not None:
                        # A probe's idle gap that lost the copy: a release found, for the region too.
                        self.store.add_region_release(model.config.region, float(gone))
            except Exception as err:  # the state is saved; a lost event must not fail the call
                log_event("event_write_failed", level=logging.ERROR, model=model.name,
                          error=f"{type(err).__name__}: {err}")
        log_event("called", model=model.name, kind=message.action.kind, format=request_format,
                  outcome=result.outcome, code=result.code, latency_ms=result.latency_ms,
                  status=decision.state.status, saved=saved)
        return result.outcome if saved else "superseded"

    @staticmethod
    def _body_outcome(config: ModelConfig, state: ModelState, sent: str, result: CallResult,
                      at: datetime) -> tuple[CallResult, dict[str, object], list[Event]]:
        """What an answer means for the body choice of a model with request_format auto:
        the outcome to record, the state fields it sets, and its events.

        A body answered is remembered. A body refused with ValidationException, before any
        was answered, is a retry (with the usual backoff) with the next plausible body;
        once every plausible body was refused, the model is in error, and the next hold
        starts again from the first."""
        if config.request_format != "auto":
            return result, {}, []
        if result.outcome == READY:
            if state.format_confirmed == sent:
                return result, {}, []
            return result, {"format_confirmed": sent, "formats_refused": ()}, [
                Event(at, "request_format", {"format": sent, "accepted": True})]
        if result.code != "ValidationException" or state.format_confirmed is not None:
            return result, {}, []
        following = next_format(state, sent)
        detail = {"format": sent, "accepted": False, "next": following, "message": result.message}
        if following is None:
            tried = ", ".join((*state.formats_refused, sent))
            refused = CallResult(FATAL, result.code, f"the model took none of the bodies keepwarm tried "
                                 f"({tried}): set request_format custom with a request_body it takes "
                                 f"(its answer: {result.message})", result.latency_ms)
            return refused, {"formats_refused": ()}, [Event(at, "request_format", detail)]
        retry = CallResult(TRANSIENT, result.code, f"the model refused the {sent} body; trying {following} "
                           f"next ({result.message})", result.latency_ms)
        return retry, {"formats_refused": (*state.formats_refused, sent)}, [Event(at, "request_format", detail)]

    def _verify(self, model: Model, now: datetime) -> tuple[dict[str, object], list[Event]]:
        """Check a model registered unverified (the control plane did not answer then) just
        before its call: the state fields the answer sets, and its event. Best effort: if
        it fails again the model stays unverified, with the newer reason, and the call goes
        ahead; the call's own answer says whether the model is there."""
        if model.state.verified_at is not None or self.control is None:
            return {}, []
        try:
            imported = self.control.describe(model.config)
        except ControlPlaneError as err:
            return {"unverified_reason": str(err)}, []
        event = Event(now, "verified", {"architecture": imported.architecture,
                                        "imported_at": iso(imported.created_at),
                                        "instruct_supported": imported.instruct_supported})
        return {"imported": imported, "verified_at": now, "unverified_reason": None}, [event]

    def failed(self, body: str, receive_count: int, error: BaseException) -> None:
        """A message the worker could not handle. SQS redelivers it; on its last delivery
        before the dead-letter queue, the model it concerned shows why (best effort: the
        body may not even name a model)."""
        log_event("worker_failed", level=logging.ERROR, receive_count=receive_count,
                  error=f"{type(error).__name__}: {error}", body=body[:500])
        if receive_count < self.settings.max_receives:
            return
        try:
            name = json.loads(body)["model"]
            model = self.store.find(str(name))
        except Exception:  # unreadable: the dead-letter queue and the log are all there is
            return
        if model is None:
            return
        now = self.clock()
        reason = (f"a queued call failed {receive_count} times and went to the dead-letter "
                  f"queue ({type(error).__name__}: {str(error)[:200]})")
        state = replace(model.state, status="error", error=reason, error_kind="transient",
                        error_at=now, pending=None, warming_since=None)
        try:
            model = self.store.save(replace(model, state=with_next_due(model.config, state, now, self.settings)),
                                    model.state.version)
        except StateConflict:
            pass  # the model moved on meanwhile: its newer state stands
        self.journal.record(model, [Event(now, "dead_lettered", {"reason": reason})])

    def _save(self, model: Model, change: Callable[[Model], Model], message: WorkMessage) -> bool:
        """Apply ``change`` and write it, re-reading on conflict while our claim still stands."""
        for _ in range(SAVE_TRIES):
            try:
                self.store.save(change(model), model.state.version)
                return True
            except StateConflict:
                fresh = self.store.find(model.name)
                if fresh is None or fresh.state.pending is None or fresh.state.pending.id != message.action.id:
                    return False
                model = fresh
        return False

    def _log(self, what: str, message: WorkMessage, **kv: object) -> str:
        log_event(what, model=message.model, kind=message.action.kind,
                  action_id=message.action.id, **kv)
        return kv.get("reason", what)  # type: ignore[return-value]


