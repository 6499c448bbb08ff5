"""Incremental loads: dlt's cursor, kept in the destination, asks the API only for changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import materialize, query, table_counts

ROWS = 500
# `updated_at` of record n is minute n; the cursor's lag (1 h) re-reads the last 60 minutes.
LAG_WINDOW_ROWS = 61


def _served(sandbox: Sandbox) -> int:
    return sandbox.stats.rows["lead_crm.lead"]


def test_a_rerun_fetches_only_changes_and_merges_a_changed_record_in_place(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, tmp_path: Path
):
    sandbox.volume.overrides["lead_crm.lead"] = ROWS
    assert materialize(instance, 'key:"lead_crm/lead"').success
    assert _served(sandbox) == ROWS

    # No upstream change, and the local dlt working directory wiped: the cursor comes back
    # from the destination's state table.
    shutil.rmtree(tmp_path / "dlt_pipelines")
    sandbox.reset_stats()
    assert materialize(instance, 'key:"lead_crm/lead"').success
    assert _served(sandbox) == LAG_WINDOW_ROWS
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS, ROWS)

    sandbox.volume.revisions["lead_crm.lead"] = {3: 1}
    sandbox.reset_stats()
    assert materialize(instance, 'key:"lead_crm/lead"').success
    assert _served(sandbox) == LAG_WINDOW_ROWS + 1
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS, ROWS)
    assert query(duckdb_path, "select name from lead_crm.lead where id = 3") == [("lead 3 (rev 1)",)]


def test_new_records_arrive_on_the_next_incremental_run(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides["lead_crm.lead"] = ROWS
    assert materialize(instance, 'key:"lead_crm/lead"').success
    sandbox.volume.overrides["lead_crm.lead"] = ROWS + 40
    sandbox.reset_stats()
    assert materialize(instance, 'key:"lead_crm/lead"').success
    assert _served(sandbox) == LAG_WINDOW_ROWS + 40
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS + 40, ROWS + 40)


@pytest.mark.usefixtures("budget_not_under_test")
def test_the_full_refresh_tag_or_config_reloads_from_scratch(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides["lead_crm.lead"] = ROWS
    assert materialize(instance, "group:lead_crm").success
    # Rows the API no longer has: only a full refresh removes them from a merge table.
    sandbox.volume.overrides["lead_crm.lead"] = ROWS - 100
    sandbox.reset_stats()
    assert materialize(instance, "group:lead_crm", tags={"crm/full_refresh": "true"}).success
    assert _served(sandbox) == ROWS - 100
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS - 100, ROWS - 100)
    accounts = sandbox.volume.default
    assert table_counts(duckdb_path, "lead_crm")["account"] == (accounts, accounts)

    sandbox.volume.overrides["lead_crm.lead"] = ROWS - 200
    full_refresh = {"ops": {"lead_crm": {"config": {"full_refresh": True}}}}
    assert materialize(instance, "group:lead_crm", run_config=full_refresh).success
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (ROWS - 200, ROWS - 200)
