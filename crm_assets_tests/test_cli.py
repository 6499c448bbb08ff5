"""The real CLI: `dagster definitions validate` and `dagster asset materialize --select '*'`.

The CLI runs every source in its own process at once (multiprocess executor); they share one
DuckDB file, which takes one writer at a time, so this proves the writers are serialized.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crm_assets.config import SourceConfig
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import expected_counts, table_counts

REPO = Path(__file__).resolve().parent.parent


def _dagster(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "dagster", *args], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=300,
    )


def test_workspace_validates(tmp_path: Path):
    result = _dagster("definitions", "validate", "-w", "workspace.yaml", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_materialize_select_all_from_the_cli_loads_every_source(
    sandbox: Sandbox, configs: list[SourceConfig], duckdb_path: Path, tmp_path: Path
):
    sandbox.volume.default = 4
    result = _dagster(
        "asset", "materialize", "-m", "crm_assets.definitions", "--select", "*", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stderr
    for config in configs:
        expected = expected_counts(sandbox, config)
        loaded = table_counts(duckdb_path, config.name)
        assert {name: loaded[name][0] for name in expected} == expected, config.name
