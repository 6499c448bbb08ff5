"""Schema contracts: between two runs the API sends `amount` as text and a new field `priority`
from record 4 on (and three new records); each mode gives exactly its documented result."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from crm_assets.config import CONFIGS_DIR
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.volume import SchemaChange
from crm_assets_tests.helpers import materialization_metadata, materialize, query

FIRST, SECOND = 6, 9  # account rows served by the first and the second run
CHANGED = SECOND - 3  # records 4..9 carry the change
ACCOUNT = 'key:"lead_crm/account"'


def _configs_with_contract(tmp_path: Path, contract: object) -> Path:
    configs_dir = tmp_path / "contract_configs"
    shutil.copytree(CONFIGS_DIR, configs_dir)
    path = configs_dir / "lead_crm.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["resources"][0]["schema_contract"] = contract
    path.write_text(yaml.safe_dump(raw))
    return configs_dir


def _first_run_then_change(
    sandbox: Sandbox, instance: dg.DagsterInstance, configs_dir: Path
) -> dg.ExecuteInProcessResult:
    sandbox.volume.overrides["lead_crm.account"] = FIRST
    assert materialize(instance, ACCOUNT, configs_dir=configs_dir).success
    sandbox.volume.overrides["lead_crm.account"] = SECOND
    sandbox.volume.change_schema(
        SchemaChange("lead_crm.account", amount_as_text=True, new_fields={"priority": "high"}, from_id=4)
    )
    return materialize(instance, ACCOUNT, configs_dir=configs_dir, raise_on_error=False)


def _columns(duckdb_path: Path) -> set[str]:
    return {
        name for (name,) in query(
            duckdb_path,
            "select column_name from information_schema.columns "
            "where table_schema = 'lead_crm' and table_name = 'account'",
        )
    }


def _drift(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "schema_drift")


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    error = next(e for e in result.all_events if e.is_step_failure).event_specific_data.error
    assert error.cls_name == "Failure"
    return error.message.split(": ", 1)[1]


def test_evolve_adds_the_column_and_a_variant_column_for_the_text(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, tmp_path: Path
):
    result = _first_run_then_change(sandbox, instance, _configs_with_contract(tmp_path, "evolve"))
    assert result.success
    assert {"priority", "amount__v_text"} <= _columns(duckdb_path)
    assert query(
        duckdb_path,
        "select count(*), count(amount), count(amount__v_text), count(priority) from lead_crm.account",
    ) == [(SECOND, 3, CHANGED, CHANGED)]
    drift = _drift(result)
    assert (drift.passed, drift.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert drift.metadata["columns_added"].value == ["amount__v_text", "priority"]


@pytest.mark.parametrize(
    ("contract", "rejected"),
    [
        ("freeze", "type text in column 'amount' of table 'account', which holds double; "
                   "schema_contract data_type: freeze"),
        ({"columns": "freeze"}, "a new column 'priority' of type text in table 'account'; "
                                "schema_contract columns: freeze"),
    ],
    ids=["freeze", "columns_freeze"],
)
def test_freeze_fails_naming_source_resource_column_and_type_and_commits_nothing(
    contract: object, rejected: str, sandbox: Sandbox, instance: dg.DagsterInstance,
    duckdb_path: Path, tmp_path: Path,
):
    result = _first_run_then_change(sandbox, instance, _configs_with_contract(tmp_path, contract))
    assert not result.success
    message = _failure_message(result)
    assert message.startswith(
        f"lead_crm/account: the API sent {rejected} rejects it, and nothing of this run was loaded"
    ), message
    for value in ("EUR", "high", "Offending", "@example.test"):
        assert value not in message
    # The table is the first run's, untouched: its rows, its columns, its one load.
    assert "priority" not in _columns(duckdb_path) and "amount__v_text" not in _columns(duckdb_path)
    assert query(
        duckdb_path, "select count(*), count(amount), count(distinct _dlt_load_id) from lead_crm.account"
    ) == [(FIRST, FIRST, 1)]


def test_discard_row_keeps_changed_rows_out_and_counts_them(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, tmp_path: Path
):
    result = _first_run_then_change(sandbox, instance, _configs_with_contract(tmp_path, "discard_row"))
    assert result.success
    # Records 1..3 are loaded again, 4..6 keep the first run's version, 7..9 never arrive.
    assert query(
        duckdb_path,
        "select list(id order by id) from lead_crm.account group by _dlt_load_id order by 1",
    ) == [([1, 2, 3],), ([4, 5, 6],)]
    assert query(duckdb_path, "select count(amount) from lead_crm.account") == [(FIRST,)]
    assert {"priority", "amount__v_text"}.isdisjoint(_columns(duckdb_path))
    shown = materialization_metadata(result)["lead_crm/account"]
    assert (shown["rows_discarded"], shown["values_discarded"]) == (CHANGED, 0)
    assert shown["rows_loaded"] == 3 and shown["dagster/row_count"] == FIRST
    drift = _drift(result)
    assert (drift.passed, drift.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert drift.metadata["columns_discarded"].value == ["amount__v_text", "priority"]
    assert "['amount__v_text', 'priority']" in drift.description


@pytest.mark.usefixtures("budget_not_under_test")
def test_discard_value_loads_every_row_without_the_new_column_or_the_text(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, tmp_path: Path
):
    result = _first_run_then_change(sandbox, instance, _configs_with_contract(tmp_path, "discard_value"))
    assert result.success
    assert query(duckdb_path, "select count(*), count(amount) from lead_crm.account") == [(SECOND, 3)]
    assert {"priority", "amount__v_text"}.isdisjoint(_columns(duckdb_path))
    shown = materialization_metadata(result)["lead_crm/account"]
    assert (shown["rows_discarded"], shown["values_discarded"]) == (0, 2 * CHANGED)
    assert shown["columns_discarded"] == ["amount__v_text", "priority"]
    drift = _drift(result)
    assert (drift.passed, drift.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert drift.metadata["columns_discarded"].value == ["amount__v_text", "priority"]


def test_freeze_on_postgres_commits_nothing_and_names_the_column(
    sandbox: Sandbox, postgres_url: str, instance: dg.DagsterInstance, tmp_path: Path
):
    result = _first_run_then_change(sandbox, instance, _configs_with_contract(tmp_path, "freeze"))
    assert not result.success
    assert _failure_message(result).startswith(
        "lead_crm/account: the API sent type text in column 'amount' of table 'account'"
    )
    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select count(*), count(amount), count(distinct _dlt_load_id) from lead_crm.account"
        )
        assert cursor.fetchall() == [(FIRST, FIRST, 1)]
        cursor.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'lead_crm' and table_name = 'account'"
        )
        assert {"priority", "amount__v_text"}.isdisjoint(name for (name,) in cursor.fetchall())
