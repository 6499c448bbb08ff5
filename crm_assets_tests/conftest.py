"""Fixtures: the real sandbox over HTTP on 127.0.0.1, a tmp DuckDB file and a real instance."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest
import yaml

from crm_assets.config import CONFIGS_DIR, SourceConfig, load_source_configs
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.volume import Volume
from crm_assets_tests.postgres import fresh_database, require_postgres


def _default_interrupt_handlers() -> bool:
    """SIGINT and SIGTERM as an interactive Python has them; True if either was ignored."""
    ignored = False
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        ignored = True
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        ignored = True
    return ignored


@pytest.fixture(autouse=True)
def interrupts_not_ignored(request: pytest.FixtureRequest) -> Iterator[None]:
    """A suite started in the background (CI) inherits SIGINT ignored. Dagster maps SIGTERM to
    SIGINT's handler after every in-process run (`dagster._utils.interrupts`), so SIGTERM
    became ignored too, and servers the tests start inherited both: `dg dev` outlived its
    SIGTERM. Restore the interactive defaults around every test."""
    _default_interrupt_handlers()
    yield
    if _default_interrupt_handlers():
        warnings.warn(f"{request.node.nodeid} left SIGINT or SIGTERM ignored")


@pytest.fixture(scope="session")
def configs() -> list[SourceConfig]:
    return load_source_configs(CONFIGS_DIR)


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "crm.duckdb"


@pytest.fixture
def sandbox(
    configs: list[SourceConfig], duckdb_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """A sandbox serving every source, with the env pointing the pipeline at it."""
    with Sandbox(configs, volume=Volume(default=3)) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CRM_DUCKDB_PATH", str(duckdb_path))
        monkeypatch.setenv("CRM_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
        yield running


@pytest.fixture
def postgres_url(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> Iterator[str]:
    """A fresh Postgres database as the destination (after the sandbox's env)."""
    require_postgres()
    with fresh_database("crm_dest") as url:
        monkeypatch.setenv("CRM_DESTINATION", "postgres")
        monkeypatch.setenv("CRM_POSTGRES_URL", url)
        yield url


@pytest.fixture(params=["duckdb", "postgres"])
def destination(request: pytest.FixtureRequest, sandbox: Sandbox, duckdb_path: Path) -> Path | str:
    """Runs the test on each destination: the tmp DuckDB file (its path), then a fresh Postgres
    database (its URL); helpers.query and table_counts read either."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return duckdb_path


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def fast_retry_configs(tmp_path: Path) -> Path:
    """The shipped configs with a short backoff and timeout, so storms take seconds."""
    configs_dir = tmp_path / "fast_configs"
    shutil.copytree(CONFIGS_DIR, configs_dir)
    for path in configs_dir.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text())
        raw["retry"] = {"max_retries": 3, "backoff_factor": 0.05, "timeout_seconds": 1.0}
        path.write_text(yaml.safe_dump(raw))
    return configs_dir


class Webhook(list):
    url = ""


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A local alert receiver: what was posted, in order; `.url` to post to."""
    received = Webhook()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    yield received
    server.shutdown()
