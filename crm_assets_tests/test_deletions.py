"""Deletions over HTTP on DuckDB and Postgres: rows a complete, successful load no longer got
are marked `_crm_deleted_at` (deal_crm marks them); a failed, partial or empty load marks
nothing; incremental resources catch deletions by the periodic full refresh."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import requests

from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import definitions, materialization_metadata, materialize, query, table_counts

CONTACTS = 'key:"deal_crm/contacts"'


def _marked(destination: Path | str, table: str) -> dict[int, object]:
    """Marked rows of a deal_crm table: id -> deleted at."""
    rows = query(
        destination,
        f"select id, _crm_deleted_at from deal_crm.{table} where _crm_deleted_at is not null",
    )
    return dict(rows)


def _shown(result: dg.ExecuteInProcessResult) -> tuple[int, int, int]:
    shown = materialization_metadata(result)["deal_crm/contacts"]
    return shown["dagster/row_count"], shown["current_rows"], shown["rows_marked_deleted"]


@pytest.mark.usefixtures("budget_not_under_test")
def test_rows_the_api_stopped_listing_are_marked_but_never_by_a_failed_or_partial_run(
    sandbox: Sandbox, instance: dg.DagsterInstance, destination: Path | str,
    fast_retry_configs: Path,
):
    # Two deletions in twenty rows: ordinary churn, inside max_deleted_share.
    sandbox.volume.overrides["deal_crm.contacts"] = 20
    both = f'{CONTACTS} or key:"deal_crm/users"'
    assert materialize(instance, both, fast_retry_configs).success
    deleted = {"deal_crm.contacts": [2, 4], "deal_crm.users": [1]}
    requests.post(f"{sandbox.url}/_sandbox/deletions", json=deleted, timeout=5).raise_for_status()

    # A page that keeps failing fails the run: nothing is marked.
    sandbox.add_fault(Fault(path="/contacts", kind="status", status=503, times=100))
    assert not materialize(instance, CONTACTS, fast_retry_configs, raise_on_error=False).success
    assert _marked(destination, "contacts") == {}
    sandbox.faults.clear()

    # A complete load of contacts marks its two; users, not selected, are not marked.
    result = materialize(instance, CONTACTS, fast_retry_configs)
    assert result.success
    marked = _marked(destination, "contacts")
    assert set(marked) == {2, 4} and len(set(marked.values())) == 1
    assert _marked(destination, "users") == {}
    assert _shown(result) == (20, 18, 2)
    assert query(destination, "select count(*) from deal_crm.contacts")[0][0] == 20

    # A record that comes back loses its mark; nothing else changes.
    sandbox.delete("deal_crm.contacts", [])
    sandbox.delete("deal_crm.contacts", [4])
    result = materialize(instance, CONTACTS, fast_retry_configs)
    assert set(_marked(destination, "contacts")) == {4}
    assert _shown(result) == (20, 19, 0)

    # An answer with no row at all is likelier a broken API than every record deleted.
    sandbox.delete("deal_crm.contacts", list(range(1, 21)))
    result = materialize(instance, CONTACTS, fast_retry_configs)
    assert set(_marked(destination, "contacts")) == {4}
    assert _shown(result) == (20, 19, 0)


@pytest.mark.usefixtures("budget_not_under_test")
def test_the_weekly_full_refresh_removes_rows_deleted_behind_an_incremental_cursor(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides.update({"lead_crm.lead": 6, "lead_crm.opportunity": 6})
    assert materialize(instance, "group:lead_crm").success
    sandbox.delete("lead_crm.lead", [1, 2])
    sandbox.delete("lead_crm.account", [1])
    assert materialize(instance, 'key:"lead_crm/lead"').success
    # The cursor asks for changes only: the deletion is invisible, the row stays.
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (6, 6)

    schedule = definitions().resolve_schedule_def("lead_crm_full_refresh_schedule")
    [request] = schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests
    assert request.tags["crm/full_refresh"] == "true"
    selection = " or ".join(f'key:"{key.to_user_string()}"' for key in request.asset_selection)
    assert selection == 'key:"lead_crm/lead" or key:"lead_crm/opportunity"'
    assert materialize(instance, selection, tags=request.tags).success
    counts = table_counts(duckdb_path, "lead_crm")
    assert (counts["lead"], counts["opportunity"]) == ((4, 4), (6, 6))
    # Read completely every run, account is not refreshed (lead_crm does not mark deletions).
    assert counts["account"] == (3, 3)
