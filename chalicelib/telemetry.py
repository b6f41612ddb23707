"""What happens to a model, written down and told: its event log, its warm spans, its
CloudWatch metrics and (chalicelib.notify) its EventBridge events, all from the events
keepwarm records where the changes happen.

Metrics are log lines in CloudWatch Embedded Metric Format, written by Powertools for AWS
Lambda (no API call on the hot path), in namespace ``keepwarm``. Each model's document is
made with Powertools' non-singleton ``EphemeralMetrics`` (the worker handles several
models in one invocation, and a model's dimension must not be shared with another's),
and every document made during an invocation is written when its handler returns
(:class:`Outbox`). Every per-model
metric is published twice, by ``model`` (and ``service``) and by ``service`` alone, the
fleet's total, which is what the alarms watch.

The names below are the contract with the alarms and the dashboard (deploy/package.py
builds them from these constants, and a test holds the two to each other).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from chalicelib.answers import MODEL_ERROR, READY
from chalicelib.logs import SERVICE, log_event
from chalicelib.notify import EventBus
from chalicelib.planner import PLANNING_ERRORS, prewarm_lead, release_in_force
from chalicelib.readiness import WINDOW_NOT_READY, WINDOW_READY
from chalicelib.records import Event, Model, WarmSpan, parse_iso
from chalicelib.settings import Settings
from chalicelib.storage import Store
from chalicelib.timeline import next_hold

NAMESPACE = "keepwarm"

# Per model: dimensions (model, service) and (service); calls also by outcome.
CALLS = "Calls"
COLD_STARTS = "ColdStarts"
COLD_START_SECONDS = "ColdStartSeconds"
# Seconds a window (or a lease) was open while the model was not ready, as keepwarm
# observed it: from the open, or the cold start's start if later, to its first success.
NOT_READY_SECONDS = "NotReadySeconds"
UNEXPECTED_COLDS = "UnexpectedColds"
# Per window of a model's schedule, when it is judged after its close (chalicelib.readiness):
# the share of the window a copy was verified warm (0..1), and the seconds from the open
# until it first was (the window's length if never).
WINDOW_READY_SHARE = "WindowReadyShare"
WINDOW_LATE_SECONDS = "WindowLateSeconds"
ERRORS = "Errors"
DEAD_LETTERS = "DeadLetters"
# Per tick, dimension service.
TICK_DURATION = "TickDuration"
TICK_LAG = "TickLag"  # seconds the tick started after its scheduled time
TICK_DUE = "TickDue"
TICK_ENQUEUED = "TickEnqueued"
TICK_CONFLICTS = "TickConflicts"
TICK_FAILURES = "TickFailures"
MODELS_IN_ERROR = "ModelsInError"
# EventBridge puts that failed (the events themselves are in the models' logs).
EVENTS_NOT_PUT = "EventsNotPut"

MODEL_DIMENSION = "model"
OUTCOME_DIMENSION = "outcome"
SUCCESSES = (READY, MODEL_ERROR)  # answers from a loaded copy: they hold it
ERROR_KINDS = ("error", "model_error", "dead_lettered")

Measures = dict[str, tuple[str, list[float]]]


def document(measures: Measures, **dimensions: str) -> dict[str, Any]:
    """One EMF document: ``measures`` (name -> unit, values) by ``dimensions`` and by
    service alone."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for name, (unit, values) in measures.items():
        for value in values:
            metrics.add_metric(name=name, unit=unit, value=value)
    for key, value in dimensions.items():
        metrics.add_dimension(name=key, value=value)
    fleet = {k: v for k, v in dimensions.items() if k != MODEL_DIMENSION}
    if dimensions:
        metrics.add_dimensions(service=SERVICE, **fleet)
    return metrics.serialize_metric_set()


@contextmanager
def best_effort(what: str) -> Iterator[None]:
    """Telling operators never fails what it tells of: an error in here is logged
    (``<what>_failed``) and dropped."""
    try:
        yield
    except Exception as err:
        log_event(f"{what}_failed", level=logging.ERROR, error=f"{type(err).__name__}: {err}")


def emit(documents: Iterable[dict[str, Any]]) -> None:
    """Write each document as one log line (stdout: CloudWatch Logs in Lambda);
    POWERTOOLS_METRICS_DISABLED=true silences them."""
    if not is_metrics_disabled():
        for doc in documents:
            print(json.dumps(doc, separators=(",", ":")), flush=True)


class Outbox:
    """The documents made during an invocation, written when its handler returns
    (:func:`flush_metrics`, a middleware of every handler in app.py), as Powertools'
    ``log_metrics`` does. Shared by the threads of one invocation (the tick's claims, the
    worker's messages) and, in the local stack, by handlers running at once: each
    document carries its own dimensions, so whichever handler writes it, it says the
    same. Never holds more than :attr:`LIMIT`: code run outside a handler (a
    simulation) writes them as they come rather than keeping them."""

    LIMIT = 100

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._documents: list[dict[str, Any]] = []

    def add(self, documents: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._documents.extend(documents)
            full = len(self._documents) >= self.LIMIT
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what is held (never raises: a lost metric is logged, ``metrics_failed``)."""
        with self._lock:
            documents, self._documents = self._documents, []
        if documents:
            with best_effort("metrics"):
                emit(documents)


OUTBOX = Outbox()


def flush_metrics(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware: the metrics an invocation made are written when it ends,
    whether it returned or raised."""
    try:
        return get_response(event)
    finally:
        OUTBOX.flush()


def not_ready_seconds(model: Model, cold_start: Event, settings: Settings) -> float:
    """How long the model's hold (window, lease or override) had been open when this cold
    start ended, counted from the cold start's start if that was later; 0 if the model was
    ready by the open."""
    ended = cold_start.at
    began = ended.timestamp() - float(cold_start.detail["seconds"])
    try:
        hold = next_hold(model.config, model.state, ended, prewarm_lead(model.config, model.state, settings))
    except PLANNING_ERRORS:
        return 0.0
    if hold is None or hold.start > ended:
        return 0.0
    return max(0.0, ended.timestamp() - max(hold.open.timestamp(), began))


def window_late_seconds(judged: Event) -> float:
    """A judged window's late seconds; one never verified warm was late its whole length."""
    late = judged.detail.get("late_seconds")
    if late is not None:
        return float(late)
    opened, closed = parse_iso(judged.detail["window_open"]), parse_iso(judged.detail["window_close"])
    return (closed - opened).total_seconds()  # type: ignore[operator]


def model_documents(model: Model, events: Sequence[Event], settings: Settings) -> list[dict[str, Any]]:
    """The metrics of what ``events`` say happened to ``model``."""
    outcomes = Counter(str(e.detail.get("outcome")) for e in events if e.kind == "call")
    counts: Counter[str] = Counter()
    seconds: defaultdict[str, list[float]] = defaultdict(list)
    shares: list[float] = []
    for event in events:
        if event.kind == "cold_start":
            counts[COLD_STARTS] += 1
            seconds[COLD_START_SECONDS].append(float(event.detail["seconds"]))
            waited = not_ready_seconds(model, event, settings)
            if waited > 0:
                seconds[NOT_READY_SECONDS].append(round(waited, 3))
        elif event.kind == "unexpected_cold":
            counts[UNEXPECTED_COLDS] += 1
        elif event.kind in (WINDOW_READY, WINDOW_NOT_READY):
            shares.append(float(event.detail["verified_share"]))
            seconds[WINDOW_LATE_SECONDS].append(window_late_seconds(event))
        if event.kind in ERROR_KINDS:
            counts[ERRORS] += 1
        if event.kind == "dead_lettered":
            counts[DEAD_LETTERS] += 1
    docs = [document({CALLS: (MetricUnit.Count.value, [n])}, model=model.name, outcome=outcome)
            for outcome, n in sorted(outcomes.items())]
    measures: Measures = {name: (MetricUnit.Count.value, [n]) for name, n in counts.items()}
    measures.update({name: (MetricUnit.Seconds.value, values) for name, values in seconds.items()})
    if shares:
        measures[WINDOW_READY_SHARE] = (MetricUnit.NoUnit.value, shares)
    if measures:
        docs.append(document(measures, model=model.name))
    return docs


class Journal:
    """Where what happened to a model goes: its event log and warm spans (the store),
    and, when told to, metrics and the event bus."""

    def __init__(self, store: Store, settings: Settings, bus: Optional[EventBus] = None, metrics: bool = False):
        self.store, self.settings, self.bus, self.metrics = store, settings, bus, metrics

    def record(self, model: Model, events: Sequence[Event]) -> None:
        """Tell of ``events`` (never raises), then write them down, with the warm span a
        success extends. ``model`` is as the events left it. Raises what the store raises."""
        self.tell(model, events)
        for event in events:
            self.store.add_event(model.name, event, self.settings.event_ttl_days, model.incarnation)
        state = model.state
        if state.warm_since and state.last_success_at and any(
                e.kind == "call" and e.detail.get("outcome") in SUCCESSES for e in events):
            release = timedelta(minutes=release_in_force(model.config, state))
            self.store.put_warm_span(model.name, WarmSpan(state.warm_since, state.last_success_at + release),
                                     model.incarnation)

    def tell(self, model: Model, events: Sequence[Event]) -> None:
        lost = 0
        if self.bus is not None:
            with best_effort("events_put"):
                lost = self.bus.put(model, events)
        if self.metrics:
            with best_effort("metrics"):
                documents = model_documents(model, events, self.settings)
                if lost:
                    documents.append(document({EVENTS_NOT_PUT: (MetricUnit.Count.value, [lost])}))
                OUTBOX.add(documents)


def run_tick(run: Callable[[datetime], Any], now: datetime, clock: Callable[[], datetime],
             count_errors: Callable[[], int]) -> Any:
    """Run the tick for ``now`` and emit its metrics from its report: how late it started
    (on ``clock``), how long it took, what it did, and how many models are in error."""
    lag = (clock() - now).total_seconds()
    started = time.monotonic()
    report = run(now)
    with best_effort("metrics"):
        OUTBOX.add([document(_tick_measures(report, lag, time.monotonic() - started, count_errors))])
    return report


def _tick_measures(report: Any, lag: float, duration: float, count_errors: Callable[[], int]) -> Measures:
    measures: Measures = {
        TICK_DURATION: (MetricUnit.Seconds.value, [round(duration, 3)]),
        TICK_LAG: (MetricUnit.Seconds.value, [round(max(0.0, lag), 3)]),
        TICK_DUE: (MetricUnit.Count.value, [report.due]),
        TICK_ENQUEUED: (MetricUnit.Count.value, [report.enqueued]),
        TICK_CONFLICTS: (MetricUnit.Count.value, [report.conflicts]),
        TICK_FAILURES: (MetricUnit.Count.value, [report.failed]),
    }
    with best_effort("error_count"):  # the other figures are worth having without it
        measures[MODELS_IN_ERROR] = (MetricUnit.Count.value, [count_errors()])
    return measures
