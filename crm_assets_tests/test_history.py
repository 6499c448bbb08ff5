"""History mode over HTTP on DuckDB and Postgres: deal_crm/statuses (`history: true`) keeps
every version of a row with contiguous validity, and its checks still mean something."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import SourceConfig
from crm_assets.sandbox.server import Sandbox
from crm_assets.extract import build_source
from crm_assets_tests.helpers import (
    execute,
    materialization_metadata,
    materialize,
    query,
    run_checks,
)

STATUSES = 'key:"deal_crm/statuses"'


def _versions(destination: Path | str) -> dict[int, list[tuple]]:
    """(name, valid_from, valid_to) of each id's versions, oldest first."""
    rows = query(
        destination,
        "select id, name, _dlt_valid_from, _dlt_valid_to from deal_crm.statuses "
        "order by id, _dlt_valid_from",
    )
    versions: dict[int, list[tuple]] = defaultdict(list)
    for record_id, *version in rows:
        versions[record_id].append(tuple(version))
    return dict(versions)


@pytest.mark.usefixtures("budget_not_under_test")
def test_a_record_changed_twice_has_three_contiguous_versions_and_a_rerun_adds_none(
    sandbox: Sandbox, instance: dg.DagsterInstance, destination: Path | str
):
    sandbox.volume.overrides["deal_crm.statuses"] = 4
    shown, primary_key_checks = [], []
    for revision in (0, 1, 2, 2):  # record 2 changes in runs 2 and 3; run 4 changes nothing
        sandbox.volume.revisions["deal_crm.statuses"] = {2: revision}
        result = materialize(instance, STATUSES)
        assert result.success
        shown.append(materialization_metadata(result)["deal_crm/statuses"])
        primary_key_checks += [
            e.passed for e in result.get_asset_check_evaluations() if e.check_name == "primary_key_unique"
        ]

    versions = _versions(destination)
    changed = versions.pop(2)
    assert [name for name, _, _ in changed] == [
        "statuses 2", "statuses 2 (rev 1)", "statuses 2 (rev 2)"
    ]
    # Each version ends when the next begins; the current one has no end.
    assert [valid_to for _, _, valid_to in changed[:-1]] == [
        valid_from for _, valid_from, _ in changed[1:]
    ]
    assert changed[-1][2] is None and changed[0][1] < changed[1][1] < changed[2][1]
    assert {record_id: len(kept) for record_id, kept in versions.items()} == {1: 1, 3: 1, 4: 1}
    assert all(valid_to is None for kept in versions.values() for _, _, valid_to in kept)
    assert {valid_from for kept in versions.values() for _, valid_from, _ in kept} == {changed[0][1]}

    # dagster/row_count is every version; current_rows what the API has now.
    assert [(s["dagster/row_count"], s["current_rows"]) for s in shown] == [
        (4, 4), (5, 4), (6, 4), (6, 4)
    ]
    assert primary_key_checks == [True] * 4


def test_the_primary_key_check_fails_on_two_current_versions_or_a_repeated_version(
    sandbox: Sandbox, instance: dg.DagsterInstance, duckdb_path: Path
):
    assert materialize(instance, STATUSES).success
    execute(
        duckdb_path,
        "insert into deal_crm.statuses select * replace "
        "(_dlt_valid_from + interval 1 second as _dlt_valid_from) from deal_crm.statuses where id = 3",
    )
    check = run_checks(instance, "deal_crm", ["statuses"])["statuses", "primary_key_unique"]
    assert not check.passed and "1+ key(s) repeated among current versions, e.g. [['3']]" in (
        check.description
    )

    execute(duckdb_path, "delete from deal_crm.statuses where id = 3")
    execute(
        duckdb_path,
        "insert into deal_crm.statuses select * replace (now() as _dlt_valid_to) "
        "from deal_crm.statuses where id = 2",
    )
    check = run_checks(instance, "deal_crm", ["statuses"])["statuses", "primary_key_unique"]
    assert not check.passed and "0+ key(s) repeated among current versions" in check.description
    assert "1+ versions repeating (_dlt_valid_from)" in check.description


@pytest.mark.parametrize(("source", "resource"), [("deal_crm", "statuses"), ("lead_crm", "lead")])
def test_history_is_dlt_scd2_retiring_only_the_keys_a_load_brings(
    configs: list[SourceConfig], source: str, resource: str
):
    config = next(c for c in configs if c.name == source)
    spec = config.resource(resource)
    config = config.model_copy(
        update={
            "full_refresh_schedule": None,
            "resources": [
                r.model_copy(update={"history": True}) if r is spec else r for r in config.resources
            ],
        }
    )
    dlt_source = build_source(
        config, config.base_url, {f: "x" for f in config.auth.env}, pii_hash_key="k" * 32
    )
    table = dlt_source.resources[resource].compute_table_schema()
    assert (table["write_disposition"], table["x-merge-strategy"]) == ("merge", "scd2")
    assert {"_dlt_valid_from", "_dlt_valid_to"} <= set(table["columns"])
    # dlt retires only the keys a load brings new versions of; the keys a complete read no
    # longer returns are retired after the load, by absent_rows (held past max_deleted_share).
    merge_key = [name for name, column in table["columns"].items() if column.get("merge_key")]
    assert merge_key == ["id"]
