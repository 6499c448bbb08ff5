"""Fixtures: the real sandbox over HTTP on 127.0.0.1, a tmp DuckDB file and a real instance."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest
import yaml

try:
    from _pytest.nodeid import NodeId  # pytest >= 9.2
except ImportError:  # earlier pytest: xdist's own suffix takes
    NodeId = None  # type: ignore[assignment,misc]

from crm_assets.config import CONFIGS_DIR, SourceConfig, load_source_configs
from crm_assets.sandbox.counters import Stats
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Traffic
from crm_assets.sandbox.volume import Volume
from crm_assets_tests.helpers import unpaced_budgets
from crm_assets_tests.postgres import fresh_database, require_postgres


# Scratch in memory where the machine has it: every test writes a DuckDB file, dlt's working
# directory and a Dagster instance (SQLite, a commit per event), and on a disk each commit's fsync
# cost more than the test's own work. CRM_TEST_BASETEMP=disk (or pytest's --basetemp) keeps them
# under pytest's default temporary directory.
MEMORY_SCRATCH = Path("/dev/shm")
SCRATCH_PREFIX = "crm_assets_tests-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or config.option.basetemp:
        return  # an xdist worker takes its controller's; an explicit one is kept
    if os.environ.get("CRM_TEST_BASETEMP") == "disk" or not (
        MEMORY_SCRATCH.is_dir() and os.access(MEMORY_SCRATCH, os.W_OK)
    ):
        return
    # Earlier sessions' scratch (kept after a failure, for a look) goes once they have ended.
    for old in MEMORY_SCRATCH.glob(f"{SCRATCH_PREFIX}*"):
        pid = old.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=MEMORY_SCRATCH))
    config.option.basetemp = str(scratch)
    config.stash[_MEMORY_SCRATCH] = scratch


_MEMORY_SCRATCH = pytest.StashKey[Path]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    scratch = session.config.stash.get(_MEMORY_SCRATCH, None)
    if scratch is not None and exitstatus == 0:
        shutil.rmtree(scratch, ignore_errors=True)


def _keep_xdist_groups_together(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` sends the tests of one xdist_group to one worker by the `@<group>`
    suffix pytest-xdist (3.8) gives their node ids on each worker. From pytest 9.2 an item's
    node id is read from `item._id` (a NodeId), not the `_nodeid` xdist sets: no suffix, so
    the Celery cluster tests ran at once on different workers, each with its two Celery
    workers. Give the suffix where xdist's did not take."""
    if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
        return
    for item in items:
        groups = sorted({
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        })
        suffix = f"@{'_'.join(groups)}"
        if groups and NodeId is not None and not item.nodeid.endswith(suffix) \
                and isinstance(getattr(item, "_id", None), NodeId):
            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest work first, so the workers end together instead of one finishing a
    long test alone: the xdist groups (run one after another in one worker), then the `slow`
    tests, then the rest, each in collection order (module-scoped fixtures stay together within
    a group; the rest are per test). Every worker collects the same order."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)
    _keep_xdist_groups_together(config, items)


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


# A new sandbox's state: what tests script and read (data, faults, counters, latency and rate
# limits), each as `Sandbox(configs, volume=Volume(default=3))` starts it.
_SANDBOX_STATE = {
    "volume": lambda: Volume(default=3),
    "faults": list,
    "stats": Stats,
    "traffic": Traffic,
}
# The rest, fixed by the configs it serves: kept across tests (the secrets copied anew).
_SANDBOX_FIXED = {"configs", "secrets", "pii_hash_key", "routes", "_lock", "_server", "_thread"}


class _ServingSandbox:
    """One running sandbox server for the whole session, handed to each test in a new
    sandbox's state: starting and stopping one per test cost half a second each."""

    def __init__(self, running: Sandbox) -> None:
        unknown = set(vars(running)) - _SANDBOX_FIXED - set(_SANDBOX_STATE)
        assert not unknown, f"conftest does not know how to renew the sandbox's {sorted(unknown)}"
        self.running = running
        self.fixed = {name: value for name, value in vars(running).items() if name in _SANDBOX_FIXED}

    def fresh(self) -> Sandbox:
        """The sandbox as a new one is: attributes a test replaced or added are undone."""
        self._wait_until_idle()
        attributes = vars(self.running)
        attributes.clear()
        attributes.update(self.fixed)
        attributes["secrets"] = copy.deepcopy(self.fixed["secrets"])
        for name, new in _SANDBOX_STATE.items():
            attributes[name] = new()
        return self.running

    def _wait_until_idle(self, timeout: float = 60) -> None:
        """Until no request of an earlier test is still being answered (a slow fault's, a
        killed run's), so none is counted in the next test's stats."""
        deadline = time.monotonic() + timeout
        while any(t.in_flight for t in list(self.running.traffic.sources.values())):
            assert time.monotonic() < deadline, f"the sandbox still answers a request after {timeout} s"
            time.sleep(0.05)


@pytest.fixture(scope="session")
def serving_sandbox(configs: list[SourceConfig]) -> Iterator[_ServingSandbox]:
    """The sandbox server of this test process (one per xdist worker)."""
    with Sandbox(configs, volume=Volume(default=3)) as running:
        yield _ServingSandbox(running)


@pytest.fixture
def sandbox(
    serving_sandbox: _ServingSandbox, duckdb_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Sandbox:
    """A sandbox serving every source, fresh for the test (no data changed, no fault, nothing
    counted, no latency or rate limit), with the env pointing the pipeline at it."""
    running = serving_sandbox.fresh()
    for name, value in running.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRM_DUCKDB_PATH", str(duckdb_path))
    monkeypatch.setenv("CRM_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
    return running


@pytest.fixture
def budget_not_under_test(
    sandbox: Sandbox, configs: list[SourceConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a test about something else than pacing: every source's request budget raised by its
    env override (as an operator would for a larger plan), so the test does not wait out the
    shipped 10 requests a second (its sandbox enforces no limit unless the test sets one). The
    shipped budgets' pacing is under test in test_throttling, test_concurrency and
    test_backfill_windows, which do not use this."""
    for name, value in unpaced_budgets(configs).items():
        monkeypatch.setenv(name, value)


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
    """An in-memory instance, as `execute_in_process` uses by default: the same SQL run and
    event storage, on an in-memory SQLite. SQLite files (even in memory scratch) cost half the
    CPU of a run with checks: a new file connection for each event. Tests of what reaches a
    persistent instance (secrets, PII, the CLI's runs) have a DAGSTER_HOME of their own."""
    with dg.DagsterInstance.ephemeral() as test_instance:
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
