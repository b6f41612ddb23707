"""Structured logs through Powertools for AWS Lambda (Python): one JSON object per line.

Each line is one event name (``message`` and ``event``) plus key/values, with the Lambda
request id (``function_request_id``) and the function's name added by
:func:`lambda_context`, a Chalice middleware every handler runs through. Datetimes are
written as ISO 8601 UTC, as everywhere else in keepwarm.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any, Callable

from aws_lambda_powertools import Logger
from chalice.app import Request

from chalicelib.records import iso

# The ``service`` of every log line and the metrics' dimension: the deployed stack's name
# (the package sets it, so stages in one account keep their figures apart), else keepwarm.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "keepwarm"


def _plain(value: Any) -> Any:
    """JSON for what the standard encoder cannot write: datetimes as ISO 8601, the rest as text."""
    return iso(value) if isinstance(value, datetime) else str(value)


# The standard library's "keepwarm" logger, given Powertools' JSON formatter and handler
# (stdout, which Lambda sends to CloudWatch Logs). Its level: POWERTOOLS_LOG_LEVEL or
# Lambda's log level, else INFO.
logger = Logger(service=SERVICE, json_default=_plain, utc=True)


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: the event's name and its key/values. ``stacklevel`` makes the
    line's ``location`` the caller's, not this function's."""
    logger.log(level, event, extra={"event": event, **fields}, stacklevel=2)


def lambda_context(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware: every line logged while a handler runs carries its Lambda
    request id (Powertools' ``inject_lambda_context``). The local stack calls the
    handlers with no context: then there is no request id to add."""
    context = event.lambda_context if isinstance(event, Request) else getattr(event, "context", None)
    if context is None:
        return get_response(event)
    handler = logger.inject_lambda_context(lambda _event, _context: get_response(event), clear_state=True)
    return handler({}, context)
