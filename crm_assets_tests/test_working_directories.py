"""dlt's working directory belongs to the checkout: two side by side share no state, and dlt's
machine-wide default (~/.dlt/pipelines) is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import table_counts


@pytest.mark.usefixtures("budget_not_under_test")
@pytest.mark.slow
def test_two_checkouts_side_by_side_keep_their_dlt_state_apart(sandbox: Sandbox, tmp_path: Path):
    sandbox.volume.overrides["lead_crm.lead"] = 120
    machine_wide = tmp_path / "machine_wide_dlt"
    env = {
        name: value for name, value in os.environ.items()
        if name not in ("CRM_PIPELINES_DIR", "CRM_DUCKDB_PATH")
    }
    env["DLT_DATA_DIR"] = str(machine_wide)
    for checkout in (tmp_path / "checkout_a", tmp_path / "checkout_b"):
        (checkout / ".dagster_home").mkdir(parents=True)
        finished = subprocess.run(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
             "crm_assets.definitions", "--select", "group:lead_crm"],
            cwd=checkout, env={**env, "DAGSTER_HOME": str(checkout / ".dagster_home")},
            capture_output=True, text=True, timeout=300,
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        assert (checkout / "data" / "dlt_pipelines" / "lead_crm" / "state.json").exists()
        assert table_counts(checkout / "data" / "crm.duckdb", "lead_crm")["lead"] == (120, 120)
        assert "in state differs from" not in finished.stderr
    assert not (machine_wide / "pipelines").exists()
