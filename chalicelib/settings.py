"""Service settings: read once from the environment into one frozen object.

Nothing else in chalicelib reads os.environ. AWS endpoints are not settings of ours:
boto3 honours the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which is how the
local stack and the tests point DynamoDB, SQS and bedrock-runtime at stand-ins.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import MISSING, dataclass, fields
from typing import Mapping, Optional

from chalicelib.leads import PERCENTILES


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


# What the worker needs besides the invoke, within its Lambda timeout: an assumed role's
# credentials and a GetImportedModel check (each at most 3 s to connect and 5 s to read,
# one attempt), then the state write, the events and the queue send.
WORKER_MARGIN_SECONDS = 30
ROLE_PATTERN_RE = re.compile(r"^arn:[a-z*?-]+:iam::[0-9*?]*:role/\S+\Z")


# The shape of an AWS region name (us-west-2, eu-central-1, us-gov-west-1, ap-southeast-1),
# for a key of the operator's prices (an imported-model ARN's region is checked by
# chalicelib.records, more narrowly).
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}\Z")


def parse_price_overrides(text: Optional[str]) -> dict[str, float]:
    """Parse the operator's prices, JSON like ``{"us-west-2": 0.05718, "eu-central-1": 0.0686}``.

    Empty or missing text means no overrides. Raises ValueError naming the problem for text
    that is not a JSON object, a key that is not a region name, or a price that is not a
    positive finite number (booleans and strings are refused, not coerced)."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ValueError(f"CMU price overrides are not valid JSON ({err}); "
                         'expected e.g. {"us-west-2": 0.05718}') from None
    if not isinstance(data, dict):
        raise ValueError(f"CMU price overrides must be a JSON object of region -> USD per "
                         f"CMU-minute, got {type(data).__name__}")
    prices: dict[str, float] = {}
    for region, value in data.items():
        if not _REGION_RE.match(region):
            raise ValueError(f"CMU price overrides: {region[:40]!r} is not an AWS region name "
                             "(e.g. us-west-2)")
        # bool is an int subclass: true must not become a price of $1.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"CMU price overrides: the price for {region} must be a number, "
                             f"got {str(value)[:40]!r}")
        # json.loads admits NaN and Infinity, which would poison every sum.
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"CMU price overrides: the price for {region} must be a positive "
                             f"number of USD per CMU-minute, got {value!r}")
        prices[region] = float(value)
    return prices


@dataclass(frozen=True)
class Settings:
    table_name: str
    queue_url: str
    # The pre-warm lead: a high predictive percentile of the model's load time (its own
    # cold starts over a prior from the fleet, or the default prior below before the
    # fleet has any), plus the poll interval and lead_margin_seconds, at most
    # lead_max_seconds. held_lead_percentile for models whose ready-check is held back
    # (billing-aware: a long lead costs almost nothing), lead_percentile for the others.
    lead_percentile: int = 95
    held_lead_percentile: int = 99
    lead_margin_seconds: int = 30
    lead_max_seconds: int = 1800
    # The default prior: log-normal load times with this median and spread (of the
    # logarithm), worth this many cold starts.
    prior_load_median_seconds: float = 90.0
    prior_load_sigma: float = 0.6
    prior_weight: float = 10.0
    # A billing-aware pre-warm's ready-check goes out this long before the open (earlier
    # when a copy loaded early would idle too long; see planner.ready_check_at).
    ready_check_margin_seconds: int = 60
    # While a model loads, the worker re-polls it this often (via SQS delay).
    poll_seconds: int = 10
    # A cold start longer than this is given up as an error.
    max_cold_start_seconds: int = 900
    default_keepalive_minutes: int = 14
    # How long Bedrock is assumed to keep an idle copy (sources disagree: a per-model
    # setting, and learned from keep-alives that find the model cold).
    default_release_minutes: int = 15
    # A claimed action whose message never reported back is re-planned after this.
    claim_timeout_seconds: int = 300
    # The tick claims on this many threads (each claim mostly waits on DynamoDB), and
    # stops claiming this long after it started, leaving the rest to the next tick: below
    # its Lambda's timeout (55 s) by enough to queue the claims already made.
    tick_concurrency: int = 16
    tick_claim_seconds: float = 45.0
    # The most the tick, the worker or the API spends planning one model; past it the
    # model is put in error (tick, worker) or the request refused, and the others go on.
    plan_budget_seconds: float = 2.0
    # Throttling and server errors back off exponentially between these bounds.
    backoff_base_seconds: int = 5
    backoff_max_seconds: int = 300
    # After this many consecutive transient failures the model shows status "error".
    max_attempts: int = 8
    invoke_connect_timeout_seconds: int = 5
    # A cold model may hold a call until a copy is ready: the read timeout bounds how long
    # the worker waits on one (no answer by then counts as still loading). It must end,
    # with WORKER_MARGIN_SECONDS to spare, before the worker Lambda's own timeout (.chalice/
    # config.json), or a held call would kill the worker before its state is written.
    invoke_read_timeout_seconds: int = 60
    worker_timeout_seconds: int = 120
    event_ttl_days: int = 30
    # Deliveries of one message before SQS moves it to the dead-letter queue (the queue's
    # redrive policy says the same).
    max_receives: int = 5
    # Operator's prices per CMU-minute, JSON {"region": USD}; win over the built-in table.
    cmu_prices: str = ""
    # The roles a model's role_arn may name, as an IAM ARN pattern (* and ?), e.g.
    # arn:aws:iam::*:role/keepwarm-*; the deployment grants sts:AssumeRole on the same.
    # Empty: keepwarm assumes no roles.
    assume_role_pattern: str = ""

    # Settings below these would poll or retry in a hot loop, or steal live claims.
    _MINIMUM = {"poll_seconds": 1, "claim_timeout_seconds": 60, "backoff_base_seconds": 1,
                "backoff_max_seconds": 1, "max_attempts": 1, "max_receives": 1,
                "default_keepalive_minutes": 1, "default_release_minutes": 2,
                "invoke_connect_timeout_seconds": 1, "invoke_read_timeout_seconds": 1,
                "event_ttl_days": 1, "prior_load_median_seconds": 1, "prior_load_sigma": 0.05,
                "prior_weight": 1, "ready_check_margin_seconds": 0,
                "plan_budget_seconds": 0.1, "tick_concurrency": 1, "tick_claim_seconds": 1}

    # Variable name for each field: KEEPWARM_<FIELD> except the two resource names.
    _ENV = {"table_name": "KEEPWARM_TABLE", "queue_url": "KEEPWARM_QUEUE_URL"}

    @classmethod
    def env_name(cls, field_name: str) -> str:
        return cls._ENV.get(field_name, "KEEPWARM_" + field_name.upper())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = cls.env_name(f.name)
            raw = env.get(name)
            if raw is None or raw == "":
                if f.default is MISSING:
                    raise SettingsError(f"{name} is not set")
                continue
            if f.type in ("int", "float"):
                kind = int if f.type == "int" else float
                try:
                    values[f.name] = kind(raw)
                except ValueError:
                    noun = "an integer" if kind is int else "a number"
                    raise SettingsError(f"{name} must be {noun}, got {raw!r}") from None
                if not math.isfinite(values[f.name]) or values[f.name] < cls._MINIMUM.get(f.name, 0):
                    raise SettingsError(f"{name} must be at least {cls._MINIMUM.get(f.name, 0)}, got {raw!r}")
            else:
                values[f.name] = raw
        settings = cls(**values)  # type: ignore[arg-type]
        try:
            parse_price_overrides(settings.cmu_prices)
        except ValueError as err:
            raise SettingsError(f"{cls.env_name('cmu_prices')}: {err}") from None
        if settings.assume_role_pattern and not ROLE_PATTERN_RE.match(settings.assume_role_pattern):
            raise SettingsError(f"{cls.env_name('assume_role_pattern')} must be an IAM role ARN pattern such as "
                                f"arn:aws:iam::*:role/keepwarm-*, got {settings.assume_role_pattern!r}")
        invoke = settings.invoke_connect_timeout_seconds + settings.invoke_read_timeout_seconds
        if invoke + WORKER_MARGIN_SECONDS > settings.worker_timeout_seconds:
            raise SettingsError(
                f"{cls.env_name('invoke_connect_timeout_seconds')} + {cls.env_name('invoke_read_timeout_seconds')} "
                f"({invoke} s) must leave {WORKER_MARGIN_SECONDS} s of "
                f"{cls.env_name('worker_timeout_seconds')} ({settings.worker_timeout_seconds} s, the worker "
                "Lambda's timeout) for the control-plane check and the state, event and queue writes"
            )
        for name in ("lead_percentile", "held_lead_percentile"):
            if getattr(settings, name) not in PERCENTILES:
                raise SettingsError(f"{cls.env_name(name)} must be one of {', '.join(map(str, PERCENTILES))}, "
                                    f"got {getattr(settings, name)}")
        if settings.default_keepalive_minutes >= settings.default_release_minutes:
            raise SettingsError(
                f"{cls.env_name('default_keepalive_minutes')} must be below "
                f"{cls.env_name('default_release_minutes')}"
            )
        return settings

    @property
    def price_overrides(self) -> dict[str, float]:
        """The operator's CMU-minute prices by region (``cmu_prices``, checked by from_env)."""
        return parse_price_overrides(self.cmu_prices)

    def describe(self) -> dict[str, object]:
        """Every setting with its variable name: what docs/settings.md's table lists."""
        return {self.env_name(f.name): getattr(self, f.name) for f in fields(self)}
