"""Asset checks read the loaded tables: each one passes on good data and fails on bad data."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import execute, materialize, run_checks

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def test_checks_run_with_every_materialization_and_pass_on_good_data(
    sandbox: Sandbox, instance: dg.DagsterInstance
):
    result = materialize(instance, "group:lead_crm")
    evaluations = result.get_asset_check_evaluations()
    # lead_crm's four assets: primary_key_unique, has_rows, schema_drift and row_volume; it
    # marks no deletions and keeps no history, so no deletions_held.
    assert len(evaluations) == 4 * 4
    assert all(evaluation.passed for evaluation in evaluations)


def test_a_repeated_primary_key_fails_the_blocking_check(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    assert materialize(instance, "group:lead_crm").success
    execute(duckdb_path, "insert into lead_crm.account select * from lead_crm.account where id = 3")
    checks = run_checks(instance, "lead_crm")
    account = checks["account", "primary_key_unique"]
    assert not account.passed and account.severity == ERROR
    assert "repeated key" in account.description and "['3']" in account.description
    assert checks["lead", "primary_key_unique"].passed


@pytest.mark.usefixtures("budget_not_under_test")
def test_an_empty_table_fails_has_rows_as_error_or_warn_where_it_may_be_empty(
    sandbox: Sandbox, instance: dg.DagsterInstance
):
    sandbox.volume.overrides.update({"deal_crm.deals": 0, "deal_crm.filters": 0})
    assert materialize(instance, "group:deal_crm").success
    checks = run_checks(instance, "deal_crm")
    deals, filters = checks["deals", "has_rows"], checks["filters", "has_rows"]
    assert (deals.passed, deals.severity) == (False, ERROR)
    assert (filters.passed, filters.severity) == (False, WARN)
    assert checks["contacts", "has_rows"].passed


def test_schema_drift_warns_with_the_added_and_removed_columns(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides["lead_crm.lead"] = 100
    assert materialize(instance, "group:lead_crm").success
    sandbox.volume.overrides["lead_crm.lead"] = 200  # rows from id 150 carry `archived_reason`
    result = materialize(instance, "group:lead_crm")
    drift = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    added = drift["lead", "schema_drift"]
    assert (added.passed, added.severity) == (False, WARN)
    assert added.metadata["columns_added"].value == ["archived_reason"]
    assert drift["account", "schema_drift"].passed

    execute(duckdb_path, "alter table lead_crm.account drop column amount")
    removed = run_checks(instance, "lead_crm")["account", "schema_drift"]
    assert not removed.passed and removed.metadata["columns_removed"].value == ["amount"]
