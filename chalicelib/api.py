"""The REST API's handlers: :class:`Api` acts on the store for each route, with the request
checked by ``chalicelib.inputs`` and the answer shaped by ``chalicelib.views``.

Routes in app.py only read the request and call in here. Domain errors become HTTP errors
in exactly one place, :func:`http_errors`. A request is validated whole before anything
is written, so a rejected request changes nothing stored.
"""
from __future__ import annotations

import re
import secrets
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Optional, Protocol
from urllib.parse import unquote

from chalice import BadRequestError, ChaliceViewError, ConflictError, NotFoundError

from chalicelib import costs, suggest, traffic
from chalicelib import probe as probing
from chalicelib.bedrock import ControlPlane, ControlPlaneError, custom_model_units, format_in_use
from chalicelib.budget import PlanningOverrun, budget
from chalicelib.inputs import (
    COST_DAYS,
    MAX_ACTIVE_LEASES,
    MAX_COST_DAYS,
    MAX_HOLDER_CHARS,
    MAX_LEASE_MINUTES,
    MAX_OVERRIDE_DAYS,
    MAX_PREVIEW_DAYS,
    MAX_SUGGEST_EVENTS,
    MAX_SUGGEST_WEEKS,
    RequestError,
    _bool,
    _gaps,
    _instant,
    _int,
    _query_instant,
    changed_config,
    new_config,
    query_int,
    query_share,
)
from chalicelib.loop import fleet_priors
from chalicelib.planner import drop_claim, model_cmus, prewarm_lead, with_next_due
from chalicelib.records import (
    ARN_RE,
    NAME_RE,
    Event,
    Lease,
    Model,
    ModelConfig,
    ModelState,
    Override,
    arn_account,
    expire_leases,
    iso,
)
from chalicelib.schedule import ScheduleError
from chalicelib.settings import Settings
from chalicelib.storage import BadPageToken, ModelAlreadyExists, ModelNotFound, StateConflict, Store
from chalicelib.telemetry import Journal
from chalicelib.timeline import exclusions, window_intervals
from chalicelib.views import (
    _interval_view,
    held_windows,
    holding,
    lease_blocker,
    lease_view,
    price_hint,
    schedule_cost,
    view,
)

# Importable from chalicelib.api as before request checking (inputs.py) and answers
# (views.py) moved out of it; new code imports them from their own modules.
from chalicelib.inputs import (  # noqa: F401 (re-exported: chalicelib.api's public names)
    ARN_RULE,
    DATE_RE,
    EXTERNAL_ID_RE,
    FIELDS,
    INSTANT_RE,
    MAX_EXCLUDE_DATES,
    MAX_KEEPALIVE_MINUTES,
    MAX_LISTED_SUBDIVISIONS,
    MAX_PAGE,
    MAX_RELEASE_MINUTES,
    MAX_REQUEST_BODY_BYTES,
    MAX_REQUEST_BODY_DEPTH,
    MAX_STORED_DIGITS,
    MIN_STORED_MAGNITUDE,
    ROLE_RE,
    ROLE_RULE,
    calendar_date,
    parse_body,
)
from chalicelib.views import (  # noqa: F401 (re-exported: chalicelib.api's public names)
    expected_ready_at,
    is_ready,
    prewarm_view,
    request_format_view,
    shown_error,
    verification_view,
    warm_latency_view,
)

UPDATE_TRIES = 3
# How long an ended lease (expired or released) is remembered, and how many at most: a
# batch job's cleanup releasing it late is told it is over (not that it never existed).
LEASE_MEMORY = timedelta(days=7)
MAX_ENDED_LEASES = 50
# Well under API Gateway's 29 s; every schedule the API accepts plans in far less.
API_PLANNING_BUDGET_SECONDS = 10


class UpstreamError(ChaliceViewError):
    """A service keepwarm depends on (Bedrock's control plane) refused or failed."""

    STATUS_CODE = 502


@contextmanager
def http_errors() -> Iterator[None]:
    """Map domain errors to Chalice's HTTP errors (the only place that does). Every route
    runs in here, so this is also where a request's planning gets its time budget."""
    try:
        with budget(API_PLANNING_BUDGET_SECONDS):
            yield
    except (RequestError, ScheduleError, BadPageToken) as err:
        raise BadRequestError(str(err)) from None
    except PlanningOverrun:
        raise BadRequestError(f"windows: planning this schedule took over {API_PLANNING_BUDGET_SECONDS} s; "
                              "use fewer windows or fewer openings a day (or ask for fewer days)") from None
    except LeaseGone as err:
        raise LeaseEnded(str(err)) from None
    except (ModelNotFound, LeaseNotFound) as err:
        raise NotFoundError(str(err)) from None
    except ModelAlreadyExists as err:
        raise ConflictError(str(err)) from None
    except StateConflict as err:
        raise ConflictError(f"the model changed while this request ran, try again ({err})") from None
    except (LeaseRefused, ProbeRefused) as err:
        raise ConflictError(str(err)) from None
    except (costs.CostError, ControlPlaneError, traffic.TrafficError) as err:
        raise UpstreamError(str(err)) from None


class LeaseRefused(Exception):
    """The model cannot take a lease now: too many already, paused, or held cold."""


class ProbeRefused(Exception):
    """A probe cannot run now; the message says why."""


class LeaseNotFound(Exception):
    """No such lease was taken on the model (within LEASE_MEMORY)."""


class LeaseGone(LeaseNotFound):
    """The lease existed and is over: it expired, or was released."""


class LeaseEnded(NotFoundError):
    """404 for a lease that existed and is over, with its own code (``LeaseEnded``), so
    that a client can tell it from an id that never named a lease (``NotFoundError``)."""


# As create_lease mints them ("l" + secrets.token_hex(6)); anything else names no lease.
LEASE_ID_RE = re.compile(r"^l[0-9a-f]{12}\Z")

def model_key(raw: str) -> str:
    """The ``{model}`` path parameter: a name or a URL-encoded ARN. Anything else names no
    model (and must not reach the store: a key has a size limit)."""
    key = unquote(raw)
    if not (NAME_RE.match(key) or ARN_RE.match(key)):
        raise ModelNotFound(key[:100])
    return key


def lease_key(raw: str) -> str:
    """The ``{lease}`` path parameter; anything not shaped like a lease id names no lease."""
    lease_id = unquote(raw)
    if not LEASE_ID_RE.match(lease_id):
        raise LeaseNotFound(f"no lease {lease_id[:40]!r} (a lease id is l and 12 hex digits)")
    return lease_id



# -- operations ---------------------------------------------------------------------------
class Dispatcher(Protocol):
    def dispatch(self, model: Model, now: datetime) -> Model: ...


def _active_leases(state: ModelState, now: datetime) -> tuple[Lease, ...]:
    return tuple(lease for lease in state.leases if lease.expires_at > now)


def _remembered(state: ModelState, now: datetime) -> tuple[Lease, ...]:
    """The active leases and those that ended within LEASE_MEMORY (the latest
    MAX_ENDED_LEASES), in the order they were taken."""
    ended = [lease for lease in state.leases if now - LEASE_MEMORY < lease.expires_at <= now]
    kept = set(id(lease) for lease in sorted(ended, key=lambda lease: lease.expires_at)[-MAX_ENDED_LEASES:])
    return tuple(lease for lease in state.leases if lease.expires_at > now or id(lease) in kept)


def _replanned(state: ModelState, retry_errors: bool, now: datetime) -> ModelState:
    """A changed plan: in-flight calls become stale, and (if asked) an error the operator
    may just have fixed is tried again at once: a call is planned now to verify it. Only
    that call's answer clears the error (or confirms it); a request never does, because
    nothing but an answer says whether the model's calls succeed. A planning error is
    keepwarm's own reading of the schedule, not the model's health: a change re-plans it."""
    if retry_errors and state.error_kind == "planning":
        state = replace(state, status="cold", error=None, error_kind=None, error_at=None)
    elif retry_errors and state.error is not None:
        state = replace(state, verify_requested_at=now)
    return drop_claim(state)


class Api:
    def __init__(self, store: Store, settings: Settings, dispatcher: Optional[Dispatcher] = None,
                 control: Optional[ControlPlane] = None, journal: Optional[Journal] = None,
                 traffic: Optional[traffic.Traffic] = None):
        self.store, self.settings = store, settings
        self.traffic = traffic  # CloudWatch: the model's invocation counts
        self.dispatcher = dispatcher
        self.control = control  # Bedrock's control plane (GetImportedModel)
        self.journal = journal or Journal(store, settings)

    def _event(self, model: Model, at: datetime, kind: str, **detail: Any) -> None:
        self.journal.record(model, [Event(at, kind, detail)])

    def _dispatch(self, model: Model, now: datetime) -> Model:
        """Start a call that is due now at once instead of at the next tick."""
        if self.dispatcher is None:
            return model
        try:
            return self.dispatcher.dispatch(model, now)
        except StateConflict:
            return self.store.get(model.name)  # someone else moved; the tick will plan it

    def _mutate(self, key: str, change: Callable[[Model], Model], now: datetime) -> Model:
        """Apply ``change`` to the stored model with a conditional write, re-reading on a
        conflict; then re-plan. ``change`` validates, so a rejected request writes nothing.
        Leases that ended and an error the change cleared are told."""
        model = self.store.get(model_key(key))
        for attempt in range(UPDATE_TRIES):
            current, expired = expire_leases(model, now)  # told here if the tick has not yet
            changed = change(current)
            state = with_next_due(changed.config, changed.state, now, self.settings)
            try:
                saved = self.store.save(replace(changed, state=state), model.state.version)
                break
            except StateConflict:
                if attempt == UPDATE_TRIES - 1:
                    raise
                model = self.store.get(model.name)
        if model.state.error is not None and saved.state.error is None:
            expired.append(Event(now, "error_cleared", {"error": model.state.error, "by": "request"}))
        expired.extend(probing.ended_events(model.state.probe, saved.state.probe))
        self.journal.record(saved, expired)
        return self._dispatch(saved, now)

    def register(self, body: Any, now: datetime) -> dict[str, Any]:
        config = new_config(body, now, self.settings)
        state = self._verified(config, ModelState(), now)
        state = replace(state, **fleet_priors(self.store, Model(config, state), self.settings))  # type: ignore[arg-type]
        state = with_next_due(config, state, now, self.settings)
        model = self.store.create(Model(config, state))
        self._event(model, now, "registered", model_arn=config.model_arn,
                    verified=state.verified_at is not None, request_format=format_in_use(config, state)[0])
        return view(self._dispatch(model, now), now, self.settings)

    def _verified(self, config: ModelConfig, state: ModelState, now: datetime) -> ModelState:
        """``state`` with what GetImportedModel says about the model. A model Bedrock does
        not know, or will not show us, is refused (RequestError); one the control plane
        could not be asked about is registered unverified, for the worker to check later:
        a registration must not fail because the control plane is briefly unreachable."""
        if self.control is None:
            return replace(state, unverified_reason="no Bedrock control-plane client to check it with")
        try:
            imported = self.control.describe(config)
        except ControlPlaneError as err:
            if err.reason == "not_found":
                raise RequestError("model_arn", f"no imported model {config.model_arn} exists (in account "
                                                f"{arn_account(config.model_arn)}, region {config.region}): "
                                                f"{err}") from None
            if err.reason == "access_denied" and config.role_arn:
                raise RequestError("role_arn", f"the role {config.role_arn} may not read {config.model_arn}: it "
                                               "needs bedrock:GetImportedModel on it (to check it) and "
                                               f"bedrock:InvokeModel (to call it); {err}") from None
            if err.reason == "access_denied":
                raise RequestError("model_arn", f"keepwarm may not read {config.model_arn}: its roles need "
                                                "bedrock:GetImportedModel on it (to check it) and "
                                                "bedrock:InvokeModel (to call it); a model in another account "
                                                f"needs role_arn; {err}") from None
            if err.reason == "role":
                raise RequestError("role_arn", str(err)) from None
            if err.reason == "refused":
                raise RequestError("model_arn", str(err)) from None
            return replace(state, unverified_reason=str(err))
        return replace(state, imported=imported, verified_at=now, unverified_reason=None)

    def check(self, key: Optional[str], body: Any, now: datetime) -> dict[str, Any]:
        """A dry run of a registration (``key`` None) or of a change to the model ``key``:
        the model as it would be stored, or the same 400 the real request would get.
        Writes nothing and does not ask Bedrock (registration still does)."""
        if key is None:
            config = new_config(body, now, self.settings)
            if self.store.find(config.name) is not None:
                raise ModelAlreadyExists("name", config.name)
            holder = self.store.find(config.model_arn)
            if holder is not None:
                raise ModelAlreadyExists("model_arn", config.model_arn, holder.name)
            return view(Model(config, with_next_due(config, ModelState(), now, self.settings)), now, self.settings)
        model = self.store.get(model_key(key))
        config = changed_config(model.config, body, now, self.settings)
        return view(Model(config, with_next_due(config, model.state, now, self.settings)), now, self.settings)

    def show(self, key: str, now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        shown = view(model, now, self.settings)
        # Money only where the units are known without asking Bedrock (GET .../cost asks).
        price = costs.price_for(model.config.region, self.settings.price_overrides)
        shown["state"]["month_to_date"] = self._month_to_date(
            model, now, model.config.custom_model_units, price).to_dict()
        return shown

    def update(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        def change(model: Model) -> Model:
            config = changed_config(model.config, body, now, self.settings)
            state = _replanned(model.state, retry_errors=True, now=now)
            if config.role != model.config.role:
                state = self._verified(config, state, now)  # the model as the new role sees it
            if "keepalive_minutes" in body or "release_minutes" in body:
                # The operator has spoken: what was learned gives way to it.
                state = replace(state, learned_keepalive_minutes=None, learned_release_minutes=None,
                                release_found_cold_minutes=None, keepalive_reason=None, region_prior_waived=True)
            if "request_format" in body or "request_body" in body:
                state = replace(state, format_confirmed=None, formats_refused=())
            if config.enabled and not model.config.enabled:
                # Resumed: the windows of the pause, and one open now, were not warmed.
                state = replace(state, readiness_until=now)
            return Model(config, state)

        saved = self._mutate(key, change, now)
        self._event(saved, now, "updated", fields=sorted(body))
        return view(saved, now, self.settings)

    def delete(self, key: str) -> None:
        model = self.store.get(model_key(key))
        self.store.delete(model.name)

    def windows(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        start = _query_instant(params, "from", now)
        days = query_int(params, "days", 7, 1, MAX_PREVIEW_DAYS)
        end = start + timedelta(days=days)
        return {
            "timezone": model.config.timezone,
            "from": iso(start),
            "to": iso(end),
            "windows": [_interval_view(i, end) for i in window_intervals(model.config, start, end)],
        }

    def events(self, key: str, params: Optional[dict[str, str]]) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        limit = query_int(params, "limit", 50, 1, 200)
        return {"events": self.store.events(model.name, limit, model.incarnation)}

    # -- leases ---------------------------------------------------------------------------
    def create_lease(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        if not isinstance(body, dict) or not set(body) <= {"minutes", "holder"}:
            raise RequestError("body", 'must be {"minutes": N} with an optional "holder"')
        if "minutes" not in body:
            raise RequestError("minutes", f"is required: how long to keep the model warm, 1 to {MAX_LEASE_MINUTES} "
                                          'minutes, e.g. {"minutes": 60}')
        minutes = _int(body, "minutes", 0, 1, MAX_LEASE_MINUTES)
        holder = body.get("holder")
        if holder is not None and (not isinstance(holder, str) or not 0 < len(holder) <= MAX_HOLDER_CHARS):
            raise RequestError("holder", f"must be a string of 1-{MAX_HOLDER_CHARS} characters")
        lease = Lease("l" + secrets.token_hex(6), now, now + timedelta(minutes=minutes), holder)

        def change(model: Model) -> Model:
            active = _active_leases(model.state, now)
            blocked = lease_blocker(model, now)
            if blocked:
                raise LeaseRefused(f"no lease taken: {blocked}")
            if len(active) >= MAX_ACTIVE_LEASES:
                raise LeaseRefused(f"{model.name} already has {len(active)} active leases "
                                   f"(at most {MAX_ACTIVE_LEASES}); release one first")
            state = _replanned(model.state, retry_errors=True, now=now)
            return replace(model, state=replace(state, leases=_remembered(state, now) + (lease,)))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "lease_created", lease=lease.id, minutes=minutes, holder=holder)
        shown = lease_view(saved, lease, now, self.settings)
        if shown["ready"]:  # taken on a warm model: the batch job may start at once
            self._event(saved, now, "lease_ready", lease=lease.id, holder=holder)
        return shown

    def _lease(self, model: Model, lease_id: str, now: datetime) -> Lease:
        """The active lease ``lease_id``; LeaseGone if it expired or was released (ended
        leases are remembered for LEASE_MEMORY), LeaseNotFound if the model never had it."""
        for lease in model.state.leases:
            if lease.id == lease_id:
                if lease.expires_at <= now:
                    how = "was released" if lease.released else "expired"
                    raise LeaseGone(f"lease {lease_id} of {model.name} {how} at {iso(lease.expires_at)}")
                return lease
        days = LEASE_MEMORY.days
        raise LeaseNotFound(f"{model.name} has no lease {lease_id!r}: none with that id was taken on it in the "
                            f"last {days} days (check the model and the id)")

    def lease(self, key: str, lease_id: str, now: datetime) -> dict[str, Any]:
        lease_id = lease_key(lease_id)
        model = self.store.get(model_key(key))
        return lease_view(model, self._lease(model, lease_id, now), now, self.settings)

    def leases(self, key: str, now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        return {"leases": [lease_view(model, lease, now, self.settings)
                           for lease in _active_leases(model.state, now)]}

    def release_lease(self, key: str, lease_id: str, now: datetime) -> None:
        lease_id = lease_key(lease_id)

        def change(model: Model) -> Model:
            self._lease(model, lease_id, now)
            # Kept, ended now, so that releasing it again says it is over.
            kept = tuple(replace(lease, expires_at=now, released=True, expiry_told=True) if lease.id == lease_id
                         else lease for lease in _remembered(model.state, now))
            return replace(model, state=replace(_replanned(model.state, retry_errors=False, now=now), leases=kept))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "lease_released", lease=lease_id)

    # -- overrides --------------------------------------------------------------------------
    def set_override(self, key: str, body: Any, now: datetime) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"state", "until"}:
            raise RequestError("body", 'must be {"state": "warm" | "cold", "until": <ISO 8601>}')
        if body["state"] not in ("warm", "cold"):
            raise RequestError("state", f"must be warm or cold, got {str(body['state'])[:40]!r}")
        until = _instant(body["until"], "until")
        latest = now + timedelta(days=MAX_OVERRIDE_DAYS)
        if until <= now:
            raise RequestError("until", f"must be in the future (after {iso(now)}), got {iso(until)}")
        if until > latest:
            raise RequestError("until", f"must be at most {MAX_OVERRIDE_DAYS} days away (no later than "
                                        f"{iso(latest)}), got {iso(until)}")
        override = Override(body["state"], until, now)

        def change(model: Model) -> Model:
            state = _replanned(model.state, retry_errors=override.state == "warm", now=now)
            return replace(model, state=replace(state, override=override))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "override_set", state=override.state, until=iso(until))
        return view(saved, now, self.settings)

    def clear_override(self, key: str, now: datetime) -> None:
        def change(model: Model) -> Model:
            return replace(model, state=replace(_replanned(model.state, retry_errors=False, now=now), override=None))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "override_cleared")

    # -- probe --------------------------------------------------------------------------------
    def probe(self, key: str, body: Any, now: datetime) -> tuple[dict[str, Any], bool]:
        """Start measuring the model's release, cold answer, load and warm latency (or, with
        ``dry_run``, only say what that would do and cost): the answer, and whether it
        started. Refused (409, naming why) while anything else holds the model or would
        before the probe can finish."""
        body = {} if body is None else body
        if not isinstance(body, dict) or not set(body) <= {"dry_run", "gaps_minutes"}:
            raise RequestError("body", 'must be {} or {"dry_run": true, "gaps_minutes": [4, 8, 16, 32, 64]} '
                                       "(both optional)")
        dry_run = _bool(body, "dry_run", False)
        gaps = _gaps(body.get("gaps_minutes", list(probing.DEFAULT_GAPS_MINUTES)))
        model = self.store.get(model_key(key))

        def refusal(current: Model) -> Optional[str]:
            lead = prewarm_lead(current.config, current.state, self.settings)
            return probing.blocker(current.config, current.state, now, lead, gaps, self.settings)

        price = costs.price_for(model.config.region, self.settings.price_overrides)
        plan = probing.plan(model.config, gaps, model_cmus(model.config, model.state),
                            price.per_cmu_minute if price else None, now, self.settings)
        why = refusal(model)
        if why is not None:
            raise ProbeRefused(f"no probe started: {why}")
        if dry_run:
            return {"model": model.name, "dry_run": True, "plan": plan, "probe": None}, False

        def change(current: Model) -> Model:
            blocked = refusal(current)
            if blocked is not None:
                raise ProbeRefused(f"no probe started: {blocked}")
            return replace(current, state=replace(drop_claim(current.state), probe=probing.started(gaps, now)))

        saved = self._mutate(key, change, now)
        self._event(saved, now, "probe_started", **plan)
        return {"model": saved.name, "dry_run": False, "plan": plan,
                "probe": probing.view(saved.state.probe, saved.config)}, True

    # -- cost ---------------------------------------------------------------------------------
    def cost(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        model = self.store.get(model_key(key))
        config, state = model.config, model.state
        days = query_int(params, "days", 30, 1, MAX_COST_DAYS)
        start = _query_instant(params, "from", now)
        cmus, source = self._units(config)
        estimate = schedule_cost(config, state, start, days, cmus, self.settings)
        price = estimate.price
        rest = costs.loaded_periods(held_windows(config, now, costs.month_end(now)),
                                    **holding(config, state, self.settings))
        return {"model": model.name, "region": config.region, "custom_model_units_source": source,
                **estimate.to_dict(),
                "month_to_date": self._month_to_date(model, now, cmus, price, rest).to_dict(),
                "paused": not config.enabled,
                "note": (f"{model.name} is paused (enabled: false): keepwarm makes no calls, so its windows "
                         f"project nothing; PUT /models/{model.name} with {{\"enabled\": true}} resumes them"
                         if not config.enabled else None),
                "hint": price_hint(config, price)}

    def _units(self, config: ModelConfig) -> tuple[int, str]:
        """The model's CMUs per copy, and where they come from (its setting, else Bedrock)."""
        if config.custom_model_units is not None:
            return config.custom_model_units, "setting custom_model_units"
        if self.control is None:
            raise costs.CostError("no Bedrock client to read the model's custom model units; "
                                  "set custom_model_units on the model")
        return custom_model_units(self.control.client(config), config.model_arn), "GetImportedModel"

    # -- suggestion -------------------------------------------------------------------------
    def suggestion(self, key: str, params: Optional[dict[str, str]], now: datetime) -> dict[str, Any]:
        """Windows that would have covered the model's real requests over the past weeks,
        priced by the rules of ``cost``. Changes nothing."""
        model = self.store.get(model_key(key))
        config, state = model.config, model.state
        weeks = query_int(params, "weeks", 4, 1, MAX_SUGGEST_WEEKS)
        kept = self.settings.event_ttl_days
        if weeks * 7 > kept:
            raise RequestError("weeks", f"at most {kept // 7} with KEEPWARM_EVENT_TTL_DAYS={kept}: keepwarm's own "
                                        f"calls are known for {kept} days, and older ones would count as traffic")
        coverage = query_share(params, "coverage", 0.99)
        if self.traffic is None:
            raise traffic.TrafficError("no CloudWatch client to read the model's invocations", "unreachable")
        end = traffic.hour_of(now)
        start = end - timedelta(weeks=weeks)
        counts, dimension = traffic.read_invocations(self.traffic.client(config), config.model_arn, start, end)
        events = self.store.events_since(model.name, start, limit=MAX_SUGGEST_EVENTS, incarnation=model.incarnation)
        if len(events) >= MAX_SUGGEST_EVENTS:
            raise RequestError("weeks", f"keepwarm recorded over {MAX_SUGGEST_EVENTS} events for the model in "
                                        f"{weeks} weeks; ask for fewer weeks")
        own = traffic.own_calls(events)
        theirs = traffic.less_own_calls(counts, own)
        # The planner's own days: no window opens on an excluded date or a holiday.
        excluded = exclusions(config)
        found = suggest.suggest(theirs, config.timezone, start, end, coverage, excluded)
        cmus, source = self._units(config)
        # Schedules compared as they would run: a paused model's too.
        config = replace(config, enabled=True)
        today = schedule_cost(config, state, now, COST_DAYS, cmus, self.settings)
        proposed = None
        if found.windows is not None:
            proposed = schedule_cost(replace(config, windows=found.windows), state, now, COST_DAYS, cmus, self.settings)
            if not found.always_on and proposed.billed_minutes >= proposed.always_warm_minutes:
                found = suggest.always_on(found, "the windows would cost as much as keeping it warm always",
                                          suggest.covered_requests(suggest.ALWAYS_ON, config.timezone, theirs,
                                                                   start, end, excluded))
                proposed = schedule_cost(replace(config, windows=found.windows), state, now, COST_DAYS, cmus,
                                         self.settings)

        def priced(estimate: Optional[costs.CostEstimate], always: bool = False) -> Optional[dict[str, Any]]:
            if estimate is None:
                return None
            if always:
                return {"billed_minutes": estimate.always_warm_minutes, "cost": estimate.always_warm_cost}
            return {"windows": estimate.windows, "billed_minutes": estimate.billed_minutes, "cost": estimate.cost}

        return {
            "model": model.name, "timezone": config.timezone, "weeks": weeks, "coverage": coverage,
            "from": iso(start), "to": iso(end),
            "metric": {"namespace": traffic.NAMESPACE, "name": traffic.METRIC, "statistic": "Sum",
                       "period_seconds": traffic.PERIOD_SECONDS, "dimension": traffic.DIMENSION,
                       "value": dimension},
            "enough_data": found.enough_data, "reason": found.reason, "always_on": found.always_on,
            "windows": found.windows,
            "requests": found.requests, "own_calls": sum(own.values()),
            "excluded_requests": found.excluded_requests,
            "covered_requests": found.covered_requests if found.enough_data else None,
            "covered_share": found.covered_share if found.enough_data else None,
            "cold_requests": found.cold_requests if found.enough_data else None,
            "cost": {"days": COST_DAYS, "from": iso(now), "custom_model_units": cmus,
                     "custom_model_units_source": source,
                     "price": today.price.to_dict() if today.price is not None else None, "currency": "USD",
                     "suggested": priced(proposed), "current": priced(today), "always_on": priced(today, always=True),
                     "storage_cost": today.storage_cost},
            "hint": price_hint(config, today.price),
        }

    def _month_to_date(self, model: Model, now: datetime, cmus: Optional[int], price: Optional[costs.Price],
                       rest: Optional[list[costs.Period]] = None) -> costs.MonthToDate:
        """The warm spans keepwarm held this month, billed so far (and, given ``rest``, the
        month's projected total)."""
        spans = self.store.warm_spans(model.name, costs.month_start(now), now, model.incarnation)
        return costs.month_to_date([costs.Period(s.start, s.end) for s in spans], now=now,
                                   custom_model_units=cmus, price=price, rest=rest)



def utcnow() -> datetime:
    return datetime.now(timezone.utc)
