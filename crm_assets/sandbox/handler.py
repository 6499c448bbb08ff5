"""HTTP handling: a request to `/<source>/...` is routed, its credentials checked, counted,
admitted by the source's rate limit, delayed by the latency, then answered with its page or a
scripted fault; `/_sandbox/...` reads the stats and scripts faults, deletions and schema
changes."""

from __future__ import annotations

import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlparse

import orjson

from crm_assets.sandbox.api import serve_page
from crm_assets.sandbox.auth import Unauthorized, check_auth
from crm_assets.sandbox.faults import Fault, act_out
from crm_assets.sandbox.routes import Route
from crm_assets.sandbox.volume import SchemaChange

if TYPE_CHECKING:
    from crm_assets.sandbox.server import Sandbox


class SandboxHandler(BaseHTTPRequestHandler):
    """Answers for `sandbox` (bound by `handler_for`)."""

    sandbox: Sandbox
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each keep-alive request then
    # waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: request lines would carry api keys sent in the query

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.sandbox.stats.count_status(status)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, orjson.dumps(payload), headers)

    def do_POST(self) -> None:  # noqa: N802
        sandbox = self.sandbox
        if self.path == "/_sandbox/reset":
            sandbox.reset_stats()
            return self.send_json(200, {"reset": True})
        if self.path == "/_sandbox/deletions":
            for collection, ids in self._read_json().items():
                sandbox.delete(collection, ids)
            deleted = {k: sorted(v) for k, v in sandbox.volume.deleted.items()}
            return self.send_json(200, {"deleted": deleted})
        if self.path == "/_sandbox/schema":
            for change in self._read_json():
                sandbox.volume.change_schema(SchemaChange(**change))
            changes = [asdict(c) for c in sandbox.volume.schema_changes.values()]
            return self.send_json(200, {"schema_changes": changes})
        if self.path != "/_sandbox/faults":
            return self.send_json(404, {"error": "not found"})
        for fault in self._read_json():
            sandbox.add_fault(Fault(**fault))
        self.send_json(200, {"faults": [asdict(f) for f in sandbox.faults]})

    def _read_json(self) -> Any:
        return orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def do_GET(self) -> None:  # noqa: N802
        sandbox = self.sandbox
        parsed = urlparse(self.path)
        if parsed.path == "/_sandbox/stats":
            return self.send_json(200, sandbox.stats_json())
        source, _, rest = parsed.path.lstrip("/").partition("/")
        if source not in sandbox.routes:
            return self.send_json(404, {"error": f"no API at /{source}"})
        query = dict(parse_qsl(parsed.query))
        matched = [
            (route, match)
            for route in sandbox.routes[source]
            if (match := route.pattern.match("/" + rest))
        ]
        if not matched:
            return self.send_json(404, {"error": "no such endpoint"})
        route, match = matched[0]
        sandbox.stats.count_request(route.key)
        try:
            check_auth(route.config, self.headers, query, sandbox.secrets[source])
        except Unauthorized:
            return self.send_json(401, {"error": "invalid credentials"})
        answered, limit_headers, delay = sandbox.traffic.arrive(source)
        try:
            if not answered:
                return self.send_json(429, {"error": "rate limit exceeded"}, limit_headers)
            time.sleep(delay)
            self._answer(route, match, parsed.path, query, limit_headers)
        finally:
            sandbox.traffic.depart(source)

    def _answer(
        self, route: Route, match: Any, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> None:
        fault = self.sandbox.take_fault(path, query)
        if fault and act_out(fault, self):
            return
        try:
            self_url = f"http://{self.headers.get('Host')}{path}"
            page = serve_page(route, self.sandbox.volume, query, match, self_url)
        except LookupError:
            return self.send_json(404, {"error": "no such entity"})
        if fault:
            page = fault.reshape(page, route.resource.endpoint.data_selector)
        self.sandbox.stats.count_page(route.key, page.rows)
        if page.link_next:
            headers = {**headers, "Link": f'<{page.link_next}>; rel="next"'}
        self.send_json(200, page.body, headers)


def handler_for(sandbox: Sandbox) -> type[SandboxHandler]:
    return type("Handler", (SandboxHandler,), {"sandbox": sandbox})
