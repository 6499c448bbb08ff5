"""The sandbox HTTP server: all configured APIs on one port, under `/<source>/...`.

Like a real API, it can answer after a latency and cap each source's requests per sliding
window (429 with Retry-After and X-RateLimit-* headers; `traffic.py`). Faults are scripted per
path (429 with Retry-After, 5xx, slow answers, resets mid-body, truncated or non-JSON bodies)
through `Sandbox.faults` or `POST /_sandbox/faults`; records are deleted between runs through
`Sandbox.delete` or `POST /_sandbox/deletions` (`{"<source>.<collection>": [ids]}`, `[]`
restores them all); schema changes (a field's type, new fields) per collection through
`Sandbox.volume.change_schema` or `POST /_sandbox/schema`; what was served is counted per
resource and per source (`GET /_sandbox/stats`), so tests can assert real page fetches, requests
in flight and the rate each source was served at.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import orjson

from crm_assets.config import RateLimitSpec, SourceConfig, load_source_configs
from crm_assets.pii import HASH_KEY_ENV
from crm_assets.sandbox.api import (
    Route,
    SchemaChange,
    Unauthorized,
    Volume,
    build_routes,
    check_auth,
    sandbox_secrets,
    serve_page,
)
from crm_assets.sandbox.traffic import Latency, Traffic


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `path` with this fault."""

    path: str
    kind: str = "status"  # status | slow | reset | truncate | garbage
    status: int = 503
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "pages": dict(self.pages),
            "rows": dict(self.rows),
            "statuses": {str(k): v for k, v in self.statuses.items()},
        }


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
    ) -> None:
        self.configs = {config.name: config for config in configs}
        self.secrets = {
            config.name: sandbox_secrets(config, secret_suffix) for config in configs
        }
        # The key the pipeline hashes personal data with; only the pipeline's side uses it.
        self.pii_hash_key = f"sbx-pii-hash-key-0123456789abcdef{secret_suffix}"
        self.routes = build_routes(configs)
        self.volume = volume or Volume()
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.traffic = Traffic(latency, rate_limits)
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_configs_dir(cls, configs_dir: Path, **kwargs: Any) -> Sandbox:
        return cls(load_source_configs(configs_dir), **kwargs)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, source: str) -> str:
        base_path = urlparse(self.configs[source].base_url).path
        return f"{self.url}/{source}{base_path}"

    def env(self) -> dict[str, str]:
        """Env vars pointing every source at the sandbox with credentials it accepts, and a
        PII hash key."""
        env: dict[str, str] = {HASH_KEY_ENV: self.pii_hash_key}
        for config in self.configs.values():
            env[config.base_url_env] = self.base_url(config.name)
            env.update(self.secrets[config.name])
        return env

    def route(self, source: str, resource: str) -> Route:
        return next(r for r in self.routes[source] if r.resource.name == resource)

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in path:
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


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, each keep-alive request then
        # waits ~40 ms for the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: request lines would carry api keys sent in the query

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            with sandbox._lock:
                sandbox.stats.statuses[status] += 1

        def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None):
            self._send(status, orjson.dumps(payload), headers)

        def do_POST(self) -> None:  # noqa: N802
            if self.path == "/_sandbox/reset":
                sandbox.reset_stats()
                return self._send_json(200, {"reset": True})
            if self.path == "/_sandbox/deletions":
                length = int(self.headers.get("Content-Length", 0))
                for collection, ids in orjson.loads(self.rfile.read(length)).items():
                    sandbox.delete(collection, ids)
                deleted = {k: sorted(v) for k, v in sandbox.volume.deleted.items()}
                return self._send_json(200, {"deleted": deleted})
            if self.path == "/_sandbox/schema":
                length = int(self.headers.get("Content-Length", 0))
                for change in orjson.loads(self.rfile.read(length)):
                    sandbox.volume.change_schema(SchemaChange(**change))
                changes = [asdict(c) for c in sandbox.volume.schema_changes.values()]
                return self._send_json(200, {"schema_changes": changes})
            if self.path != "/_sandbox/faults":
                return self._send_json(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length", 0))
            for fault in orjson.loads(self.rfile.read(length)):
                sandbox.add_fault(Fault(**fault))
            self._send_json(200, {"faults": [asdict(f) for f in sandbox.faults]})

        def do_GET(self) -> None:  # noqa: N802
            parsed = urlparse(self.path)
            if parsed.path == "/_sandbox/stats":
                return self._send_json(200, sandbox.stats_json())
            source, _, rest = parsed.path.lstrip("/").partition("/")
            if source not in sandbox.routes:
                return self._send_json(404, {"error": f"no API at /{source}"})
            query = dict(parse_qsl(parsed.query))
            matched = [
                (route, match)
                for route in sandbox.routes[source]
                if (match := route.pattern.match("/" + rest))
            ]
            if not matched:
                return self._send_json(404, {"error": "no such endpoint"})
            route, match = matched[0]
            with sandbox._lock:
                sandbox.stats.requests[route.key] += 1
            try:
                check_auth(route.config, self.headers, query, sandbox.secrets[source])
            except Unauthorized:
                return self._send_json(401, {"error": "invalid credentials"})
            answered, limit_headers, delay = sandbox.traffic.arrive(source)
            try:
                if not answered:
                    return self._send_json(429, {"error": "rate limit exceeded"}, limit_headers)
                time.sleep(delay)
                self._answer(route, match, parsed.path, query, limit_headers)
            finally:
                sandbox.traffic.depart(source)

        def _answer(
            self, route: Route, match: Any, path: str, query: dict[str, str],
            headers: dict[str, str],
        ) -> None:
            fault = sandbox.take_fault(path)
            if fault and self._apply_fault(fault):
                return
            try:
                self_url = f"http://{self.headers.get('Host')}{path}"
                page = serve_page(route, sandbox.volume, query, match, self_url)
            except LookupError:
                return self._send_json(404, {"error": "no such entity"})
            with sandbox._lock:
                sandbox.stats.pages[route.key] += 1
                sandbox.stats.rows[route.key] += page.rows
            if page.link_next:
                headers = {**headers, "Link": f'<{page.link_next}>; rel="next"'}
            self._send_json(200, page.body, headers)

        def _apply_fault(self, fault: Fault) -> bool:
            """Act out the fault; False means answer normally afterwards (a slow answer)."""
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return False
            if fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                self._send_json(fault.status, {"error": "injected fault"}, headers)
            elif fault.kind == "garbage":
                self._send(200, b"<html>upstream proxy error</html>")
            elif fault.kind in ("reset", "truncate"):
                body = b'{"data": [{"id": 1, "name": "cut'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) * 4))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if fault.kind == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                self.close_connection = True
            return True

    return Handler
