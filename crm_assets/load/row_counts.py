"""Rows of a dataset's tables, counted one way wherever they are shown: the materialization's
metadata, the `has_rows` check, the demo's closing table and the tests' comparisons with the API.

The tables are read through dlt's SQL client of a pipeline (`pipeline.sql_client()`), or, outside
a pipeline, through `open_dataset` on a DuckDB file (a path) or a Postgres database (a URL).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from crm_assets.table_rules.accounts import account_rows
from crm_assets.table_rules.deletions import current_condition


class SqlClient(Protocol):
    """What is read of dlt's SQL client (`%s` placeholders)."""

    dataset_name: str

    def execute_sql(self, sql: str, *args: Any) -> Any: ...

    def make_qualified_table_name(self, table_name: str) -> str: ...


class RowCount(NamedTuple):
    rows: int  # every row: every version of a history table, the rows marked deleted
    current: int | None  # the rows the API still has, where the table keeps others; else None
    loaded: int | None = None  # the rows the given loads wrote (their `_dlt_load_id`)

    @property
    def current_or_all(self) -> int:
        """The rows the API still has, whether or not the table keeps others."""
        return self.rows if self.current is None else self.current


def count_rows(
    client: SqlClient,
    table: str,
    columns: Collection[str],
    load_ids: list[str] | None = None,
    account: str | None = None,
) -> RowCount:
    """The rows of one table that has `columns` (which say what "current" means in it), and
    with `load_ids`, how many of them those loads wrote; with `account`, of its rows only."""
    current = current_condition(columns)
    figures = ["count(*)", f"count(*) filter (where {current})" if current else "null"]
    scope, scope_args = account_rows(account)
    if load_ids:
        figures.append(f"count(*) filter (where _dlt_load_id in ({', '.join(['%s'] * len(load_ids))}))")
    qualified = client.make_qualified_table_name(table)
    row = client.execute_sql(
        f"select {', '.join(figures)} from {qualified} where {scope}", *(load_ids or []), *scope_args
    )[0]
    return RowCount(rows=row[0], current=row[1], loaded=row[2] if load_ids else None)


def columns_by_table(client: SqlClient) -> dict[str, list[str]]:
    """Every table of the client's dataset (dlt's own too) with its columns, in their order."""
    rows = client.execute_sql(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = %s order by ordinal_position",
        client.dataset_name,
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def data_tables(client: SqlClient) -> dict[str, list[str]]:
    """The dataset's tables of API rows, by name: not dlt's `_dlt*` tables, not the nested
    `<table>__<list>` ones."""
    return {
        table: columns
        for table, columns in sorted(columns_by_table(client).items())
        if not table.startswith("_dlt") and "__" not in table
    }


def pipeline_row_counts(
    pipeline: Any, tables: list[str], load_ids: list[str], account: str | None = None
) -> dict[str, RowCount]:
    """Rows now in each of a pipeline's destination tables (an account's rows in them), and
    those the loads wrote; 0 where dlt made no table (no row ever came; a table may be in the
    schema before, from a declared column)."""
    schema = pipeline.default_schema if pipeline.default_schema_name else None
    existing = set(schema.data_table_names(seen_data_only=True)) if schema else set()
    counts = dict.fromkeys(tables, RowCount(rows=0, current=None, loaded=0))
    with pipeline.sql_client() as client:
        for table in tables:
            if table in existing:
                columns = schema.tables[table].get("columns", {})
                counts[table] = count_rows(client, table, columns, load_ids, account)
    return counts


def count_dataset_rows(client: SqlClient) -> dict[str, RowCount]:
    """The rows of every data table of the client's dataset, by table name."""
    return {
        table: count_rows(client, table, columns) for table, columns in data_tables(client).items()
    }


@contextmanager
def connect(destination: Path | str) -> Iterator[Any]:
    """A DB-API connection to a DuckDB file (a path, opened read-only) or a Postgres database
    (a URL)."""
    if isinstance(destination, Path):
        import duckdb

        with duckdb.connect(str(destination), read_only=True) as connection:
            yield connection
    else:
        import psycopg2

        with closing(psycopg2.connect(destination)) as connection:
            yield connection


@contextmanager
def open_dataset(destination: Path | str, dataset: str) -> Iterator[SqlClient]:
    """A SQL client of `dataset` in a DuckDB file (a path) or a Postgres database (a URL)."""
    with connect(destination) as connection:
        placeholder = "?" if isinstance(destination, Path) else "%s"
        yield _DbApiClient(connection, dataset, placeholder)


class _DbApiClient:
    """A DB-API connection read like dlt's SQL client."""

    def __init__(self, connection: Any, dataset_name: str, placeholder: str) -> None:
        self.connection = connection
        self.dataset_name = dataset_name
        self._placeholder = placeholder

    def execute_sql(self, sql: str, *args: Any) -> list[tuple]:
        cursor = self.connection.cursor()
        if args:
            cursor.execute(sql.replace("%s", self._placeholder), args)
        else:
            cursor.execute(sql)
        return cursor.fetchall()

    def make_qualified_table_name(self, table_name: str) -> str:
        return f'"{self.dataset_name}"."{table_name}"'
