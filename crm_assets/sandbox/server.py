"""The sandbox HTTP server: all configured APIs on one port, under `/<source>/...`.

Like a real API, it can answer after a latency and cap each source's requests per sliding
window (429 with Retry-After and X-RateLimit-* headers; `traffic.py`). Faults are scripted per
path (429 with Retry-After, 5xx, slow answers, resets mid-body, truncated or non-JSON bodies;
`faults.py`) through `Sandbox.faults` or `POST /_sandbox/faults`; records are deleted between
runs through `Sandbox.delete` or `POST /_sandbox/deletions` (`{"<source>.<collection>": [ids]}`,
`[]` restores them all); schema changes (a field's type, new fields) per collection through
`Sandbox.volume.change_schema` or `POST /_sandbox/schema`; what was served is counted per
resource and per source (`GET /_sandbox/stats`), so tests can assert real page fetches, requests
in flight and the rate each source was served at.
"""

from __future__ import annotations

import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from crm_assets.config import RateLimitSpec, SourceConfig, load_source_configs
from crm_assets.sandbox.auth import sandbox_secrets
from crm_assets.sandbox.counters import Stats
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.handler import handler_for
from crm_assets.sandbox.routes import Route, api_name, build_routes
from crm_assets.sandbox.traffic import Latency, Traffic
from crm_assets.sandbox.volume import Volume
from crm_assets.table_rules.pii import HASH_KEY_ENV


class Sandbox:
    """A running sandbox; use as a context manager, or `serve_forever()` from the CLI."""

    def __init__(
        self,
        configs: list[SourceConfig],
        volume: Volume | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_suffix: str = "",
        latency: Latency | None = None,
        rate_limits: dict[str, RateLimitSpec] | None = None,
        rate_headers: bool = True,
    ) -> None:
        # By API name: each source, or each account of a source that lists accounts.
        self.configs = {
            api_name(load): load for config in configs for load in config.account_loads()
        }
        self.secrets = {
            api: sandbox_secrets(config, secret_suffix) for api, config in self.configs.items()
        }
        # The key the pipeline hashes personal data with; only the pipeline's side uses it.
        self.pii_hash_key = f"sbx-pii-hash-key-0123456789abcdef{secret_suffix}"
        self.routes = build_routes(configs)
        self.volume = volume or Volume()
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.traffic = Traffic(latency, rate_limits, rate_headers=rate_headers)
        self._lock = threading.Lock()
        self._server = _Server((host, port), handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_configs_dir(cls, configs_dir: Path, **kwargs: Any) -> Sandbox:
        return cls(load_source_configs(configs_dir), **kwargs)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, api: str) -> str:
        """A source's base URL here (`api`: its name, or `<source>.<account>`)."""
        base_path = urlparse(self.configs[api].base_url).path
        return f"{self.url}/{api}{base_path}"

    def env(self) -> dict[str, str]:
        """Env vars pointing every source at the sandbox with credentials it accepts, and a
        PII hash key."""
        env: dict[str, str] = {HASH_KEY_ENV: self.pii_hash_key}
        for api, config in self.configs.items():
            env[config.base_url_env] = self.base_url(api)
            env.update(self.secrets[api])
        return env

    def route(self, source: str, resource: str) -> Route:
        return next(r for r in self.routes[source] if r.resource.name == resource)

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(path, query):
                    fault.times -= 1
                    return fault
        return None

    def delete(self, collection: str, ids: list[int]) -> None:
        """Stop listing these records of `<source>.<collection>`; an empty list restores all."""
        with self._lock:
            if ids:
                self.volume.deleted.setdefault(collection, set()).update(ids)
            else:
                self.volume.deleted.pop(collection, None)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = Stats()
        self.traffic.reset()

    def stats_json(self) -> dict[str, Any]:
        return {
            **self.stats.as_json(),
            "sources": self.traffic.as_json(),
            "peak_sources_in_flight": self.traffic.peak_sources_in_flight,
            "sources_fetching_at_once": self.traffic.sources_fetching_at_once(),
        }

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    # Clients open a connection per concurrent request; the default backlog of 5 drops SYNs
    # past it, and a dropped SYN is retried only after a second.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up mid-request (a failed run closing its other requests) is
        # routine for an API; anything else is printed as usual.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

