"""`dg`, Dagster's newer CLI, from the repo root: `[tool.dg]` in pyproject.toml points it at the
same code location as workspace.yaml."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from crm_assets.sandbox.ports import free_port
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import query, table_counts

REPO = Path(__file__).resolve().parent.parent
DG = Path(sys.executable).parent / "dg"
LOCATION = "crm_assets.definitions"


def _dg_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text((REPO / "dagster.local.yaml").read_text())
    # dg uses the project's .venv; naming it as the active one keeps dg from warning.
    return {**os.environ, "DAGSTER_HOME": str(home), "VIRTUAL_ENV": str(DG.parent.parent)}


def _dg(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DG), *args], cwd=REPO, env=_dg_env(tmp_path), capture_output=True, text=True,
        timeout=300,
    )


def test_dg_check_defs(tmp_path: Path):
    result = _dg("check", "defs", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_lists_every_asset_check_job_schedule_and_sensor(tmp_path: Path):
    result = _dg("list", "defs", "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    assert {kind: len(items) for kind, items in listed.items() if kind != "resources"} == {
        "assets": 90 + 11, "asset_checks": 378, "jobs": 6, "schedules": 8, "sensors": 7,
    }


@pytest.mark.slow
def test_dg_launch_materializes_one_asset_over_http(
    sandbox: Sandbox, tmp_path: Path, duckdb_path: Path
):
    sandbox.volume.overrides["lead_crm.lead"] = 150
    result = _dg("launch", "--assets", "lead_crm/lead", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (150, 150)
    assert sandbox.stats.pages["lead_crm.lead"] == 3  # two pages of 100, then the empty one


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    response = requests.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables or {}},
        timeout=30,
    )
    return response.json()["data"]


BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_RUNS = """query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
  ... on Runs { results { status } } } }"""


@pytest.mark.slow
def test_dg_dev_serves_the_code_location_and_runs_a_backfill_of_monthly_windows(
    sandbox: Sandbox, tmp_path: Path, duckdb_path: Path
):
    """As the UI's backfill dialog does: three monthly partitions of lead_crm/windows/lead,
    launched as a Dagster backfill and run by dg dev's daemon (one run: single-run policy),
    load exactly the leads updated in those months, and the asset shows them loaded."""
    sandbox.volume.minutes_per_id = 24 * 60  # a lead a day from 2025-01-02
    sandbox.volume.overrides["lead_crm.lead"] = 150
    port = free_port()
    server = subprocess.Popen(
        [str(DG), "dev", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
        env=_dg_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, "dg dev exited"
            assert time.monotonic() < deadline, "dg dev served no code location in 180 s"
            try:
                nodes = _graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
                if len(nodes or []) == 90 + 11:
                    break
            except (requests.ConnectionError, requests.Timeout, ValueError, KeyError, TypeError):
                pass
            time.sleep(1)
        locations = _graphql(
            port, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
        )["workspaceOrError"]["locationEntries"]
        assert [entry["name"] for entry in locations] == [LOCATION]

        launched = _graphql(port, BACKFILL, {"params": {
            "assetSelection": [{"path": ["lead_crm", "windows", "lead"]}],
            "partitionNames": ["2025-02-01", "2025-03-01", "2025-04-01"],
        }})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        # The daemon submits the backfill's run within 30 s (its interval); the backfill is
        # marked complete one interval after the run: wait for the run only.
        deadline = time.monotonic() + 240
        while (runs := _graphql(port, BACKFILL_RUNS, {"id": launched["backfillId"]})[
            "runsOrError"]["results"]) == [] or runs[0]["status"] not in ("SUCCESS", "FAILURE"):
            assert time.monotonic() < deadline, runs
            time.sleep(2)
        assert [run["status"] for run in runs] == ["SUCCESS"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert instance.get_materialized_partitions(
            dg.AssetKey(["lead_crm", "windows", "lead"])
        ) == {"2025-02-01", "2025-03-01", "2025-04-01"}
    expected = set(sandbox.volume.ids_updated(
        "lead_crm", "lead", "2025-02-01T00:00:00Z", "2025-05-01T00:00:00Z"
    ))
    assert {row[0] for row in query(duckdb_path, "select id from lead_crm.lead")} == expected
