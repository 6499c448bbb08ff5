"""Answers that are not data, over real HTTP: a 200 error envelope, an object where the list
belongs, an HTML page or a document that does not parse, on a first page and on a later one.
Each is retried, and when it persists the source's step fails naming the page: no run ends
green with a table short, no row is marked deleted or retired while the API still has it, and
the next good run reads as if the fault never happened. A complete read that still comes up
short (an empty page ends a paged list) is held by max_deleted_share and shown by the checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import SourceConfig
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets.defs.names import NIGHTLY_SELECTION
from crm_assets_tests.helpers import (
    assert_tables_exact,
    materialization_metadata,
    materialize,
    query,
    table_counts,
)

ROWS = 250  # three pages of 100 (page_number paging)
NOT_DATA = ["envelope", "shape", "garbage", "unparseable"]
REASONS = {
    "envelope": "(`data` is missing)",
    "shape": "(`data.contacts` holds dict, not a list)",
    "garbage": "(the body is not JSON)",
    "unparseable": "(the body is not JSON)",
}
CONTACTS, STATUSES = "deal_crm/contacts", "deal_crm/statuses"
# The column of `_rows` that a mark (contacts) or a retirement (statuses) sets.
_GONE = {"contacts": 1, "statuses": 2}


def _rows(destination: Path | str, table: str) -> list[tuple]:
    """Every row of a deal_crm table as the dashboards read it: id, deletion mark or
    validity, and the load that wrote it."""
    columns = {
        "contacts": "id, _crm_deleted_at, _dlt_load_id",
        "statuses": "id, _dlt_valid_from, _dlt_valid_to",
    }[table]
    return query(destination, f"select {columns} from deal_crm.{table} order by 1, 2")


def _step_failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's one line, without the exception class Dagster puts before it."""
    failure = next(event for event in result.all_events if event.is_step_failure)
    return failure.event_specific_data.error.message.split("Failure: ", 1)[1].strip()


def _check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    return next(
        e for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    )


@pytest.mark.usefixtures("budget_not_under_test")
@pytest.mark.parametrize("asset", [CONTACTS, STATUSES])
def test_an_answer_that_is_not_data_fails_the_read_and_touches_no_row(
    asset: str, sandbox: Sandbox, instance: dg.DagsterInstance, destination: Path | str,
    fast_retry_configs: Path,
):
    table = asset.split("/")[1]
    selection = f'key:"{asset}"'
    sandbox.volume.overrides[f"deal_crm.{table}"] = ROWS
    assert materialize(instance, selection, fast_retry_configs, checks=False).success
    before = _rows(destination, table)
    assert len(before) == ROWS

    for kind in NOT_DATA:
        for page in ("1", "2"):
            sandbox.add_fault(Fault(path=f"/{table}", kind=kind, times=100, query=f"page={page}"))
            result = materialize(
                instance, selection, fast_retry_configs, raise_on_error=False, checks=False
            )
            sandbox.faults.clear()
            assert not result.success, (kind, page)
            message = _step_failure(result)
            assert message.startswith(f"{asset}: GET /deal_crm/v3/{table}?"), message
            assert f"page={page}" in message and "answered HTTP 200 that is not data" in message
            if table == "contacts" or kind in ("garbage", "unparseable"):
                assert REASONS[kind] in message, message
            assert sandbox.secrets["deal_crm"]["DEAL_CRM_PASSWORD"] not in message
            assert _rows(destination, table) == before, (kind, page)

    result = materialize(instance, selection, fast_retry_configs)
    assert result.success
    # What the asset page says this load wrote, on either destination: every contact (merged
    # again), no new status version.
    assert materialization_metadata(result)[asset]["rows_loaded"] == (
        ROWS if table == "contacts" else 0
    )
    after = _rows(destination, table)
    # Every row once, none marked or retired: as if no fault had happened (contacts' rows
    # carry the new load's id, statuses' versions are the first run's, still current).
    assert [row[:2] for row in after] == [row[:2] for row in before]
    assert all(row[_GONE[table]] is None for row in after)
    assert table_counts(destination, "deal_crm")[table] == (ROWS, ROWS)


def test_a_not_data_answer_that_clears_is_retried_and_counted(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, fast_retry_configs: Path
):
    sandbox.volume.overrides["deal_crm.contacts"] = ROWS
    sandbox.add_fault(Fault(path="/contacts", kind="envelope", times=2, query="page=2"))
    result = materialize(instance, f'key:"{CONTACTS}"', fast_retry_configs, checks=False)
    shown = materialization_metadata(result)[CONTACTS]
    assert (shown["dagster/row_count"], shown["pages_fetched"], shown["retried_responses"]) == (
        ROWS, 4, 2
    )


def test_an_empty_page_linking_a_next_one_is_retried(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, fast_retry_configs: Path
):
    """party_crm pages by Link headers: an empty page that links a next one is not the end."""
    sandbox.volume.overrides["party_crm.stages"] = ROWS
    assert materialize(instance, 'key:"party_crm/stages"', fast_retry_configs, checks=False).success
    sandbox.add_fault(Fault(path="/stages", kind="empty", times=1, query="page=2"))
    result = materialize(instance, 'key:"party_crm/stages"', fast_retry_configs, checks=False)
    shown = materialization_metadata(result)["party_crm/stages"]
    assert (shown["current_rows"], shown["rows_absent_from_read"], shown["retried_responses"]) == (
        ROWS, 0, 1
    )


@pytest.mark.parametrize("asset", [CONTACTS, STATUSES])
def test_a_short_read_is_held_and_real_deletions_are_marked(
    asset: str, sandbox: Sandbox, instance: dg.DagsterInstance, destination: Path | str,
    fast_retry_configs: Path,
):
    """page_number paging ends on an empty page: one in the middle cuts the read short, well
    formed. The 150 rows it missed (60%) are held; three real deletions are marked; a mass drop
    is held until confirmed."""
    table = asset.split("/")[1]
    selection = f'key:"{asset}"'
    sandbox.volume.overrides[f"deal_crm.{table}"] = ROWS
    assert materialize(instance, selection, fast_retry_configs).success
    before = _rows(destination, table)
    gone = _GONE[table]

    sandbox.add_fault(Fault(path=f"/{table}", kind="empty", times=1, query="page=2"))
    result = materialize(instance, selection, fast_retry_configs)
    assert result.success
    shown = materialization_metadata(result)[asset]
    assert (shown["rows_absent_from_read"], shown["rows_absent_held"]) == (150, 150)
    assert (shown["complete_read_rows"], shown["previous_complete_read_rows"]) == (100, ROWS)
    held = _check(result, asset, "deletions_held")
    assert not held.passed and held.severity == dg.AssetCheckSeverity.ERROR
    assert f"confirm_deletions: [{table}]" in held.description
    assert not _check(result, asset, "row_volume").passed
    assert [row[:2] for row in _rows(destination, table)] == [row[:2] for row in before]
    assert all(row[gone] is None for row in _rows(destination, table))

    # The fault cleared: exact, nothing marked, both checks pass again.
    result = materialize(instance, selection, fast_retry_configs)
    assert _check(result, asset, "deletions_held").passed
    assert all(row[gone] is None for row in _rows(destination, table))

    # Three real deletions are marked.
    sandbox.delete(f"deal_crm.{table}", [5, 50, 250])
    result = materialize(instance, selection, fast_retry_configs)
    assert {row[0] for row in _rows(destination, table) if row[gone]} == {5, 50, 250}
    assert materialization_metadata(result)[asset]["rows_absent_held"] == 0

    # 60% of the table dropped at once: held, until a run confirms it.
    sandbox.delete(f"deal_crm.{table}", list(range(1, 151)))
    result = materialize(instance, selection, fast_retry_configs)
    assert not _check(result, asset, "deletions_held").passed
    assert {row[0] for row in _rows(destination, table) if row[gone]} == {5, 50, 250}
    confirmed = materialize(
        instance, selection, fast_retry_configs,
        run_config={"ops": {"deal_crm": {"config": {"confirm_deletions": [table]}}}},
    )
    assert _check(confirmed, asset, "deletions_held").passed
    marked = {row[0] for row in _rows(destination, table) if row[gone]}
    assert marked == {*range(1, 151), 250}


def test_the_confirmation_tag_releases_held_deletions(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path, fast_retry_configs: Path
):
    sandbox.volume.overrides["deal_crm.contacts"] = 10
    assert materialize(instance, f'key:"{CONTACTS}"', fast_retry_configs, checks=False).success
    sandbox.delete("deal_crm.contacts", [1, 2, 3, 4, 5, 6])
    result = materialize(
        instance, f'key:"{CONTACTS}"', fast_retry_configs, checks=False,
        tags={"crm/confirm_deletions": "users, contacts"},
    )
    assert materialization_metadata(result)[CONTACTS]["rows_marked_deleted"] == 6


def test_the_volume_check_warns_on_a_halved_read_and_passes_on_churn(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    """lead_crm/account keeps no deletions: only row_volume sees a read come up short."""
    account = 'key:"lead_crm/account"'
    outcomes = []
    for rows in (40, 42, 39, 20):  # first read, +2, -3, then half
        sandbox.volume.overrides["lead_crm.account"] = rows
        result = materialize(instance, account)
        volume = _check(result, "lead_crm/account", "row_volume")
        outcomes.append((volume.passed, volume.metadata["rows_read"].value,
                         volume.metadata["previous_rows_read"].value))
    assert outcomes == [
        (True, 40, "none yet"), (True, 42, 40), (True, 39, 42), (False, 20, 39)
    ]
    assert volume.severity == dg.AssetCheckSeverity.WARN


@pytest.mark.usefixtures("budget_not_under_test")
def test_a_source_answering_an_error_envelope_fails_alone_naming_the_page(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path,
    configs: list[SourceConfig], fast_retry_configs: Path,
):
    """The issue's run: success_analytics/tasks answers an error envelope on its first page."""
    sandbox.add_fault(Fault(path="/success_analytics/tasks", kind="envelope", times=100))
    result = materialize(instance, NIGHTLY_SELECTION, fast_retry_configs, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["success_analytics"]
    message = _step_failure(result)
    assert message.startswith(
        "success_analytics/tasks: GET /success_analytics/tasks?offset=0&limit=10000 answered "
        "HTTP 200 that is not data (`data` is missing), after the configured retries; it began: "
        '{"error":{"code":"INTERNAL","message":"temporarily unavailable"}}'
    ), message
    for config in configs:
        if config.name != "success_analytics":
            assert_tables_exact(sandbox, config, duckdb_path, "beside a failing source")
