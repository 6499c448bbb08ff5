"""The accounts of one API in one table: each row carries its account (`ACCOUNT_COLUMN`, first
in the primary key), and whatever a load of one account reads, counts, marks or retires is
that account's rows alone."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import dlt
from dlt.sources import DltSource

from crm_assets.config import SourceConfig
from crm_assets.config.account import ACCOUNT_COLUMN
from crm_assets.table_rules.deletions import LOAD_ID


def with_account(account: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A dlt map step giving every row its account."""

    def add_account(row: dict[str, Any]) -> dict[str, Any]:
        row[ACCOUNT_COLUMN] = account
        return row

    return add_account


def account_rows(account: str | None) -> tuple[str, list[str]]:
    """The SQL condition (`%s` placeholders) and its arguments selecting one account's rows of
    a table; every row when the source has no accounts."""
    if account is None:
        return "1 = 1", []
    return f"{ACCOUNT_COLUMN} = %s", [account]


def forget_cursors(pipeline: dlt.Pipeline, source: DltSource) -> None:
    """A full refresh of an account: its selected resources' incremental cursors dropped from
    its pipeline's state, so they read everything again. dlt's own refresh would also drop or
    truncate the tables, which every account of the source shares."""
    with pipeline.managed_state() as state:
        resources = state.get("sources", {}).get(source.name, {}).get("resources", {})
        for name in source.selected_resources:
            resources.get(name, {}).pop("incremental", None)


def refreshed_tables(config: SourceConfig, source: DltSource) -> list[str]:
    """The selected tables whose rows an account's full refresh replaces: those that cannot see
    deletions otherwise. A table read completely marks or retires them already (and a history
    keeps its versions: a refresh would lose the unchanged ones, which a merge does not
    rewrite)."""
    return [
        name for name in source.selected_resources
        if not config.reads_completely(config.resource(name)) and not config.resource(name).history
    ]


def delete_unrefreshed_rows(
    client: Any, schema: dlt.Schema, tables: Collection[str], account: str, load_ids: list[str]
) -> None:
    """After a full refresh of an account loaded: its rows the refresh did not write (records
    deleted upstream), and their rows in the nested tables, deleted, as dlt's refresh drops
    them; other accounts' rows stay."""
    scope, scope_args = account_rows(account)
    not_written = f"{LOAD_ID} not in ({', '.join(['%s'] * len(load_ids))})"
    existing = set(schema.data_table_names(seen_data_only=True))
    for table in tables:
        if table not in existing:
            continue
        qualified = client.make_qualified_table_name(table)
        stale = f"select _dlt_id from {qualified} where {scope} and {not_written}"
        for nested in sorted(existing):
            if nested.startswith(f"{table}__") and "_dlt_root_id" in schema.tables[nested]["columns"]:
                client.execute_sql(
                    f"delete from {client.make_qualified_table_name(nested)} "
                    f"where _dlt_root_id in ({stale})",
                    *scope_args,
                    *load_ids,
                )
        client.execute_sql(
            f"delete from {qualified} where {scope} and {not_written}", *scope_args, *load_ids
        )
