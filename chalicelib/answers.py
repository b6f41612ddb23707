"""What a call's answer is: the outcomes ``chalicelib.bedrock`` sorts Bedrock's answers
into, the :class:`CallResult` it hands on, and the rule that tells an answer from a loaded
copy from one held while a copy loaded.

The lowest layer of the service, with the platform's billing facts (``chalicelib.billing``):
the adapter that makes calls (bedrock) and the modules that read their answers (planner,
probe) both take these from here, so neither imports the other for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# Outcomes of one call, as chalicelib.bedrock classifies them.
READY = "ready"
NOT_READY = "not_ready"
THROTTLED = "throttled"
TRANSIENT = "transient"  # server errors, connect timeouts: retried with backoff
FATAL = "fatal"  # denied, gone, invalid request: not retried in this hold
# The model's container answered with an error (ModelErrorException, 424): a copy is
# loaded, so the model is warm and kept so by the keep-alives, but its calls fail.
MODEL_ERROR = "model_error"
# A copy answered: a success or the container's own error.
ANSWERED = (READY, MODEL_ERROR)
# Tried again with backoff, up to the attempts allowed.
RETRIED = (THROTTLED, TRANSIENT)

# An answer slower than max(COLD_ANSWER_FLOOR_SECONDS, COLD_ANSWER_FACTOR x the model's
# warm latency) met a cold copy: it was held while a copy loaded. A one-token answer from
# a loaded copy takes well under a second; a load takes tens of seconds at the least, so
# the floor leaves a wide margin on both sides while the warm latency is still unknown.
COLD_ANSWER_FLOOR_SECONDS = 5.0
COLD_ANSWER_FACTOR = 4.0


@dataclass(frozen=True)
class CallResult:
    outcome: str
    code: Optional[str] = None
    message: Optional[str] = None
    latency_ms: int = 0
