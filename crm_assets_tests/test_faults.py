"""Faults from the API: each is retried and recovered with exact row counts, or the run fails
with source, resource, URL path and status, and no secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import materialize, run_checks, table_counts

REPO = Path(__file__).resolve().parent.parent
ROWS = 450  # five pages of 100 (offset paging, then the empty page)


def _load_lead(instance: dg.DagsterInstance, configs_dir: Path | None, raise_on_error: bool = True):
    return materialize(instance, 'key:"lead_crm/lead"', configs_dir, raise_on_error=raise_on_error)


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failure = next(event for event in result.all_events if event.is_step_failure)
    return failure.event_specific_data.error.to_string()


RECOVERABLE = [
    Fault(path="/v1/lead", kind="status", status=429, times=3, retry_after=0.1),
    Fault(path="/v1/lead", kind="status", status=500, times=3),
    Fault(path="/v1/lead", kind="status", status=502, times=3),
    Fault(path="/v1/lead", kind="status", status=503, times=3),
    Fault(path="/v1/lead", kind="status", status=504, times=3),
    Fault(path="/v1/lead", kind="slow", delay=1.5, times=2),
    Fault(path="/v1/lead", kind="reset", times=3),
    Fault(path="/v1/lead", kind="truncate", times=3),
    Fault(path="/v1/lead", kind="garbage", times=3),
]


@pytest.mark.parametrize("fault", RECOVERABLE, ids=lambda f: f"{f.kind}-{f.status}")
def test_a_burst_of_faults_is_retried_and_loses_no_row(
    fault: Fault, sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path,
    fast_retry_configs: Path,
):
    sandbox.volume.overrides["lead_crm.lead"] = ROWS
    sandbox.add_fault(fault)
    assert _load_lead(instance, fast_retry_configs).success
    assert fault.times == 0  # every fault was served
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS, ROWS)


def test_5xx_backoff_is_exponential_with_factor_2(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides["lead_crm.lead"] = ROWS
    sandbox.add_fault(Fault(path="/v1/lead", kind="status", status=503, times=2))
    started = time.monotonic()
    assert _load_lead(instance, None).success
    assert time.monotonic() - started >= 2 + 4  # waits of 2 s then 4 s
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS, ROWS)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(path="/v1/lead", kind="status", status=429, times=4, retry_after=0.1),
         "lead_crm/lead: GET /lead_crm/v1/lead answered HTTP 429 Too Many Requests (HTTPError)"),
        (Fault(path="/v1/lead", kind="status", status=503, times=4),
         "lead_crm/lead: GET /lead_crm/v1/lead answered HTTP 503 Service Unavailable (HTTPError)"),
        (Fault(path="/v1/lead", kind="garbage", times=4),
         "lead_crm/lead: GET /lead_crm/v1/lead?updated_after=2000-01-01T00:00:00Z&offset=0"
         "&limit=100 answered HTTP 200 that is not data (the body is not JSON), after the "
         "configured retries; it began: <html>upstream proxy error</html>"),
    ],
    ids=["429", "503", "garbage"],
)
def test_a_storm_longer_than_the_retries_fails_naming_source_resource_path_and_status(
    fault: Fault, expected: str, sandbox: Sandbox, instance: dg.DagsterInstance,
    fast_retry_configs: Path,
):
    sandbox.volume.overrides["lead_crm.lead"] = ROWS
    sandbox.add_fault(fault)
    result = _load_lead(instance, fast_retry_configs, raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert expected in message and message.count("lead_crm/lead") >= 1
    assert sandbox.secrets["lead_crm"]["LEAD_CRM_API_KEY"] not in message
    assert "api_key=" not in message


def test_a_field_changing_type_between_runs_loads_on_and_shows_as_drift(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    assert materialize(instance, "group:lead_crm").success
    sandbox.volume.amount_as_text.add("lead_crm.account")
    sandbox.volume.overrides["lead_crm.account"] = 5
    result = materialize(instance, "group:lead_crm")
    assert result.success
    assert table_counts(duckdb_path, "lead_crm")["account"] == (5, 5)
    drift = next(
        e for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1] == "account" and e.check_name == "schema_drift"
    )
    assert not drift.passed and drift.metadata["columns_added"].value == ["amount__v_text"]


def _cli_materialize(selection: str, tmp_path: Path, name: str) -> subprocess.Popen[str]:
    home = tmp_path / f"home_{name}"
    home.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crm_assets.definitions",
         "--select", selection],
        cwd=REPO, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


@pytest.mark.slow
def test_a_run_killed_half_way_is_completed_by_the_next_run_without_duplicates(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, tmp_path: Path
):
    rows = 30_000  # fifteen pages of 2000
    sandbox.volume.overrides["success_analytics.sales"] = rows
    sandbox.add_fault(Fault(path="/sales", kind="slow", delay=0.3, times=1000))
    killed = _cli_materialize('key:"success_analytics/sales"', tmp_path, "killed")
    deadline = time.monotonic() + 120
    while sandbox.stats.pages["success_analytics.sales"] < 5:
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    sandbox.faults.clear()

    rerun = _cli_materialize('key:"success_analytics/sales"', tmp_path, "rerun")
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output[-3000:]
    assert table_counts(duckdb_path, "success_analytics")["sales"] == (rows, rows)


@pytest.mark.slow
def test_two_materializations_of_one_source_at_once_do_not_corrupt_each_other(
    sandbox: Sandbox, duckdb_path: Path, tmp_path: Path, instance: dg.DagsterInstance
):
    sandbox.volume.overrides["lead_crm.lead"] = 3000
    runs = [_cli_materialize("group:lead_crm", tmp_path, name) for name in ("first", "second")]
    for run in runs:
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, output[-3000:]
    counts = table_counts(duckdb_path, "lead_crm")
    assert counts["lead"] == (3000, 3000)
    assert all(rows == keys for rows, keys in counts.values())
    assert all(e.passed for e in run_checks(instance, "lead_crm").values())
