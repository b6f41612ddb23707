"""The platform's billing facts: Bedrock bills an imported model's copy in 5-minute
windows from its first successful call, and where a billing-aware pre-warm's first call
that can succeed goes out.

Pure and at the bottom of the layers: the planner and the probe (which place calls) and
``chalicelib.costs`` (which prices them) read the same facts from here.
"""
from __future__ import annotations

from datetime import datetime, timedelta

BILLING_WINDOW = timedelta(minutes=5)


def ready_check(opened: datetime, *, least: timedelta) -> datetime:
    """When a billing-aware pre-warm's first call that can succeed (its bill's start) goes
    out for a window opening at ``opened``: ``least`` before the open.

    The copy is billed from the check to its release, in whole 5-minute windows. With
    nobody else calling, the release comes a release time after the check or the window's
    tight end (close - keep-alive), whichever is later, and that bill only shrinks as the check
    moves later. With users calling (the service's reason to exist), their last request
    sets the release, so every minute the check goes out before the open is a minute
    billed: the grid's slack before the open is free only to a model nobody calls. So the
    check goes out as late as still leaves ``least`` for a load still running to finish
    under polls, which is the least bill in both cases. In a window no longer than the
    keep-alive less ``least``, the check also covers the close and is the window's only
    call."""
    return opened - least
