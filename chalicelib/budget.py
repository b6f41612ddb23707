"""A time budget for planning one model, so that no schedule can stall the others.

Every search over a schedule is bounded by construction (horizons and step limits), but
the tick and the worker serve many models in one Lambda: they also give each model's
planning a deadline. The loops that could run long call :func:`check`, which raises
:class:`PlanningOverrun` once the deadline of the innermost :func:`budget` has passed.
Outside any budget, :func:`check` does nothing. The deadline lives in a context
variable, so threads planning different models each keep their own.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

_deadline: ContextVar[Optional[float]] = ContextVar("keepwarm_planning_deadline", default=None)


class PlanningOverrun(Exception):
    """Planning one model took longer than its budget."""


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Give the enclosed planning ``seconds`` at most (an enclosing budget still applies)."""
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def check() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise PlanningOverrun("planning took longer than its time budget")
