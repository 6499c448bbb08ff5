"""What the asset page shows after a run is what the destination holds."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import materialization_metadata, materialize, table_counts

ROWS = 500
LAG_WINDOW_ROWS = 61  # updated_at of record n is minute n; the cursor re-reads the last hour


@pytest.mark.usefixtures("budget_not_under_test")
def test_row_count_and_table_name_are_the_tables_on_a_first_run_a_rerun_and_after_a_change(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides.update(
        {"lead_crm.lead": ROWS, "lead_crm.opportunity": ROWS, "lead_crm.account": 7,
         "lead_crm.contact": 0}
    )
    for run in ("first", "rerun", "changed"):
        if run == "changed":
            sandbox.volume.revisions["lead_crm.lead"] = {3: 1}
        result = materialize(instance, "group:lead_crm")
        assert result.success
        metadata = {
            key.removeprefix("lead_crm/"): shown
            for key, shown in materialization_metadata(result).items()
        }
        in_tables = table_counts(duckdb_path, "lead_crm")
        assert set(metadata) == {"account", "contact", "lead", "opportunity"}
        for table, shown in metadata.items():
            assert shown["dagster/row_count"] == in_tables.get(table, (0, 0))[0], (run, table)
            assert shown["dagster/table_name"] == f"lead_crm.{table}"
            assert "jobs" not in shown
            assert not any("/" in str(value) and "tmp" in str(value) for value in shown.values())
        assert metadata["lead"]["dagster/row_count"] == ROWS
        expected_loaded = {"first": ROWS, "rerun": LAG_WINDOW_ROWS, "changed": LAG_WINDOW_ROWS + 1}
        assert metadata["lead"]["rows_loaded"] == expected_loaded[run]
        assert metadata["contact"]["dagster/row_count"] == 0
        columns = {column.name for column in metadata["lead"]["dagster/column_schema"].columns}
        assert {"id", "updated_at"} <= columns
