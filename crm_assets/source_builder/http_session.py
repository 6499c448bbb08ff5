"""The HTTP session a source's requests go through: dlt's retrying client, one connection per
request that may be in flight, and an adapter that shows every attempt to the run's observers
(the request budget waits for a turn, the stats count the answer)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from dlt.sources.helpers.requests import Client
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from crm_assets.config import SourceConfig


class RequestObserver(Protocol):
    def sending(self, request: PreparedRequest) -> None:
        """Called before each attempt; may block until the attempt may go."""

    def answered(self, response: Response | None) -> None:
        """Called after each attempt; None when it raised (a dropped connection)."""


class ObservedAdapter(HTTPAdapter):
    """A connection pool that passes every attempt through the observers. dlt retries at the
    session, so each retry attempt comes through here too; dlt replaces a session's response
    hooks with per-request ones, so hooks would not see them all."""

    def __init__(self, observers: Sequence[RequestObserver], pool_maxsize: int) -> None:
        super().__init__(pool_maxsize=pool_maxsize)
        self.observers = tuple(observers)

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        # A deep copy of the session (dlt masks secrets in one) carries no observers.
        observers = getattr(self, "observers", ())
        for observer in observers:
            observer.sending(request)
        response = None
        try:
            response = super().send(request, *args, **kwargs)
            if not kwargs.get("stream"):
                # Read the body while the request still counts as in flight: its connection
                # goes back to the pool only then, and the next request should reuse it.
                response.content  # noqa: B018
            return response
        finally:
            for observer in observers:
                observer.answered(response)


def is_not_json_document(response: Any, exception: BaseException | None) -> bool:
    """A 2xx answer whose body cannot be a JSON document (an HTML error page from a proxy, a
    body cut short): transient on real APIs, so it is retried like a 5xx."""
    if response is None or not response.ok:
        return False
    body = response.content.strip()
    return not (body[:1] in (b"{", b"[") and body[-1:] in (b"}", b"]"))


def http_session(
    config: SourceConfig,
    base_url: str,
    max_connections: int | None = None,
    observers: Sequence[RequestObserver] = (),
) -> Any:
    """A requests session retrying 429, 5xx, dropped connections and non-JSON bodies with
    exponential backoff (honouring Retry-After) as the config asks, keeping a connection alive
    for each request that may be in flight."""
    retry = config.retry
    connections = max_connections or config.max_concurrency
    session = Client(
        max_connections=connections,
        retry_condition=is_not_json_document,
        request_timeout=retry.timeout_seconds,
        request_max_attempts=retry.max_retries + 1,
        request_backoff_factor=retry.backoff_factor,
        request_max_retry_delay=retry.max_delay_seconds,
        respect_retry_after_header=True,
        raise_for_status=False,
    ).session
    adapter = ObservedAdapter(observers, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return _with_environment_read_once(session, base_url)


def _with_environment_read_once(session: Any, base_url: str) -> Any:
    """requests scans os.environ for proxy settings twice per request (a third of the
    extract's CPU on small pages); the API's host and the environment do not change during a
    run, so read HTTP(S)_PROXY/NO_PROXY and the CA bundle variables once. (netrc, the other
    thing trust_env reads, never applies: every source sends its own auth.)"""
    session.proxies.update(get_environ_proxies(base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False
    return session
