"""Backfill windows over real HTTP, into DuckDB and Postgres: a range of monthly partitions of
`lead_crm/windows/lead` loads exactly the rows whose cursor falls in those months, asking the
API for them only; re-running a window changes nothing; the nightly cursor never moves for a
window; windows and the nightly run of one source at once take turns inside its budget."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import RateLimitSpec, SourceConfig
from crm_assets.resources import DestinationResource
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency, Traffic
from crm_assets.sandbox.volume import SchemaChange
from crm_assets_tests.helpers import (
    assert_tables_exact,
    materialization_metadata,
    materialize,
    query,
    table_counts,
)

REPO = Path(__file__).resolve().parent.parent
LEADS = 150  # one a day from 2025-01-02: January to May 2025
WINDOW_LEAD = 'key:"lead_crm/windows/lead"'
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture
def a_lead_a_day(sandbox: Sandbox) -> Sandbox:
    sandbox.volume.minutes_per_id = 24 * 60
    sandbox.volume.overrides["lead_crm.lead"] = LEADS
    return sandbox


def _ids_updated(sandbox: Sandbox, since: str, until: str | None = None) -> set[int]:
    """The API's own answer: ids of the leads whose updated_at is in [since, until)."""
    return set(sandbox.volume.ids_updated("lead_crm", "lead", since, until))


def _lead_ids(destination: Path | str) -> set[int]:
    return {row[0] for row in query(destination, "select id from lead_crm.lead")}


def _lead_rows(destination: Path | str) -> list[tuple]:
    """Every lead as the API sent it (no dlt bookkeeping columns), in id order."""
    return query(destination, "select id, name, updated_at, amount from lead_crm.lead order by id")


def _nightly_cursor() -> str:
    """lead_crm/lead's cursor as dlt keeps it in the destination."""
    with dg.build_resources({"destination": DestinationResource.from_env()}) as resources:
        pipeline = resources.destination.pipeline("lead_crm")
        pipeline.drop()
        pipeline.sync_destination()
    state = pipeline.state["sources"]["lead_crm"]["resources"]["lead"]["incremental"]
    return state["updated_at"]["last_value"]


def _load_window(instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One run of a partition range, as a single-run backfill (and --partition-range) runs it."""
    return materialize(instance, WINDOW_LEAD, tags={RANGE_START: first, RANGE_END: last})


def test_a_three_month_backfill_loads_exactly_its_months_and_a_rerun_changes_nothing(
    a_lead_a_day: Sandbox, destination: Path | str, instance: dg.DagsterInstance
):
    result = _load_window(instance, "2025-02-01", "2025-04-01")
    assert result.success
    expected = _ids_updated(a_lead_a_day, "2025-02-01T00:00:00Z", "2025-05-01T00:00:00Z")
    assert len(expected) == 28 + 31 + 30
    assert _lead_ids(destination) == expected
    # The API was asked for the window only: its rows in pages of 100, then the empty page.
    assert a_lead_a_day.stats.rows["lead_crm.lead"] == len(expected)
    metadata = materialization_metadata(result)["lead_crm/windows/lead"]
    assert metadata["rows_by_window"] == {"2025-02-01": 28, "2025-03-01": 31, "2025-04-01": 30}
    assert (metadata["window_start"], metadata["window_end"]) == (
        "2025-02-01T00:00:00Z", "2025-05-01T00:00:00Z",
    )
    assert metadata["dagster/table_name"] == "lead_crm.lead" and metadata["dagster/row_count"] == 89
    assert instance.get_materialized_partitions(dg.AssetKey(["lead_crm", "windows", "lead"])) == {
        "2025-02-01", "2025-03-01", "2025-04-01",
    }

    before = _lead_rows(destination)
    assert materialize(instance, WINDOW_LEAD, partition_key="2025-03-01").success
    assert _lead_rows(destination) == before


def test_a_window_leaves_the_nightly_cursor_and_the_next_nightly_run_asks_for_the_same_rows(
    a_lead_a_day: Sandbox, configs: list[SourceConfig], duckdb_path: Path,
    instance: dg.DagsterInstance,
):
    assert materialize(instance, 'key:"lead_crm/lead"').success
    a_lead_a_day.reset_stats()
    assert materialize(instance, 'key:"lead_crm/lead"').success
    cursor, asked = _nightly_cursor(), dict(a_lead_a_day.stats.rows)

    # An upstream fix that left updated_at alone (a field filled in): the nightly cursor
    # cannot see it, a window re-reads the rows whose updated_at falls in it.
    a_lead_a_day.volume.change_schema(SchemaChange("lead_crm.lead", new_fields={"region": "emea"}))
    assert materialize(instance, WINDOW_LEAD, partition_key="2025-02-01").success
    assert _nightly_cursor() == cursor
    fixed = {row[0] for row in query(duckdb_path, "select id from lead_crm.lead where region = 'emea'")}
    assert fixed == _ids_updated(a_lead_a_day, "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z")

    a_lead_a_day.reset_stats()
    assert materialize(instance, 'key:"lead_crm/lead"').success
    # The nightly run asks from its own cursor (less the lag), not from the window's.
    assert dict(a_lead_a_day.stats.rows) == asked
    assert table_counts(duckdb_path, "lead_crm")["lead"] == (LEADS, LEADS)


def _cli(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crm_assets.definitions",
         *args],
        cwd=REPO, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.slow
def test_two_windows_and_the_nightly_run_at_once_take_turns_inside_the_budget(
    a_lead_a_day: Sandbox, configs: list[SourceConfig], duckdb_path: Path, tmp_path: Path
):
    """Through the CLI, three processes at once: a window range, another window and the
    source's nightly load, against an API that allows exactly the configured 10 per second."""
    a_lead_a_day.traffic = Traffic(
        Latency(ms=20), {"lead_crm": RateLimitSpec(requests=10, per_seconds=1)}
    )
    runs = []
    for name, args in {
        "first": ["--select", "lead_crm/windows/lead", "--partition-range", "2025-01-01...2025-02-01"],
        "second": ["--select", "lead_crm/windows/lead,lead_crm/windows/opportunity",
                   "--partition", "2025-03-01"],
        "nightly": ["--select", "group:lead_crm"],
    }.items():
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO / "dagster.local.yaml").read_text())
        runs.append(_cli(args, home))
    for run in runs:
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, output[-3000:]
    traffic = a_lead_a_day.stats_json()["sources"]["lead_crm"]
    assert traffic["throttled"] == 0 and traffic["max_in_any_window"] <= 10
    assert_tables_exact(a_lead_a_day, next(c for c in configs if c.name == "lead_crm"), duckdb_path)


def test_a_window_of_a_source_with_a_history_resource_loads_its_windowed_tables(
    sandbox: Sandbox, duckdb_path: Path
):
    """party_crm keeps the history of `stages`, which has no window: its window loads the
    parties of the month and their employees, and leaves `stages` alone."""
    sandbox.volume.minutes_per_id = 24 * 60
    sandbox.volume.overrides["party_crm.parties"] = 40  # one a day from 2025-01-02
    materialize(
        dg.DagsterInstance.ephemeral(),
        'key:"party_crm/windows/parties" or key:"party_crm/windows/employees"',
        partition_key="2025-01-01",
    )
    assert query(duckdb_path, "select min(id), max(id) from party_crm.parties") == [(1, 30)]
    tables = {table for (table,) in query(
        duckdb_path, "select table_name from information_schema.tables where table_schema = 'party_crm'"
    )}
    assert "employees" in tables and "stages" not in tables
