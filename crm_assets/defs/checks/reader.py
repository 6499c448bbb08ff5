"""What the checks read of one source's dataset: its tables' columns, dlt's record of the
successful loads (`_dlt_loads`) and the schema each load had (`_dlt_version`)."""

import json
from datetime import datetime
from functools import cached_property
from typing import Any

import dlt

from crm_assets.load.row_counts import columns_by_table


class TableReader:
    """Reads what the checks need from one source's dataset, each thing once per check step."""

    def __init__(self, client: Any, pipeline: dlt.Pipeline) -> None:
        self.client = client
        self.schema_name = pipeline.pipeline_name
        self._schema_tables: dict[str, dict[str, Any] | None] = {}

    def qualified(self, table: str) -> str:
        return self.client.make_qualified_table_name(table)

    def exists(self, table: str) -> bool:
        return table in self.columns_by_table

    @cached_property
    def columns_by_table(self) -> dict[str, list[str]]:
        return columns_by_table(self.client)

    @cached_property
    def successful_loads(self) -> list[tuple[datetime, str]]:
        """(inserted_at, schema_version_hash) of the source's completed loads, newest first."""
        if not self.exists("_dlt_loads"):
            return []
        return self.client.execute_sql(
            f"select inserted_at, schema_version_hash from {self.qualified('_dlt_loads')} "
            "where schema_name = %s and status = 0 order by inserted_at desc",
            self.schema_name,
        )

    def schema_columns(self, version_hash: str, table: str) -> set[str] | None:
        if version_hash not in self._schema_tables:
            rows = self.client.execute_sql(
                f"select schema from {self.qualified('_dlt_version')} where version_hash = %s",
                version_hash,
            )
            self._schema_tables[version_hash] = (
                json.loads(rows[0][0]).get("tables", {}) if rows else None
            )
        tables = self._schema_tables[version_hash]
        if tables is None:
            return None
        return data_columns(tables.get(table, {}).get("columns", {}))


def data_columns(columns: Any) -> set[str]:
    return {name for name in columns if not name.startswith("_dlt")}
