"""Counts what a run fetched over HTTP, per resource: pages, bytes and retried responses (a 429,
a 5xx, or a 2xx that is not data)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from urllib.parse import urlparse

from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_STATUS

from crm_assets.config import SourceConfig
from crm_assets.config.placeholders import path_pattern


class HttpStats:
    """Counts every response the session receives, each retry attempt included.

    Resources reading one path share that path's figures.
    """

    def __init__(self, config: SourceConfig, base_url: str) -> None:
        base_path = urlparse(base_url).path
        self._patterns = [
            (resource.name, path_pattern(base_path, resource.endpoint.path))
            for resource in config.resources
        ]
        self.pages: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _resources_at(self, url: str) -> list[str]:
        path = urlparse(url).path
        return [name for name, pattern in self._patterns if pattern.search(path)]

    def record(self, response: Any, is_data: bool = True) -> None:
        """One attempt's answer (the session's adapter tells every one, extract/http_session.py):
        `is_data` is False for a 2xx that is not its resource's data."""
        retried = response.status_code in DEFAULT_RETRY_STATUS or (response.ok and not is_data)
        with self._lock:
            for resource in self._resources_at(response.url):
                if retried:
                    self.retries[resource] += 1
                elif response.ok:
                    self.pages[resource] += 1
                    self.bytes[resource] += len(response.content)

    def metadata(self, resource: str) -> dict[str, int]:
        return {
            "pages_fetched": self.pages[resource],
            "bytes_fetched": self.bytes[resource],
            "retried_responses": self.retries[resource],
        }
