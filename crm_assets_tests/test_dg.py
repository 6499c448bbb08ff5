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

import pytest
import requests

from crm_assets.sandbox.ports import free_port
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import table_counts

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
        "assets": 90, "asset_checks": 270, "jobs": 6, "schedules": 8, "sensors": 7,
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


@pytest.mark.slow
def test_dg_dev_serves_the_ui_with_the_code_location(tmp_path: Path):
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
                body = requests.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": "{ assetNodes { assetKey { path } } }"}, timeout=5,
                ).json()
                if len(body.get("data", {}).get("assetNodes") or []) == 90:
                    break
            except (requests.ConnectionError, requests.Timeout, ValueError):
                pass
            time.sleep(1)
        locations = requests.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"},
            timeout=10,
        ).json()["data"]["workspaceOrError"]["locationEntries"]
        assert [entry["name"] for entry in locations] == [LOCATION]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
