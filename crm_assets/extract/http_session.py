"""The HTTP session a source's requests go through: dlt's retrying client, one connection per
request that may be in flight, and an adapter that judges every answer's shape
(`answer_shape.py`), takes each attempt's turn from the request budget and tells the stats
what came back."""

from __future__ import annotations

import os
from typing import Any

from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from crm_assets.config import SourceConfig
from crm_assets.extract.answer_shape import AnswerShapes, NotDataAnswer
from crm_assets.extract.http_stats import HttpStats
from crm_assets.request_budget import RequestBudget


class ObservedAdapter(HTTPAdapter):
    """A connection pool that judges every answer, takes each attempt's turn from the request
    budget and tells the stats what came back. dlt retries at the session, so each retry
    attempt comes through here too; dlt replaces a session's response hooks with per-request
    ones, so hooks would not see them all."""

    def __init__(
        self,
        shapes: AnswerShapes,
        budget: RequestBudget | None,
        stats: HttpStats | None,
        pool_maxsize: int,
    ) -> None:
        super().__init__(pool_maxsize=pool_maxsize)
        self.shapes, self.budget, self.stats = shapes, budget, stats

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        # A deep copy of the session (dlt masks secrets in one) carries neither.
        budget, stats = getattr(self, "budget", None), getattr(self, "stats", None)
        if budget:
            budget.acquire()
        response, not_data = None, None
        try:
            response = super().send(request, *args, **kwargs)
            if not kwargs.get("stream"):
                # Read the body while the request still counts as in flight: its connection
                # goes back to the pool only then, and the next request should reuse it.
                response.content  # noqa: B018
                if response.ok:
                    not_data = self.shapes.check(response)
        finally:
            if budget:
                budget.release(response)
            if stats and response is not None:
                stats.record(response, is_data=not not_data)
        if not_data:
            raise not_data  # retried by dlt's client, like a connection error
        return response


def http_session(
    config: SourceConfig,
    base_url: str,
    max_connections: int | None = None,
    budget: RequestBudget | None = None,
    stats: HttpStats | None = None,
) -> Any:
    """A requests session retrying 429, 5xx, dropped connections and answers that are not
    data with exponential backoff (honouring Retry-After) as the config asks, keeping a
    connection alive for each request that may be in flight."""
    retry = config.retry
    connections = max_connections or config.max_concurrency
    session = Client(
        max_connections=connections,
        exceptions=(*DEFAULT_RETRY_EXCEPTIONS, NotDataAnswer),
        request_timeout=retry.timeout_seconds,
        request_max_attempts=retry.max_retries + 1,
        request_backoff_factor=retry.backoff_factor,
        request_max_retry_delay=retry.max_delay_seconds,
        respect_retry_after_header=True,
        raise_for_status=False,
    ).session
    adapter = ObservedAdapter(
        AnswerShapes(config, base_url), budget, stats, pool_maxsize=connections
    )
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
