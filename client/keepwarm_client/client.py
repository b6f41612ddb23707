"""A small client for the keepwarm REST API, for batch jobs and scripts.

Standard library HTTP (``urllib``) plus botocore for SigV4 signing; nothing else.

    from keepwarm_client import KeepwarmClient

    kw = KeepwarmClient("https://abc123.execute-api.us-west-2.amazonaws.com/api")
    lease = kw.warm("support-bot", minutes=90, wait=True)   # blocks until the model answers
    ...                                                     # run the batch
    kw.release("support-bot", lease["id"])                 # optional: let it go early

A deployed stage needs SigV4-signed requests (service ``execute-api``); the local stack
(``make run``, ``http://127.0.0.1:8000``) needs nothing. By default requests are signed
unless the host is loopback.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["KeepwarmClient", "KeepwarmError", "LeaseTimeout"]

SERVICE = "execute-api"
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\Z")
# Errors worth another try while waiting: the network, throttling, server errors.
_TRANSIENT_TRIES = 3

ProgressCallback = Callable[[dict, float], None]


class KeepwarmError(Exception):
    """A request that failed: an HTTP error (``status``, the server's ``code`` and
    ``message``), a network error (``status`` is None), or a lease that cannot become
    ready (the model's error, the model paused or held cold, an expired or released lease)."""

    def __init__(self, status: Optional[int], code: Optional[str], message: str):
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        if self.status is not None:
            return f"HTTP {self.status} {self.code or 'error'}: {self.message}"
        return self.message

    @property
    def transient(self) -> bool:
        """Worth retrying: no answer at all, throttled, or a server error."""
        if self.status is None:
            return self.code == "NetworkError"
        return self.status == 429 or self.status >= 500


class LeaseTimeout(KeepwarmError):
    """The model was not ready within the wait's ``timeout``. The lease is still active
    (it was not released): ``lease`` is its last known state."""

    def __init__(self, model: str, lease: dict, elapsed: float):
        self.model = model
        self.lease = lease
        self.elapsed = elapsed
        super().__init__(None, "LeaseTimeout",
                         f"{model} was not ready after {elapsed:.0f} s (status {lease.get('status')}, "
                         f"lease {lease.get('id')} stays active until {lease.get('expires_at')})")


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def region_from_host(host: str) -> Optional[str]:
    """``us-west-2`` from ``abc123.execute-api.us-west-2.amazonaws.com``, else None."""
    match = _EXECUTE_API_HOST.search(host.lower())
    return match.group(1) if match else None


class KeepwarmClient:
    """The keepwarm API at ``base_url`` (e.g. ``http://127.0.0.1:8000`` or
    ``https://<api-id>.execute-api.<region>.amazonaws.com/api``).

    ``sign``: True signs every request with SigV4 (service ``execute-api``), False never,
    None (default) signs unless the host is loopback/localhost. Credentials come from
    ``session`` (a boto3 ``Session`` or a botocore session) or botocore's default chain;
    the region from ``region``, else the ``execute-api`` host name, else the session.
    ``timeout`` is each HTTP request's timeout in seconds.
    """

    def __init__(self, base_url: str, *, sign: Optional[bool] = None, region: Optional[str] = None,
                 timeout: float = 10, session: Any = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KeepwarmError(None, "BadUrl", f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.sign = (not _is_loopback(self.host)) if sign is None else bool(sign)
        self.timeout = timeout
        self._region = region
        self._session = session
        self._credentials: Any = None

    # -- the API ----------------------------------------------------------------------------
    def model(self, name: str) -> dict:
        """``GET /models/{name}``: the model's config and live ``state``."""
        return self._call("GET", f"/models/{_seg(name)}")

    def lease(self, name: str, minutes: int, holder: Optional[str] = None) -> dict:
        """``POST /models/{name}/leases``: keep the model warm from now for ``minutes``."""
        body: dict[str, Any] = {"minutes": minutes}
        if holder is not None:
            body["holder"] = holder
        return self._call("POST", f"/models/{_seg(name)}/leases", body)

    def lease_status(self, name: str, lease_id: str) -> dict:
        """``GET /models/{name}/leases/{id}``; a 404 KeepwarmError once it expired or was released."""
        return self._call("GET", f"/models/{_seg(name)}/leases/{_seg(lease_id)}")

    def release(self, name: str, lease_id: str) -> None:
        """``DELETE /models/{name}/leases/{id}``: end the lease now. A lease already over
        (expired or released) is a 404 KeepwarmError with code ``LeaseEnded``; a model or
        lease that never existed, one with code ``NotFoundError``."""
        self._call("DELETE", f"/models/{_seg(name)}/leases/{_seg(lease_id)}")

    def models(self, *, status: Optional[list[str]] = None, paused: Optional[bool] = None) -> list[dict]:
        """Every model (``GET /models``, all pages), optionally only those in one of
        ``status`` or (not) paused."""
        query: dict[str, Any] = {"limit": 100}
        if status:
            query["status"] = ",".join(status)
        if paused is not None:
            query["paused"] = "true" if paused else "false"
        found: list[dict] = []
        while True:
            page = self._call("GET", "/models", query=query)
            found += page["models"]
            if not page.get("next_token"):
                return found
            query["next_token"] = page["next_token"]

    def fleet(self) -> dict:
        """``GET /fleet``: counts by status, the models in error, the month's projected cost."""
        return self._call("GET", "/fleet")

    def events(self, name: str, limit: int = 50) -> list[dict]:
        """``GET /models/{name}/events``: its recent events, newest first."""
        return self._call("GET", f"/models/{_seg(name)}/events", query={"limit": limit})["events"]

    def cost(self, name: str, days: int = 30) -> dict:
        """``GET /models/{name}/cost``: what its schedule costs over ``days`` from now."""
        return self._call("GET", f"/models/{_seg(name)}/cost", query={"days": days})

    def suggestion(self, name: str, weeks: int = 4, coverage: float = 0.99) -> dict:
        """``GET /models/{name}/suggestion``: windows that would have covered its real
        traffic over the past ``weeks``, priced. Changes nothing."""
        return self._call("GET", f"/models/{_seg(name)}/suggestion",
                          query={"weeks": weeks, "coverage": repr(coverage)})

    def probe(self, name: str, *, dry_run: bool = False, gaps_minutes: Optional[list[int]] = None) -> dict:
        """``POST /models/{name}/probe``: measure its release, cold answer, load and warm
        latency outside its windows; with ``dry_run``, only the plan and its worst case."""
        body: dict = {"dry_run": dry_run}
        if gaps_minutes is not None:
            body["gaps_minutes"] = gaps_minutes
        return self._call("POST", f"/models/{_seg(name)}/probe", body)

    def register(self, body: dict, *, dry_run: bool = False) -> dict:
        """``POST /models``; with ``dry_run``, only checked (nothing stored)."""
        return self._call("POST", "/models", body, query={"dry_run": "true"} if dry_run else None)

    def update(self, name: str, body: dict, *, dry_run: bool = False) -> dict:
        """``PUT /models/{name}``: change the fields given; with ``dry_run``, only checked."""
        return self._call("PUT", f"/models/{_seg(name)}", body, query={"dry_run": "true"} if dry_run else None)

    def delete(self, name: str) -> None:
        """``DELETE /models/{name}``."""
        self._call("DELETE", f"/models/{_seg(name)}")

    def override(self, name: str, state: str, until: str) -> dict:
        """``PUT /models/{name}/override``: hold the model ``warm`` or ``cold`` until
        ``until`` (ISO 8601), whatever its schedule. Returns the model."""
        return self._call("PUT", f"/models/{_seg(name)}/override", {"state": state, "until": until})

    def clear_override(self, name: str) -> None:
        """``DELETE /models/{name}/override``: the schedule applies again."""
        self._call("DELETE", f"/models/{_seg(name)}/override")

    def document(self) -> dict:
        """``GET /openapi.json``: the API's own description of its routes and bodies."""
        return self._call("GET", "/openapi.json")

    def wait_until_ready(self, name: str, lease_id: str, *, timeout: float = 900, poll: float = 5,
                         on_progress: Optional[ProgressCallback] = None) -> dict:
        """Poll the lease every ``poll`` seconds until it says ``ready``; return it.

        ``on_progress(lease, elapsed_seconds)`` is called after each poll that found the
        model not ready yet. Raises :class:`LeaseTimeout` after ``timeout`` seconds (the
        lease stays active), :class:`KeepwarmError` if the model is in error (with the
        model's error), is paused or held cold by an override (code ``LeaseBlocked``, with
        the server's reason: waiting would not help), or the lease is gone (expired or
        released). Network errors, throttling and server errors are retried, up to 3 in a row.
        """
        start = time.monotonic()
        failures = 0
        lease: dict = {"id": lease_id, "status": None}
        while True:
            try:
                lease = self.lease_status(name, lease_id)
                failures = 0
            except KeepwarmError as err:
                if err.status == 404 and err.code == "LeaseEnded":
                    raise KeepwarmError(404, err.code, f"lease {lease_id} of {name} is gone "
                                                       f"(expired or released): {err.message}") from None
                if err.status == 404:
                    raise  # the model or the lease never existed
                failures += 1
                if not err.transient or failures >= _TRANSIENT_TRIES:
                    raise
            else:
                if lease.get("ready"):
                    return lease
                if lease.get("blocked"):
                    raise KeepwarmError(None, "LeaseBlocked", f"{name} cannot become ready: {lease['blocked']}")
                if lease.get("status") == "error":
                    raise KeepwarmError(None, "ModelError",
                                        f"{name} is in error: {lease.get('error') or 'no reason given'}")
                if lease.get("active") is False:
                    raise KeepwarmError(None, "LeaseExpired",
                                        f"lease {lease_id} of {name} is no longer active "
                                        f"(it ended at {lease.get('expires_at')})")
            elapsed = time.monotonic() - start
            if on_progress is not None and failures == 0:
                on_progress(lease, elapsed)
            if elapsed >= timeout:
                raise LeaseTimeout(name, lease, elapsed)
            time.sleep(max(0.0, min(poll, timeout - elapsed)))

    def warm(self, name: str, minutes: int, *, wait: bool = False, timeout: float = 900, poll: float = 5,
             holder: Optional[str] = None, on_progress: Optional[ProgressCallback] = None) -> dict:
        """Take a lease for ``minutes``; with ``wait``, also wait until the model is ready.
        Returns the lease (as last seen)."""
        lease = self.lease(name, minutes, holder)
        if not wait or lease.get("ready"):
            return lease
        return self.wait_until_ready(name, lease["id"], timeout=timeout, poll=poll, on_progress=on_progress)

    # -- HTTP -------------------------------------------------------------------------------
    def build_request(self, method: str, path: str, body: Any = None,
                      query: Optional[dict[str, Any]] = None) -> urllib.request.Request:
        """The request as it will be sent (signed if this client signs), without sending it.
        ``path`` is already URL-encoded and starts with ``/``."""
        url = self.base_url + path
        if query:
            url += "?" + urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.sign:
            headers = self._signed_headers(method, url, data, headers)
        return urllib.request.Request(url, data=data, method=method, headers=headers)

    def _call(self, method: str, path: str, body: Any = None, query: Optional[dict[str, Any]] = None) -> Any:
        req = self.build_request(method, path, body, query)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raise _http_error(err) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            if isinstance(reason, socket.timeout) or isinstance(err, TimeoutError):
                reason = f"no answer within {self.timeout:g} s"
            raise KeepwarmError(None, "NetworkError", f"cannot reach {self.base_url}: {reason}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise KeepwarmError(status, "BadResponse",
                                f"{method} {path} answered with something that is not JSON: {raw[:200]!r}") from None

    # -- signing ----------------------------------------------------------------------------
    def _botocore_session(self) -> Any:
        if self._session is None:
            import botocore.session

            self._session = botocore.session.get_session()
        return self._session

    def _session_region(self) -> Optional[str]:
        session = self._botocore_session()
        region = getattr(session, "region_name", None)  # boto3.Session
        if region is None and hasattr(session, "get_config_variable"):  # botocore session
            region = session.get_config_variable("region")
        return region

    @property
    def region(self) -> Optional[str]:
        """The region requests are signed for (None if it cannot be found)."""
        if self._region is None:
            self._region = region_from_host(self.host) or self._session_region()
        return self._region

    def _signed_headers(self, method: str, url: str, data: Optional[bytes],
                        headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        try:
            region = self.region
            if self._credentials is None:
                self._credentials = self._botocore_session().get_credentials()
            credentials = self._credentials.get_frozen_credentials() if self._credentials else None
        except BotoCoreError as err:
            raise KeepwarmError(None, "NoCredentials", f"cannot sign requests to {self.host}: {err}") from None
        if credentials is None or not credentials.access_key:
            raise KeepwarmError(None, "NoCredentials",
                                f"requests to {self.host} must be SigV4-signed, but no AWS credentials were "
                                "found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; for a "
                                "local server use --no-sign / sign=False)")
        if not region:
            raise KeepwarmError(None, "NoRegion",
                                f"requests to {self.host} must be SigV4-signed, but no region was found "
                                "(pass --region / region=, or set AWS_REGION)")
        aws_request = AWSRequest(method=method, url=url, data=data or b"", headers=dict(headers))
        SigV4Auth(credentials, SERVICE, region).add_auth(aws_request)
        return dict(aws_request.headers.items())


def _seg(value: str) -> str:
    """One path segment: a name, an ARN (``:`` and ``/`` encoded) or a lease id."""
    return quote(str(value), safe="")


def _http_error(err: urllib.error.HTTPError) -> KeepwarmError:
    """Chalice's ``{"Code", "Message"}``, API Gateway's ``{"message"}``, or the bare status."""
    try:
        raw = err.read()
    except OSError:
        raw = b""
    code = message = None
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("Code") or body.get("code") or body.get("__type")
        message = body.get("Message") or body.get("message")
    if not code:
        error_type = err.headers.get("x-amzn-ErrorType") if err.headers else None
        code = error_type.split(":", 1)[0] if error_type else None
    if not message:
        text = raw.decode("utf-8", "replace").strip()
        message = text[:300] if text else (err.reason or http.client.responses.get(err.code, "error"))
    return KeepwarmError(err.code, code or http.client.responses.get(err.code, "HTTPError"), str(message))
