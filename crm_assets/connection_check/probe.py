"""One cheap authenticated request to an API: the smallest page of one list resource, sent
with the auth and session the loads build (no retry, a short timeout), classified and timed,
with the rate-limit headroom the API reports. Nothing in a result holds a secret: the request
is named by its path, errors are redacted."""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

import dagster as dg
import requests
from dlt.sources.rest_api import create_auth
from dlt.sources.rest_api.utils import join_url

from crm_assets.config import OffsetPaginator, RetryPolicy, SourceConfig
from crm_assets.extract import NotDataAnswer, dlt_auth, http_session
from crm_assets.load.error_chain import error_chain
from crm_assets.load.redaction import redact, redacted_logs, secret_forms
from crm_assets.resources import SourceApi

REACHABLE = "reachable"
STATUS_BY_HTTP_CODE = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
RATE_LIMIT_HEADERS = {"limit": "X-RateLimit-Limit", "remaining": "X-RateLimit-Remaining",
                      "reset_seconds": "X-RateLimit-Reset"}


@dataclass(frozen=True)
class ConnectionResult:
    source: str
    status: str  # reachable, or what went wrong: unauthorized, forbidden, timeout, dns_error...
    request: str = ""  # "GET <path>": never the query string, where API keys travel
    latency_ms: float | None = None
    http_status: int | None = None
    rate_limit: dict[str, int] | None = None  # limit, remaining, reset_seconds, as sent
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == REACHABLE

    def metadata(self) -> dict[str, Any]:
        figures = {k: v for k, v in asdict(self).items() if v not in (None, "") and k != "rate_limit"}
        figures |= {f"rate_limit_{k}": v for k, v in (self.rate_limit or {}).items()}
        return figures

    def line(self) -> str:
        parts = [f"{self.source}: {self.status}"]
        if self.http_status:
            parts.append(f"HTTP {self.http_status}")
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:.0f} ms")
        if self.rate_limit and "remaining" in self.rate_limit:
            of = f"/{self.rate_limit['limit']}" if "limit" in self.rate_limit else ""
            parts.append(f"rate limit {self.rate_limit['remaining']}{of} left")
        return ", ".join(parts + [p for p in (self.request, self.detail) if p])


def probe_request(config: SourceConfig) -> tuple[str, dict[str, Any]]:
    """The path and params of the smallest page of the first top-level list resource."""
    resource = next((r for r in config.resources if not r.parent), config.resources[0])
    path = resource.endpoint.path
    if resource.for_each:
        path = path.replace("{" + resource.for_each.key + "}", resource.for_each.values[0])
    params = config.params(resource)
    paginator = config.paginator(resource)
    if config.page_size_param:
        params[config.page_size_param] = 1
    if isinstance(paginator, OffsetPaginator):
        params |= {paginator.limit_param: 1, paginator.offset_param: 0}
    return path, params


def _rate_limit(response: requests.Response) -> dict[str, int] | None:
    sent = {key: response.headers.get(header) for key, header in RATE_LIMIT_HEADERS.items()}
    figures = {key: int(value) for key, value in sent.items() if value and value.isdigit()}
    return figures or None


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps (requests -> urllib3 -> socket), with what urllib3 keeps
    beside the chain: a retry error's `reason`, an error's exception arguments."""
    found: list[BaseException] = []
    for wrapped in error_chain(error):
        for cause in (wrapped, getattr(wrapped, "reason", None), *wrapped.args):
            if isinstance(cause, BaseException):
                found.extend(error_chain(cause))
    return found


def _classify(error: requests.RequestException) -> str:
    causes = _causes(error)
    if isinstance(error, requests.Timeout):
        return "timeout"
    if isinstance(error, requests.exceptions.SSLError):
        return "tls_error"
    if any(isinstance(c, socket.gaierror) or type(c).__name__ == "NameResolutionError" for c in causes):
        return "dns_error"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection_refused"
    return "connection_error"


def check_connection(
    config: SourceConfig, api: SourceApi, timeout_seconds: float = 10.0
) -> ConnectionResult:
    missing = api.missing_secrets(config)
    if missing:
        return ConnectionResult(config.label, "missing_secret", detail=f"{', '.join(missing)} not set")
    try:
        base_url = api.validated_base_url(config)
    except dg.Failure as error:
        return ConnectionResult(config.label, "misconfigured", detail=error.description or "")
    secrets = api.secrets(config)
    masks = secret_forms(secrets.values())
    path, params = probe_request(config)
    url = join_url(base_url, path)
    request = f"GET {urlparse(url).path}"
    one_try = config.model_copy(
        update={"retry": RetryPolicy(max_retries=0, timeout_seconds=timeout_seconds)}
    )
    session = http_session(one_try, base_url, max_connections=1)
    started = time.perf_counter()
    with redacted_logs(masks):
        try:
            response = session.get(url, params=params, auth=create_auth(dlt_auth(config.auth, secrets)))
        except NotDataAnswer as error:
            latency = round((time.perf_counter() - started) * 1000, 1)
            status_code = error.response.status_code
            detail = f"the answer is not data: {error.reason}"
            return ConnectionResult(config.label, "http_error", request, latency, status_code, detail=detail)
        except requests.RequestException as error:
            latency = round((time.perf_counter() - started) * 1000, 1)
            # requests wraps urllib3's retry error, whose reason says what happened.
            reason = getattr(error.args[0] if error.args else None, "reason", None) or error
            detail = redact(f"{type(error).__name__}: {reason}", masks)[:300]
            return ConnectionResult(config.label, _classify(error), request, latency, detail=detail)
    latency = round((time.perf_counter() - started) * 1000, 1)
    status = REACHABLE if response.ok else STATUS_BY_HTTP_CODE.get(response.status_code, "http_error")
    detail = "" if response.ok else f"{response.status_code} {response.reason}"
    return ConnectionResult(
        config.label, status, request, latency, response.status_code, _rate_limit(response), detail
    )
