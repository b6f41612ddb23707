"""AWS clients, made once per service, region and role and kept.

Lambda reuses a warm container, and an imported model is only reachable in its own
region, so the worker and the API each hold one client per service and region they have
needed, and, for a model in another account, per role they reach it through. Each
service is always built with the one botocore ``Config`` its caller passes (the invoke
timeouts for bedrock-runtime, the short control-plane ones for bedrock). Endpoints come
from boto3's standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which is how the tests and
the local stack reach their stand-ins.

An assumed role's credentials are kept until shortly before they expire and shared by
every client of that role, so a busy model costs one AssumeRole an hour, not one a call.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.records import Role

# The longest session a role assumed by another role may have (role chaining: Lambda's
# own role assumes the model's), and how long before its end new credentials are asked for.
SESSION_SECONDS = 3600
REFRESH_BEFORE = timedelta(minutes=5)
SESSION_NAME = "keepwarm"
# As the control plane's: one attempt, short timeouts (see settings.WORKER_MARGIN_SECONDS).
STS_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=5)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AssumeRoleError(Exception):
    """keepwarm could not assume a model's role. ``reason``: ``denied`` (the role does not
    trust us, or the external id is wrong), ``unreachable`` (STS did not answer: worth
    another try later) or ``refused`` (any other error answer); ``code`` is STS's."""

    def __init__(self, message: str, reason: str, code: str):
        super().__init__(message)
        self.reason, self.code = reason, code


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires_at: datetime


class Clients:
    """boto3 clients by (service, region, role); thread-safe (the local runner has worker
    threads). ``clock`` tells when credentials near their expiry: the real clock, since
    STS's expiry times are real ones."""

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self._made: dict[tuple[str, str, Optional[Role]], tuple[Any, Optional[_Credentials]]] = {}
        self._credentials: dict[Role, _Credentials] = {}
        self._lock = threading.RLock()

    def client(self, service: str, region: str, config: Config, role: Optional[Role] = None) -> Any:
        """The client for ``service`` in ``region``, as ``role`` if given (raises
        AssumeRoleError if it cannot be assumed). Made again only when the role's
        credentials were renewed."""
        key = (service, region, role)
        with self._lock:
            credentials = self._assumed(role, region) if role is not None else None
            made = self._made.get(key)
            if made is None or made[1] is not credentials:
                if credentials is None:
                    client = boto3.client(service, region_name=region, config=config)
                else:
                    client = boto3.session.Session(
                        aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
                        aws_session_token=credentials.token,
                    ).client(service, region_name=region, config=config)
                made = (client, credentials)
                self._made[key] = made
            return made[0]

    def _assumed(self, role: Role, region: str) -> _Credentials:
        """The role's credentials, assumed again when they are near their expiry. STS is
        asked in the model's region: the regional endpoint of the model's partition."""
        current = self._credentials.get(role)
        if current is not None and self._clock() < current.expires_at - REFRESH_BEFORE:
            return current
        sts = self.client("sts", region, STS_CONFIG)
        extra = {"ExternalId": role.external_id} if role.external_id else {}
        try:
            response = sts.assume_role(RoleArn=role.arn, RoleSessionName=SESSION_NAME,
                                       DurationSeconds=SESSION_SECONDS, **extra)
        except ClientError as err:
            error = err.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", "")
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code == "AccessDenied":
                told = " and the external id it names" if role.external_id else ""
                raise AssumeRoleError(f"keepwarm may not assume {role.arn} (sts:AssumeRole: {code}: {message}); "
                                      f"the role's trust policy must allow keepwarm's roles{told}",
                                      "denied", code) from None
            reason = "unreachable" if code == "Throttling" or status >= 500 else "refused"
            raise AssumeRoleError(f"sts:AssumeRole of {role.arn} failed: {code}: {message}", reason, code) from None
        except BotoCoreError as err:
            raise AssumeRoleError(f"sts:AssumeRole of {role.arn} could not reach STS: {err}", "unreachable",
                                  type(err).__name__) from None
        given = response["Credentials"]
        current = _Credentials(given["AccessKeyId"], given["SecretAccessKey"], given["SessionToken"],
                               given["Expiration"])
        self._credentials[role] = current
        return current
