"""A model's real traffic: Bedrock's hourly invocation counts from CloudWatch, less the
calls keepwarm made itself.

Bedrock publishes ``Invocations`` in namespace ``AWS/Bedrock`` per ``ModelId``: requests
it accepted for processing (throttled ones and ones refused in validation are not
counted). AWS's metric table does not say which value of ``ModelId`` an imported model's
requests carry, the ARN they were addressed by or the model's id, so both are read in the
same ``GetMetricData`` request and the one that holds the traffic is used; the answer says
which.

keepwarm's own calls are counted in the same metric. Each is in the model's events (kind
``call``), which are kept ``KEEPWARM_EVENT_TTL_DAYS``; the API reads no further back than
that, and takes each hour's own calls off that hour's count (never below zero), so the
calls keepwarm made to hold the model warm cannot justify holding it warm. Only the calls
a loaded copy answered are taken off (outcome ``ready``, or ``model_error``: the container
answered, after Bedrock accepted the request): Bedrock does not count throttled requests,
and whether it counts one answered ``ModelNotReadyException`` is not documented. Leaving
an uncounted call in overstates the traffic by that call (a window a little longer);
taking it off would hide a user's request (a window that misses it).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Optional

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.answers import ANSWERED
from chalicelib.clients import AssumeRoleError, Clients
from chalicelib.records import ModelConfig, parse_iso

UTC = timezone.utc
HOUR = timedelta(hours=1)
NAMESPACE = "AWS/Bedrock"
METRIC = "Invocations"
DIMENSION = "ModelId"
PERIOD_SECONDS = 3600
# GetMetricData returns at most this many data points per call, all queries together.
MAX_DATAPOINTS = 100_800
# As the control plane's: short timeouts (the API answers within its own), one retry.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=3, read_timeout=10)


class TrafficError(Exception):
    """CloudWatch gave no counts. ``reason``: ``access_denied``, ``throttled``,
    ``unreachable`` or ``refused``."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def dimension_values(model_arn: str) -> list[str]:
    """The ``ModelId`` values an imported model's requests may be counted under."""
    return [model_arn, model_arn.rsplit("/", 1)[-1]]


def read_invocations(client: Any, model_arn: str, start: datetime, end: datetime,
                     max_points: int = MAX_DATAPOINTS) -> tuple[dict[datetime, int], Optional[str]]:
    """Hourly request counts (UTC hour -> requests) for [start, end), and the ``ModelId``
    value they were found under (None: no requests under either). Requests are split so
    that none asks for more than ``max_points`` data points, and each follows NextToken."""
    values = dimension_values(model_arn)
    queries = [{"Id": f"m{i}", "ReturnData": True,
                "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": METRIC,
                                          "Dimensions": [{"Name": DIMENSION, "Value": value}]},
                               "Period": PERIOD_SECONDS, "Stat": "Sum"}}
               for i, value in enumerate(values)]
    found: dict[str, dict[datetime, float]] = {q["Id"]: {} for q in queries}
    step = max(1, max_points // len(queries)) * HOUR
    at = start
    while at < end:
        until = min(end, at + step)
        token: Optional[str] = None
        while True:
            kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": at, "EndTime": until,
                                      "ScanBy": "TimestampAscending"}
            if token:
                kwargs["NextToken"] = token
            response = _call(client, model_arn, kwargs)
            for result in response.get("MetricDataResults", []):
                counts = found.setdefault(result["Id"], {})
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    hour = hour_of(stamp)
                    if start <= hour < end:
                        counts[hour] = counts.get(hour, 0.0) + value
            token = response.get("NextToken")
            if not token:
                break
        at = until
    best = max(range(len(values)), key=lambda i: sum(found[f"m{i}"].values()))
    counts = {hour: int(round(v)) for hour, v in found[f"m{best}"].items() if v >= 0.5}
    return counts, (values[best] if counts else None)


def _call(client: Any, model_arn: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        return client.get_metric_data(**kwargs)  # type: ignore[no-any-return]
    except ClientError as err:
        error = err.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", "")
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in ("AccessDenied", "AccessDeniedException"):
            raise TrafficError(f"access denied reading {model_arn}'s invocations from CloudWatch "
                               f"(cloudwatch:GetMetricData): {message}", "access_denied") from None
        if code in ("Throttling", "ThrottlingException") or status == 429:
            raise TrafficError(f"CloudWatch throttled GetMetricData for {model_arn}; try again shortly: {message}",
                               "throttled") from None
        raise TrafficError(f"CloudWatch GetMetricData failed for {model_arn}: {code}: {message}",
                           "unreachable" if status >= 500 else "refused") from None
    except BotoCoreError as err:
        raise TrafficError(f"CloudWatch could not be reached to read {model_arn}'s invocations: {err}",
                           "unreachable") from None


# The outcomes of calls Bedrock surely counted in Invocations: a loaded copy answered them.


def own_calls(events: Iterable[Mapping[str, Any]]) -> dict[datetime, int]:
    """keepwarm's own answered calls per UTC hour, from the model's events."""
    counts: dict[datetime, int] = {}
    for event in events:
        if event.get("kind") == "call" and event.get("outcome") in ANSWERED:
            hour = hour_of(parse_iso(event["at"]))  # type: ignore[arg-type]
            counts[hour] = counts.get(hour, 0) + 1
    return counts


def less_own_calls(counts: Mapping[datetime, int], own: Mapping[datetime, int]) -> dict[datetime, int]:
    """Each hour's requests less keepwarm's own calls in it, never below zero."""
    return {hour: n - own.get(hour, 0) for hour, n in counts.items() if n > own.get(hour, 0)}


class Traffic:
    """CloudWatch in each model's region, through the model's role where it has one."""

    def __init__(self, clients: Optional[Clients] = None):
        self._clients = clients or Clients()

    def client(self, config: ModelConfig) -> Any:
        try:
            return self._clients.client("cloudwatch", config.region, CLIENT_CONFIG, config.role)
        except AssumeRoleError as err:
            raise TrafficError(str(err), "unreachable" if err.reason == "unreachable" else "access_denied") from None
