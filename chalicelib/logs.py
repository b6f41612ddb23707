"""Structured logs: one event name plus key/values, one JSON object per line."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from chalicelib.records import iso


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, json.dumps({"event": event, **{k: _plain(v) for k, v in fields.items()}},
                                     default=str))
