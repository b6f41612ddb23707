"""State changes that matter, put on EventBridge for teams to route with a rule.

Each is one of the events keepwarm records for a model (chalicelib.planner, chalicelib.loop,
chalicelib.api say when they happen), put on the account's default bus with source
``keepwarm``, the model's ARN as the resource and the recorded event as the detail:

    {"source": ["keepwarm"], "detail-type": ["Model Error"]}

matches every model entering ``error``. Best effort: a put that fails is logged and
counted, and never fails the call, the tick or the request that caused it.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from botocore.config import Config

from chalicelib.logs import log_event
from chalicelib.records import Event, Model

SOURCE = "keepwarm"
BUS = "default"
# Recorded event kind -> detail-type. Events not named here (calls, registrations, ...)
# stay in the model's own event log.
DETAIL_TYPES: dict[str, str] = {
    "warm": "Model Warm",
    "cold_start": "Cold Start Measured",
    "error": "Model Error",
    "model_error": "Model Error",
    "dead_lettered": "Model Error",
    "error_cleared": "Model Error Cleared",
    "unexpected_cold": "Unexpected Cold",
    "lease_ready": "Lease Ready",
    "lease_expired": "Lease Expired",
    # A schedule window that was not verified warm at its open (chalicelib.readiness), told
    # when it is judged, shortly after its close; its detail is the window's record.
    "window_not_ready": "Window Not Ready",
}
MAX_ENTRIES = 10  # what one PutEvents takes
# One short try: a state change is told at once or not at all, and never holds up a call.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=3)


def entries(model: Model, events: Iterable[Event]) -> list[dict[str, Any]]:
    """The PutEvents entries for those of ``events`` that are told."""
    return [{
        "Source": SOURCE, "DetailType": DETAIL_TYPES[event.kind], "EventBusName": BUS, "Time": event.at,
        "Resources": [model.config.model_arn],
        "Detail": json.dumps({"model": model.name, "model_arn": model.config.model_arn, **event.to_item()}),
    } for event in events if event.kind in DETAIL_TYPES]


class EventBus:
    """The default event bus, through an ``events`` client."""

    def __init__(self, client: Any):
        self._client = client

    def put(self, model: Model, events: Iterable[Event]) -> int:
        """Put the told ones of ``events``; returns how many could not be put."""
        pending = entries(model, events)
        lost = 0
        for first in range(0, len(pending), MAX_ENTRIES):
            batch = pending[first:first + MAX_ENTRIES]
            try:
                answer = self._client.put_events(Entries=batch)
            except Exception as err:  # told or not, the change itself has happened
                lost += len(batch)
                log_event("events_put_failed", level=logging.ERROR, model=model.name,
                          kinds=[e["DetailType"] for e in batch], error=f"{type(err).__name__}: {err}")
                continue
            refused = [(sent["DetailType"], got.get("ErrorCode")) for sent, got in zip(batch, answer["Entries"])
                       if got.get("ErrorCode")]
            if refused:
                lost += len(refused)
                log_event("events_put_failed", level=logging.ERROR, model=model.name, refused=refused)
        return lost
