"""`dagster definitions validate` on the workspace (`dagster asset materialize --select '*'`
runs in test_secrets.py, which scans its output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
