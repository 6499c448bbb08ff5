"""Another process holding the DuckDB file (the DuckDB CLI, a notebook): a load or a check
waits for it a bounded time, saying once what it waits for, then loads, or fails naming the
file and its holder with nothing written."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import SourceConfig
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import assert_tables_exact, execute_checks, materialize, table_counts

HOLDER = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read_only")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
connection.close()
"""


@contextmanager
def held(duckdb_path: Path, mode: str, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """A process of its own holding the file with a connection for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(duckdb_path), mode, str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _warnings(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id) if entry.level >= 30]


def _config(configs: list[SourceConfig], name: str) -> SourceConfig:
    return next(config for config in configs if config.name == name)


def test_a_load_waits_for_a_process_reading_the_file_then_loads_exact(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance, duckdb_path: Path
):
    assert materialize(instance, "group:lead_crm").success
    sandbox.volume.overrides["lead_crm.account"] = 40
    with held(duckdb_path, "read_only", seconds=3) as holder:
        started = time.monotonic()
        result = materialize(instance, "group:lead_crm")
        waited = time.monotonic() - started
    assert result.success and waited >= 2
    [waiting] = [line for line in _warnings(instance, result.run_id) if "waiting up to" in line]
    assert waiting.startswith(
        f"waiting up to 180 s for {duckdb_path}: Conflicting lock is held in "
    ) and waiting.endswith(f"(PID {holder.pid})")
    assert_tables_exact(sandbox, _config(configs, "lead_crm"), duckdb_path)


def test_a_file_held_past_the_bound_fails_the_load_and_the_checks_naming_it_writing_nothing(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    assert materialize(instance, "group:lead_crm").success
    before = table_counts(duckdb_path, "lead_crm")
    sandbox.volume.overrides["lead_crm.account"] = 40
    monkeypatch.setenv("CRM_DUCKDB_WAIT_SECONDS", "2")
    with held(duckdb_path, "read_write", seconds=60) as holder:
        started = time.monotonic()
        result = materialize(instance, "group:lead_crm", raise_on_error=False)
        assert time.monotonic() - started < 30
        checks = execute_checks(instance, "lead_crm")
    for run in (result, checks):
        assert not run.success
        failure = next(event for event in run.all_events if event.is_step_failure)
        message = failure.event_specific_data.error.message
        assert f"{duckdb_path} is held by another process (Conflicting lock is held in " in message
        assert f"(PID {holder.pid})); waited 2 s, wrote nothing" in message
    assert table_counts(duckdb_path, "lead_crm") == before
