"""keepwarm: keeps Amazon Bedrock imported models warm on schedule.

Wiring only: routes read the request and call chalicelib.api; ``tick`` (every minute)
claims due calls and queues them; ``worker`` makes each call and records it.
"""
from __future__ import annotations

import os
from typing import Any

from chalice import Chalice, IAMAuthorizer, Rate, Response

from chalicelib import fleet, fleetpage
from chalicelib.api import http_errors
from chalicelib.delivery import WORKER_BATCH, handle_batch
from chalicelib.inputs import parse_body
from chalicelib.logs import lambda_context
from chalicelib.openapi import DOCUMENT
from chalicelib.records import parse_iso
from chalicelib.runtime import get_runtime
from chalicelib.telemetry import flush_metrics, run_tick

app = Chalice(app_name="keepwarm")
# Every handler's log lines carry its Lambda request id, and the metrics it made are
# written (as EMF log lines) when it returns.
app.register_middleware(lambda_context)
app.register_middleware(flush_metrics)

# Every route of a deployed stage needs SigV4-signed requests from an IAM principal
# allowed execute-api:Invoke. (chalice local and the test client do not check it; the
# local stack listens on loopback only.)
iam = IAMAuthorizer()

# The queue's name is needed when the app is packaged, before any Lambda environment
# exists; the deployment template creates the queue under the same name.
QUEUE_NAME = os.environ.get("KEEPWARM_QUEUE_NAME", "keepwarm-work")


# Routes that take a body read it whatever its Content-Type (curl users forget -H).
BODY = ["*/*"]


def _query() -> dict[str, str]:
    return app.current_request.query_params or {}


def _query_lists() -> dict[str, str]:
    """The query, with a parameter given more than once joined by commas
    (``?status=warm&status=error`` is ``status=warm,error``)."""
    params = app.current_request.query_params
    if not params:
        return {}
    return {name: ",".join(params.getlist(name)) for name in params}


def _body() -> Any:
    """The request's JSON body; call inside ``http_errors`` (bad JSON is a 400)."""
    return parse_body(app.current_request.raw_body)


def _dry_run() -> bool:
    """``?dry_run=true``: check the request and answer what would be stored, writing nothing."""
    return bool(fleet.flag(_query(), "dry_run"))  # inside the route's http_errors


@app.route("/models", methods=["POST"], authorizer=iam, content_types=BODY)
def register_model() -> Response:
    rt = get_runtime()
    with http_errors():
        if _dry_run():
            return Response(body=rt.api.check(None, _body(), rt.clock()), status_code=200)
        body = rt.api.register(_body(), rt.clock())
    return Response(body=body, status_code=201)


@app.route("/models", methods=["GET"], authorizer=iam)
def list_models() -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return fleet.list_models(rt.store, rt.settings, _query_lists(), rt.clock())


@app.route("/fleet", methods=["GET"], authorizer=iam)
def fleet_summary() -> dict[str, Any]:
    rt = get_runtime()
    now = rt.clock()
    with http_errors():
        return fleet.summary(fleet.read_fleet(rt.store, rt.settings, now), now)


@app.route("/status", methods=["GET"], authorizer=iam)
def status_page() -> Response:
    """The fleet page (as the dashboard's widget shows it), refreshing itself."""
    rt = get_runtime()
    with http_errors():
        page = fleetpage.render_page(rt.store, rt.settings, rt.clock(), refresh_seconds=fleetpage.REFRESH_SECONDS)
    return Response(body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/favicon.ico", methods=["GET"], authorizer=iam)
def favicon() -> Response:
    """The fleet page's icon, for browsers that ask for it whatever the page says."""
    return Response(body=fleetpage.FAVICON_SVG, status_code=200,
                    headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"})


@app.route("/models/{model}", methods=["GET"], authorizer=iam)
def show_model(model: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return rt.api.show(model, rt.clock())


@app.route("/models/{model}", methods=["PUT"], authorizer=iam, content_types=BODY)
def update_model(model: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        if _dry_run():
            return rt.api.check(model, _body(), rt.clock())
        return rt.api.update(model, _body(), rt.clock())


@app.route("/models/{model}", methods=["DELETE"], authorizer=iam)
def delete_model(model: str) -> Response:
    with http_errors():
        get_runtime().api.delete(model)
    return Response(body="", status_code=204)


@app.route("/models/{model}/windows", methods=["GET"], authorizer=iam)
def model_windows(model: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return rt.api.windows(model, _query(), rt.clock())


@app.route("/models/{model}/events", methods=["GET"], authorizer=iam)
def model_events(model: str) -> dict[str, Any]:
    with http_errors():
        return get_runtime().api.events(model, _query())


@app.route("/models/{model}/leases", methods=["POST"], authorizer=iam, content_types=BODY)
def create_lease(model: str) -> Response:
    rt = get_runtime()
    with http_errors():
        body = rt.api.create_lease(model, _body(), rt.clock())
    return Response(body=body, status_code=201)


@app.route("/models/{model}/leases", methods=["GET"], authorizer=iam)
def list_leases(model: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return rt.api.leases(model, rt.clock())


@app.route("/models/{model}/leases/{lease}", methods=["GET"], authorizer=iam)
def show_lease(model: str, lease: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return rt.api.lease(model, lease, rt.clock())


@app.route("/models/{model}/leases/{lease}", methods=["DELETE"], authorizer=iam)
def release_lease(model: str, lease: str) -> Response:
    rt = get_runtime()
    with http_errors():
        rt.api.release_lease(model, lease, rt.clock())
    return Response(body="", status_code=204)


@app.route("/models/{model}/override", methods=["PUT"], authorizer=iam, content_types=BODY)
def set_override(model: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return rt.api.set_override(model, _body(), rt.clock())


@app.route("/models/{model}/override", methods=["DELETE"], authorizer=iam)
def clear_override(model: str) -> Response:
    rt = get_runtime()
    with http_errors():
        rt.api.clear_override(model, rt.clock())
    return Response(body="", status_code=204)


@app.route("/models/{model}/cost", methods=["GET"], authorizer=iam)
def model_cost(model: str) -> dict[str, Any]:
    rt = get_runtime()
    with http_errors():
        return rt.api.cost(model, _query(), rt.clock())


@app.route("/models/{model}/suggestion", methods=["GET"], authorizer=iam)
def model_suggestion(model: str) -> dict[str, Any]:
    """Windows that would have covered the model's real traffic, priced; changes nothing."""
    rt = get_runtime()
    with http_errors():
        return rt.api.suggestion(model, _query(), rt.clock())


@app.route("/models/{model}/probe", methods=["POST"], authorizer=iam, content_types=BODY)
def probe_model(model: str) -> Response:
    """Measure the model's release, cold answer, load and warm latency outside its windows
    (``{"dry_run": true}``: only the plan and its worst-case cost)."""
    rt = get_runtime()
    with http_errors():
        raw = app.current_request.raw_body
        body, started = rt.api.probe(model, _body() if raw else None, rt.clock())
    return Response(body=body, status_code=202 if started else 200)


@app.route("/openapi.json", methods=["GET"], authorizer=iam)
def openapi() -> dict[str, Any]:
    return DOCUMENT


@app.lambda_function(name="fleet_widget")
def fleet_widget(event: Any, context: Any) -> str:
    """The CloudWatch dashboard's custom widget: the fleet page as HTML (the console renders
    it, with its own sign-in); with ``describe``, the widget's documentation."""
    if isinstance(event, dict) and event.get("describe"):
        return fleetpage.WIDGET_DOCS
    rt = get_runtime()
    return fleetpage.render_widget(rt.store, rt.settings, rt.clock(), event)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, int]:
    # The event's own time, not the clock: a replayed or late event plans the same.
    now = parse_iso(event.time)
    rt = get_runtime()
    return vars(run_tick(rt.ticker.run, now, rt.clock, rt.store.error_count))  # type: ignore[arg-type]


@app.on_sqs_message(queue=QUEUE_NAME, batch_size=WORKER_BATCH, name="worker")
def worker(event: Any) -> dict[str, list[dict[str, str]]]:
    # Names the messages that failed; the package turns on ReportBatchItemFailures for
    # this event source, so SQS redelivers those alone (Chalice cannot ask for it).
    return handle_batch(get_runtime().worker, [record.to_dict() for record in event])
