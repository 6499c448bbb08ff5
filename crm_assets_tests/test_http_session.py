"""The run's HTTP session reads proxy variables once per run, and still honours them."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from crm_assets.sandbox.ports import free_port
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import expected_counts, materialize, table_counts

PROXY_VARIABLES = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                   "all_proxy", "NO_PROXY", "no_proxy"]


class _ForwardingProxy(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: records each absolute-form request line and relays it."""

    seen: list[str] = []
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen.append(self.path)
        request = urllib.request.Request(self.path, headers=dict(self.headers.items()))
        try:
            upstream = self.direct.open(request)
        except urllib.error.HTTPError as error:
            upstream = error
        body = upstream.read()
        self.send_response(upstream.status)
        for name, value in upstream.headers.items():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    _ForwardingProxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _ForwardingProxy.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_every_request_goes_through_the_proxy_the_environment_names(
    no_proxy_settings: None, sandbox: Sandbox, proxy: tuple[str, list[str]],
    instance: dg.DagsterInstance, duckdb_path, configs, monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy_url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    materialize(instance, 'key:"lead_crm/lead"')
    config = next(c for c in configs if c.name == "lead_crm")
    rows = expected_counts(sandbox, config)["lead"]
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (rows, rows)
    lead_requests = [line for line in seen if "/v1/lead" in line]
    assert lead_requests
    assert all(line.startswith(sandbox.base_url("lead_crm")) for line in lead_requests)


def test_no_proxy_sends_the_api_host_direct(
    no_proxy_settings: None, sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path, configs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    materialize(instance, 'key:"lead_crm/lead"')
    config = next(c for c in configs if c.name == "lead_crm")
    rows = expected_counts(sandbox, config)["lead"]
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (rows, rows)
