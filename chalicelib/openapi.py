"""The API's OpenAPI 3 document, served at ``GET /openapi.json``.

Written by hand because Chalice's generated Swagger knows the routes but not the bodies;
a test checks that every route of the app is described here and nothing else is.
"""
from __future__ import annotations

from typing import Any

from chalicelib.fleet import STATUSES
from chalicelib.inputs import (
    MAX_ACTIVE_LEASES,
    MAX_COST_DAYS,
    MAX_CUSTOM_MODEL_UNITS,
    MAX_EXCLUDE_DATES,
    MAX_HOLDER_CHARS,
    MAX_KEEPALIVE_MINUTES,
    MAX_LEASE_MINUTES,
    MAX_PAGE,
    MAX_PREVIEW_DAYS,
    MAX_RELEASE_MINUTES,
    MAX_REQUEST_BODY_BYTES,
    MAX_REQUEST_BODY_DEPTH,
    MAX_STORED_DIGITS,
    MAX_SUGGEST_WEEKS,
    MIN_RELEASE_MINUTES,
    MIN_STORED_MAGNITUDE,
)
from chalicelib.probe import DEFAULT_GAPS_MINUTES, MAX_GAP_MINUTES, MAX_GAPS
from chalicelib.records import ARN_PARTS, NAME_RE, READINESS_KEPT, REQUEST_FORMATS, ROLE_NAME
from chalicelib.schedule import MAX_WINDOWS
from chalicelib.settings import Settings

ISO = {"type": "string", "format": "date-time", "example": "2026-03-09T09:00:00Z"}
MAYBE_ISO = {**ISO, "nullable": True}
MONEY = {"type": "number", "nullable": True, "description": "USD, to the cent"}
MODEL = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "the model's name, or its URL-encoded ARN"}
LEASE = {"name": "lease", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^l[0-9a-f]{12}$", "example": "l3f9a0c1b2d4e"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _links(**targets: tuple[str, str, dict[str, str]]) -> dict[str, Any]:
    """OpenAPI links, by name: the operation (path, method) a response leads to, and the
    runtime expressions that fill its path parameters."""
    return {"links": {name: {"operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method,
                             "parameters": parameters}
                      for name, (path, method, parameters) in targets.items()}}


# What a new model's 201 leads to: the model by the name it was given (or took from its ARN).
NEW_MODEL = {"model": "$response.body#/name"}
MODEL_LINKS = _links(show=("/models/{model}", "get", NEW_MODEL), change=("/models/{model}", "put", NEW_MODEL),
                     remove=("/models/{model}", "delete", NEW_MODEL),
                     lease=("/models/{model}/leases", "post", NEW_MODEL))
# What a new lease's 201 leads to: the lease, on the model it was taken on.
NEW_LEASE = {"model": "$request.path.model", "lease": "$response.body#/id"}
LEASE_LINKS = _links(show=("/models/{model}/leases/{lease}", "get", NEW_LEASE),
                     release=("/models/{model}/leases/{lease}", "delete", NEW_LEASE))

ERRORS = {"400": _json(_ref("Error"), "bad input: Message starts with the field at fault"),
          "404": _json(_ref("Error"), "no such model (or lease)")}
QUERY_FROM = {"name": "from", "in": "query", "schema": ISO}
DRY_RUN = {"name": "dry_run", "in": "query", "schema": {"type": "boolean", "default": False},
           "description": "true: check the request whole and answer the model as it would be stored, "
                          "writing nothing (the same 400, 404 or 409 as the real request)"}


def _days(default: int, high: int) -> dict[str, Any]:
    return {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": high,
                                                      "default": default}}


WINDOW = {"oneOf": [
    {"type": "object", "additionalProperties": False, "required": ["start", "stop"], "properties": {
        "days": {"type": "string", "example": "MON-FRI", "description": "day names, ranges, lists or *"},
        "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "09:00"},
        "stop": {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", "example": "18:00",
                 "description": "24:00 is the end of the day"}}},
    {"type": "object", "additionalProperties": False, "required": ["warm", "stop"], "properties": {
        "warm": {"type": "string", "example": "0 9 * * MON-FRI", "description": "5-field cron"},
        "stop": {"type": "string", "example": "0 18 * * MON-FRI"}}},
]}
CONFIG_FIELDS: dict[str, Any] = {
    "timezone": {"type": "string", "default": "UTC", "example": "Asia/Shanghai"},
    "windows": {"type": "array", "minItems": 1, "maxItems": MAX_WINDOWS, "items": WINDOW},
    "keepalive_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_KEEPALIVE_MINUTES,
                          "default": Settings.default_keepalive_minutes},
    "release_minutes": {"type": "integer", "minimum": MIN_RELEASE_MINUTES, "maximum": MAX_RELEASE_MINUTES,
                        "default": Settings.default_release_minutes},
    "enabled": {"type": "boolean", "default": True},
    "billing_aware_prewarm": {"type": "boolean", "default": True,
                              "description": "trigger the load early and hold the first call that can "
                                             "succeed (which starts the bill) until just before the open"},
    "request_format": {"type": "string", "enum": list(REQUEST_FORMATS), "default": "auto",
                       "description": "auto: chosen from GetImportedModel (architecture, import date, "
                                      "instructSupported), then from the model's answers"},
    "request_body": {"type": "object", "nullable": True, "minProperties": 1,
                     "description": f"with request_format custom: at most {MAX_REQUEST_BODY_BYTES} bytes as JSON, "
                                    f"at most {MAX_REQUEST_BODY_DEPTH} levels of objects and lists, no empty "
                                    f"keys; numbers finite, whole ones of at most {MAX_STORED_DIGITS} digits, "
                                    f"others 0 or from {MIN_STORED_MAGNITUDE} to below 1e{MAX_STORED_DIGITS} "
                                    "in magnitude (what DynamoDB stores)"},
    "exclude_dates": {"type": "array", "maxItems": MAX_EXCLUDE_DATES,
                      "items": {"type": "string", "format": "date"}},
    "holidays": {"type": "object", "nullable": True, "required": ["country"], "additionalProperties": False,
                 "properties": {"country": {"type": "string", "example": "GB",
                                            "description": "ISO 3166 alpha-2 in capitals, as the holidays "
                                                           "package's list_supported_countries() has it"},
                                "subdiv": {"type": "string", "example": "ENG",
                                           "description": "one of that country's subdivision codes"}}},
    "custom_model_units": {"type": "integer", "minimum": 1, "maximum": MAX_CUSTOM_MODEL_UNITS, "nullable": True},
    "role_arn": {"type": "string", "nullable": True, "example": "arn:aws:iam::111122223333:role/keepwarm-target",
                 "pattern": f"^arn:{ARN_PARTS['partition']}:iam::{ARN_PARTS['account']}:role/{ROLE_NAME}$",
                 "description": "a role in the model's account that keepwarm assumes to read and call it; it "
                                "must match the operator's KEEPWARM_ASSUME_ROLE_PATTERN"},
    "external_id": {"type": "string", "nullable": True, "minLength": 2, "maxLength": 1224,
                    "pattern": "^[\\w+=,.@:/-]+$", "description": "the external id the role's trust policy asks for"},
}
# The validator's own parts, so the two cannot drift ($ ends the input in the document's regex dialect).
ARN = {"type": "string", "example": "arn:aws:bedrock:us-west-2:123456789012:imported-model/km5b98xhpqel",
       "pattern": f"^arn:{ARN_PARTS['partition']}:bedrock:{ARN_PARTS['region']}:{ARN_PARTS['account']}:"
                  f"imported-model/{ARN_PARTS['model_id']}$"}
NAME = {"type": "string", "pattern": NAME_RE.pattern.replace("\\Z", "$")}

SCHEMAS: dict[str, Any] = {
    "Registration": {"type": "object", "additionalProperties": False, "required": ["model_arn", "windows"],
                     "properties": {"model_arn": ARN, "name": NAME, **CONFIG_FIELDS}},
    "Change": {"type": "object", "additionalProperties": False,
               "description": "fields left out keep their value; model_arn and name cannot change",
               "properties": {"model_arn": ARN, "name": NAME, **CONFIG_FIELDS}},
    "MonthToDate": {
        "type": "object",
        "description": "the copies keepwarm held this calendar month (UTC), each from its first success to "
                       "its assumed release, billed so far in whole 5-minute windows; money is null without "
                       "the custom model units (GET /models/{model}/cost reads them) or a price",
        "properties": {
            "start": ISO, "until": ISO, "warm_spans": {"type": "integer"}, "warm_minutes": {"type": "number"},
            "billed_minutes": {"type": "integer"}, "cost": MONEY,
            "projected_minutes": {"type": "integer", "nullable": True,
                                  "description": "billed so far plus what the rest of the month's windows load"},
            "projected_cost": MONEY}},
    "Model": {"type": "object", "properties": {
        "model_arn": ARN, "name": NAME, **CONFIG_FIELDS, "created_at": ISO, "updated_at": ISO,
        "state": {"type": "object", "properties": {
            "status": {"type": "string", "enum": ["cold", "warming", "warm", "error"]},
            "ready": {"type": "boolean"}, "window_open": {"type": "boolean"},
            "last_success_at": MAYBE_ISO, "last_call_at": MAYBE_ISO, "warming_since": MAYBE_ISO,
            "next_action": {"type": "object", "nullable": True, "properties": {
                "kind": {"type": "string", "enum": ["prewarm", "ready_check", "warmup", "keepalive", "poll",
                                                    "probe"]}, "at": ISO}},
            "error": {"type": "string", "nullable": True},
            "keepalive_minutes_in_force": {"type": "integer"}, "release_minutes_assumed": {"type": "integer"},
            "keepalive_reason": {"type": "string", "nullable": True},
            "release_learning": {
                "type": "object", "description": "idle gaps (minutes) after which a copy was found cold (this "
                                                 "model; any model of its region) or still answered warm",
                "properties": {
                    "found_cold_after_minutes": {"type": "number", "nullable": True},
                    "proven_safe_minutes": {"type": "number", "nullable": True},
                    "region_found_cold_after_minutes": {"type": "number", "nullable": True}}},
            "warm_latency": {
                "type": "object", "description": "a loaded copy's one-token answer time, from recent warm "
                                                 "answers; an answer slower than cold_above_ms met a cold copy",
                "properties": {
                    "p50_ms": {"type": "integer", "nullable": True}, "p95_ms": {"type": "integer", "nullable": True},
                    "samples": {"type": "integer"}, "cold_above_ms": {"type": "integer"}}},
            "prewarm_lead_seconds": {"type": "number"},
            "prewarm": {"type": "object", "nullable": True, "properties": {
                "billing_aware": {"type": "boolean"}, "load_at": ISO, "ready_check_at": {**ISO, "nullable": True},
                "opens_at": ISO, "why": {"type": "string"}}},
            "cold_starts": {"type": "object", "properties": {
                "count": {"type": "integer"}, "exact": {"type": "integer"}, "bounded": {"type": "integer"},
                "last_seconds": {"type": "number", "nullable": True},
                "p50_seconds": {"type": "number", "nullable": True},
                "p95_seconds": {"type": "number", "nullable": True},
                "typical_seconds": {"type": "number"}, "prior": {"type": "string"}}},
            "leases": {"type": "array", "items": _ref("Lease")},
            "month_to_date": _ref("MonthToDate"),
            "override": {"type": "object", "nullable": True},
            "verification": {
                "type": "object", "description": "what GetImportedModel said about the model; an "
                                                 "unverified one is checked by the worker before its next call",
                "properties": {
                    "status": {"type": "string", "enum": ["verified", "unverified"]},
                    "checked_at": {**ISO, "nullable": True},
                    "reason": {"type": "string", "nullable": True},
                    "next_check_at": {**ISO, "nullable": True},
                    "architecture": {"type": "string", "nullable": True},
                    "imported_at": {**ISO, "nullable": True},
                    "instruct_supported": {"type": "boolean", "nullable": True},
                    "custom_model_units": {"type": "integer", "nullable": True}}},
            "request_format": {
                "type": "object", "description": "the body the next call sends",
                "properties": {
                    "in_use": {"type": "string", "enum": [f for f in REQUEST_FORMATS if f != "auto"]},
                    "why": {"type": "string"},
                    "accepted": {"type": "boolean", "nullable": True,
                                 "description": "with auto: whether the model has answered this body"},
                    "refused": {"type": "array", "items": {"type": "string"}}}},
            "probe": _ref("Probe")}},
        "readiness": {
            "type": "object", "description": "how ready the model was at its latest window openings, from "
                                             "what its calls proved, each judged shortly after its close",
            "properties": {"recent": {"type": "array", "maxItems": READINESS_KEPT, "items": _ref("WindowRecord"),
                                      "description": "newest first"},
                           "summary": _ref("ReadinessSummary")}}}},
    "WindowRecord": {"type": "object", "properties": {
        "window_open": ISO, "window_close": ISO,
        "ready_at_open": {"type": "boolean", "description": "a copy verified warm at the open"},
        "late_seconds": {"type": "number", "nullable": True, "minimum": 0,
                         "description": "0 when ready at the open; null: never verified warm in the window"},
        "verified_warm_minutes": {"type": "number", "minimum": 0},
        "verified_share": {"type": "number", "minimum": 0, "maximum": 1},
        "unexpected_cold": {"type": "integer", "minimum": 0}, "cold_starts": {"type": "integer", "minimum": 0}}},
    "ReadinessSummary": {"type": "object", "description": "the records of windows closed in the last 7 days",
                         "properties": {
                             "openings": {"type": "integer", "minimum": 0},
                             "ready_at_open": {"type": "integer", "minimum": 0},
                             "late_seconds_max": {"type": "number", "nullable": True,
                                                  "description": "a window never verified warm counts late "
                                                                 "its whole length"},
                             "verified_share": {"type": "number", "nullable": True, "minimum": 0, "maximum": 1}}},
    "ProbeRequest": {"type": "object", "additionalProperties": False, "properties": {
        "dry_run": {"type": "boolean", "default": False,
                    "description": "only the plan and its worst-case cost; nothing changes"},
        "gaps_minutes": {"type": "array", "minItems": 1, "maxItems": MAX_GAPS, "default": list(DEFAULT_GAPS_MINUTES),
                         "description": "idle gaps to try, each longer than the one before",
                         "items": {"type": "integer", "minimum": 1, "maximum": MAX_GAP_MINUTES}}}},
    "ProbePlan": {"type": "object", "properties": {
        "gaps_minutes": {"type": "array", "items": {"type": "integer"}}, "warm_samples": {"type": "integer"},
        "finishes_by": {**ISO, "description": "the latest the probe can end"},
        "copy_minutes_max": {"type": "integer", "description": "worst case, billed copy-minutes"},
        "custom_model_units": {"type": "integer", "nullable": True},
        "cmu_minutes_max": {"type": "integer", "nullable": True}, "cost_max": MONEY, "why": {"type": "string"}}},
    "Probe": {"type": "object", "nullable": True,
              "description": "the model's running or last probe (POST /models/{model}/probe); null: never probed",
              "properties": {
                  "status": {"type": "string", "enum": ["running", "done", "aborted"]},
                  "started_at": ISO, "finished_at": MAYBE_ISO,
                  "reason": {"type": "string", "nullable": True,
                             "description": "why it was aborted, or what it concluded"},
                  "gaps_minutes": {"type": "array", "items": {"type": "integer"}},
                  "phase": {"type": "string", "nullable": True, "enum": ["load", "sample", "gap", "final", None]},
                  "next_gap_minutes": {"type": "integer", "nullable": True},
                  "polls": {"type": "integer"},
                  "steps": {"type": "array", "items": {"type": "object", "properties": {
                      "at": ISO, "phase": {"type": "string"}, "outcome": {"type": "string"},
                      "code": {"type": "string", "nullable": True}, "latency_ms": {"type": "integer"},
                      "found": {"type": "string", "enum": ["warm", "cold", "loading", "none"]},
                      "gap_minutes": {"type": "number", "nullable": True}}}},
                  "findings": {"type": "object", "properties": {
                      "release_minutes": {"type": "object", "properties": {
                          "more_than": {"type": "number", "nullable": True,
                                        "description": "a copy idle this long still answered warm"},
                          "at_most": {"type": "number", "nullable": True,
                                      "description": "a copy idle this long had been released"}}},
                      "cold_answer": {"type": "string", "nullable": True, "enum": ["429", "held", None]},
                      "load_seconds": {"type": "array", "items": {"type": "number"}},
                      "warm_latency_ms": {"type": "object", "properties": {
                          "median": {"type": "number", "nullable": True}, "max": {"type": "number", "nullable": True},
                          "samples": {"type": "integer"}}}}},
                  "learned": {"type": "object", "nullable": True, "properties": {
                      "release_minutes": {"type": "integer", "nullable": True},
                      "keepalive_minutes": {"type": "integer", "nullable": True}}}}},
    "ProbeAnswer": {"type": "object", "properties": {
        "model": NAME, "dry_run": {"type": "boolean"}, "plan": _ref("ProbePlan"),
        "probe": _ref("Probe")}},
    "LeaseRequest": {"type": "object", "additionalProperties": False, "required": ["minutes"], "properties": {
        "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_LEASE_MINUTES},
        "holder": {"type": "string", "minLength": 1, "maxLength": MAX_HOLDER_CHARS}}},
    "Lease": {"type": "object", "properties": {
        "id": {"type": "string"}, "model": NAME, "holder": {"type": "string", "nullable": True},
        "created_at": ISO, "expires_at": ISO, "active": {"type": "boolean"}, "ready": {"type": "boolean"},
        "status": {"type": "string"},
        "expected_ready_at": {**MAYBE_ISO, "description": "null while blocked"},
        "blocked": {"type": "string", "nullable": True,
                    "description": "why the model will not be warmed for this lease now (paused, or a cold "
                                   "override until an instant) and how to lift it; null otherwise"},
        "error": {"type": "string", "nullable": True},
        "error_at": {**MAYBE_ISO, "description": "when an answer last gave the error: after the lease's "
                                                 "created_at, the verification call failed again"},
        "verify_at": {**MAYBE_ISO, "description": "when the call that verifies the error goes out (a lease "
                                                  "or a change asks for it; only an answer clears an error)"}}},
    "Override": {"type": "object", "additionalProperties": False, "required": ["state", "until"], "properties": {
        "state": {"type": "string", "enum": ["warm", "cold"]}, "until": ISO}},
    "Cost": {"type": "object", "description": "money figures are null where no price is known for the region",
             "properties": {
                 "model": NAME, "region": {"type": "string"}, "custom_model_units_source": {"type": "string"},
                 "days": {"type": "integer"}, "start": ISO, "end": ISO, "windows": {"type": "integer"},
                 "window_minutes": {"type": "number"}, "billed_minutes": {"type": "integer"},
                 "custom_model_units": {"type": "integer"},
                 "price": {"type": "object", "nullable": True, "properties": {
                     "per_cmu_minute": {"type": "number"}, "source": {"type": "string"}}},
                 "cost": MONEY, "always_warm_minutes": {"type": "integer"}, "always_warm_cost": MONEY,
                 "saving": MONEY, "saving_percent": {"type": "number", "nullable": True}, "storage_cost": MONEY,
                 "currency": {"type": "string", "enum": ["USD"]},
                 "month_to_date": _ref("MonthToDate"),
                 "paused": {"type": "boolean", "description": "a paused model is never called: its windows "
                                                              "project nothing (cost 0, and the month's projection "
                                                              "is what was billed so far), as on /fleet"},
                 "note": {"type": "string", "nullable": True, "description": "while paused: that it is, and how "
                                                                              "to resume it"},
                 "hint": {"type": "string", "nullable": True,
                          "description": "with no price for the region: how to set KEEPWARM_CMU_PRICES"}}},
    "Fleet": {"type": "object", "required": ["at", "models", "counts", "paused", "window_open", "errors", "cost"],
              "properties": {
                  "at": ISO, "models": {"type": "integer", "minimum": 0},
                  "counts": {"type": "object", "required": list(STATUSES),
                             "properties": {s: {"type": "integer", "minimum": 0} for s in STATUSES},
                             "description": "models by status, as each model's state shows it now"},
                  "paused": {"type": "integer", "minimum": 0}, "window_open": {"type": "integer", "minimum": 0},
                  "errors": {"type": "array", "items": {"type": "object", "properties": {
                      "name": NAME, "error": {"type": "string", "nullable": True}, "since": MAYBE_ISO}}},
                  "cost": {"type": "object", "description": "what the models' schedules cost over the calendar "
                                                            "month (UTC), summed over the models that can be priced",
                           "properties": {
                               "month": {"type": "string", "example": "2026-03"}, "from": ISO, "to": ISO,
                               "projected": {"type": "number"}, "currency": {"type": "string", "enum": ["USD"]},
                               "models_priced": {"type": "integer", "minimum": 0},
                               "unpriced": {"type": "array", "items": {"type": "object", "properties": {
                                   "name": NAME, "why": {"type": "string"}}}}}},
                  "readiness": {"type": "object", "description": "window openings of the last 7 days, ready at "
                                                                 "the open or not, over every model; absent "
                                                                 "before any window was judged",
                                "properties": {
                                    "openings": {"type": "integer", "minimum": 0},
                                    "ready_at_open": {"type": "integer", "minimum": 0},
                                    "days": {"type": "integer"}}}}},
    "Suggestion": {
        "type": "object", "description": "windows that would have covered the model's requests over the past "
                                         "weeks (keepwarm's own calls taken out), priced; money is null where no "
                                         "price is known for the region. Nothing is changed: PUT the windows to "
                                         "apply them",
        "required": ["model", "enough_data", "windows", "requests"],
        "properties": {
            "model": NAME, "timezone": {"type": "string"}, "weeks": {"type": "integer"},
            "coverage": {"type": "number", "description": "the share of requests asked for"},
            "from": ISO, "to": ISO,
            "metric": {"type": "object", "description": "what was read from CloudWatch; value: the ModelId the "
                                                        "requests were found under (null: none found)"},
            "enough_data": {"type": "boolean"},
            "reason": {"type": "string", "nullable": True,
                       "description": "without enough data: why; with always-on: why"},
            "always_on": {"type": "boolean"},
            "windows": {"type": "array", "nullable": True, "maxItems": MAX_WINDOWS, "items": WINDOW,
                        "description": "null without enough data; otherwise PUT-able as they are"},
            "requests": {"type": "integer", "minimum": 0, "description": "requests read, less keepwarm's own"},
            "own_calls": {"type": "integer", "minimum": 0,
                          "description": "keepwarm's own calls a loaded copy answered, taken off the counts"},
            "excluded_requests": {"type": "integer", "minimum": 0,
                                  "description": "requests on the model's excluded dates and holidays, when no "
                                                 "window opens: counted cold"},
            "covered_requests": {"type": "integer", "nullable": True},
            "covered_share": {"type": "number", "nullable": True,
                              "description": "covered_requests / requests, rounded down"},
            "cold_requests": {"type": "integer", "nullable": True,
                              "description": "requests outside the windows: they would have met a cold model"},
            "cost": {"type": "object", "properties": {
                "days": {"type": "integer"}, "from": ISO, "custom_model_units": {"type": "integer"},
                "custom_model_units_source": {"type": "string"},
                "price": {"type": "object", "nullable": True}, "currency": {"type": "string", "enum": ["USD"]},
                "suggested": {"type": "object", "nullable": True, "properties": {
                    "windows": {"type": "integer"}, "billed_minutes": {"type": "integer"}, "cost": MONEY}},
                "current": {"type": "object", "properties": {
                    "windows": {"type": "integer"}, "billed_minutes": {"type": "integer"}, "cost": MONEY}},
                "always_on": {"type": "object", "properties": {
                    "billed_minutes": {"type": "integer"}, "cost": MONEY}},
                "storage_cost": MONEY}},
            "hint": {"type": "string", "nullable": True,
                     "description": "with no price for the region: how to set KEEPWARM_CMU_PRICES"}}},
    "Error": {"type": "object", "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}}},
}

PATHS: dict[str, Any] = {
    "/models": {
        "post": {"summary": "register a model", "requestBody": _body("Registration"), "parameters": [DRY_RUN],
                 "responses": {"201": {**_json(_ref("Model"), "registered"), **MODEL_LINKS}, **ERRORS,
                               "200": _json(_ref("Model"), "dry_run: the model as it would be registered "
                                                           "(nothing stored, Bedrock not asked)"),
                               "400": _json(_ref("Error"), "bad input, or an ARN Bedrock does not know or "
                                                           "keepwarm may not read (the message says which)"),
                               "409": _json(_ref("Error"), "the name or ARN is taken")}},
        "get": {"summary": "list models in name order",
                "parameters": [{"name": "limit", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                               {"name": "next_token", "in": "query", "schema": {"type": "string"}},
                               {"name": "status", "in": "query", "style": "form", "explode": True,
                                "description": "only models in one of these statuses (repeated, or "
                                               "comma-separated); a filtered page may hold fewer than "
                                               "limit models: only a null next_token ends the listing",
                                "schema": {"type": "array", "items": {"type": "string", "enum": list(STATUSES)}}},
                               {"name": "paused", "in": "query", "schema": {"type": "boolean"},
                                "description": "true: only paused models (enabled false); false: only the others"},
                               {"name": "window_open", "in": "query", "schema": {"type": "boolean"},
                                "description": "true: only models inside an open window now; false: the others"}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "models": {"type": "array", "items": _ref("Model")},
                    "next_token": {"type": "string", "nullable": True}}}), **ERRORS}},
    },
    "/models/{model}": {
        "parameters": [MODEL],
        "get": {"summary": "one model", "responses": {"200": _json(_ref("Model")), **ERRORS}},
        "put": {"summary": "change a model's schedule or options", "requestBody": _body("Change"),
                "parameters": [DRY_RUN],
                "responses": {"200": _json(_ref("Model")), **ERRORS}},
        "delete": {"summary": "remove a model", "responses": {"204": {"description": "removed"}, **ERRORS}},
    },
    "/models/{model}/windows": {
        "parameters": [MODEL],
        "get": {"summary": "the windows' open/close instants (UTC)",
                "parameters": [QUERY_FROM, _days(7, MAX_PREVIEW_DAYS)],
                "responses": {"200": _json({"type": "object", "properties": {"windows": {
                    "type": "array", "items": {"type": "object", "required": ["open", "close"], "properties": {
                        "open": ISO,
                        "close": {**MAYBE_ISO, "description": "null for a window still open at the preview's end "
                                                              "whose close is further than keepwarm looks (an "
                                                              "always-on schedule)"},
                        "still_open_at": {**ISO, "description": "with close null: the preview's end, at which "
                                                                 "the window is still open"}}}}}}),
                    **ERRORS}},
    },
    "/models/{model}/events": {
        "parameters": [MODEL],
        "get": {"summary": "recent events, newest first",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                            "maximum": 200}}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "events": {"type": "array", "items": {"type": "object"}}}}), **ERRORS}},
    },
    "/models/{model}/leases": {
        "parameters": [MODEL],
        "post": {"summary": "keep the model warm from now for N minutes", "requestBody": _body("LeaseRequest"),
                 "responses": {"201": {**_json(_ref("Lease")), **LEASE_LINKS}, **ERRORS,
                               "409": _json(_ref("Error"), f"no lease taken: already {MAX_ACTIVE_LEASES} "
                                                           "active leases, the model is paused, or a cold "
                                                           "override is in force (Message says until when)")}},
        "get": {"summary": "active leases", "responses": {"200": _json({"type": "object", "properties": {
            "leases": {"type": "array", "items": _ref("Lease")}}}), **ERRORS}},
    },
    "/models/{model}/leases/{lease}": {
        "parameters": [MODEL, LEASE],
        "get": {"summary": "one active lease: is the model ready?", "responses": {
            "200": _json(_ref("Lease")), **ERRORS,
            "404": _json(_ref("Error"), "Code LeaseEnded: the lease expired or was released (Message says "
                                        "which and when; remembered for 7 days); Code NotFoundError: no such "
                                        "model, or it never had that lease")}},
        "delete": {"summary": "release a lease early", "responses": {
            "204": {"description": "released"}, **ERRORS,
            "404": _json(_ref("Error"), "Code LeaseEnded: already over (expired or released): nothing to "
                                        "do; Code NotFoundError: no such model, or it never had that lease")}},
    },
    "/models/{model}/override": {
        "parameters": [MODEL],
        "put": {"summary": "force warm or cold until a time", "requestBody": _body("Override"),
                "responses": {"200": _json(_ref("Model")), **ERRORS}},
        "delete": {"summary": "end the override", "responses": {"204": {"description": "ended"}, **ERRORS}},
    },
    "/models/{model}/probe": {
        "parameters": [MODEL],
        "post": {"summary": "measure the model's release time, cold answer, load and warm latency outside its "
                            "windows; with dry_run, only the plan and its worst-case cost",
                 "requestBody": {**_body("ProbeRequest"), "required": False},
                 "responses": {"202": _json(_ref("ProbeAnswer"), "started: GET /models/{model} shows its steps"),
                               "200": _json(_ref("ProbeAnswer"), "dry run: nothing changed"), **ERRORS,
                               "409": _json(_ref("Error"), "no probe started: a window, lease or override holds "
                                                           "the model or would before the probe can finish, it "
                                                           "is paused, or a probe runs (Message says which)")}},
    },
    "/models/{model}/cost": {
        "parameters": [MODEL],
        "get": {"summary": "what the schedule costs against keeping the model warm around the clock",
                "parameters": [QUERY_FROM, _days(30, MAX_COST_DAYS)],
                "responses": {"200": _json(_ref("Cost")), **ERRORS,
                              "502": _json(_ref("Error"), "Bedrock's GetImportedModel failed")}},
    },
    "/models/{model}/suggestion": {
        "parameters": [MODEL],
        "get": {"summary": "windows suggested from the model's real traffic (CloudWatch), priced; changes nothing",
                "parameters": [
                    {"name": "weeks", "in": "query", "description": "weeks of traffic to read, at most "
                                                                    "KEEPWARM_EVENT_TTL_DAYS / 7",
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SUGGEST_WEEKS, "default": 4}},
                    {"name": "coverage", "in": "query", "description": "the share of requests to cover",
                     "schema": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1,
                                "default": 0.99}}],
                "responses": {"200": _json(_ref("Suggestion")), **ERRORS,
                              "502": _json(_ref("Error"), "CloudWatch's GetMetricData or Bedrock's "
                                                          "GetImportedModel failed (Message says which and why)")}},
    },
    "/fleet": {"get": {"summary": "the fleet: counts by status, the models in error, the month's projected cost",
                       "responses": {"200": _json(_ref("Fleet"))}}},
    "/status": {"get": {"summary": "the fleet page (HTML), refreshing itself in place every few seconds",
                        "responses": {"200": {"description": "the page", "content": {
                            "text/html": {"schema": {"type": "string"}}}}}}},
    "/favicon.ico": {"get": {"summary": "the fleet page's icon (SVG)",
                             "responses": {"200": {"description": "the icon", "content": {
                                 "image/svg+xml": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"summary": "this document", "responses": {"200": _json({"type": "object"})}}},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "keepwarm", "version": "1.0",
             "description": "Keeps Amazon Bedrock imported models warm on schedule."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                                                 "description": "AWS SigV4 (execute-api) on deployed stages"}}},
    "security": [{"sigv4": []}],
}
