"""What a materialization shows on the asset page: the table, its rows and columns, what this
run loaded and fetched, and the source's request budget. Nothing local to one machine (file
paths) and nothing Dagster cannot display."""

from __future__ import annotations

from typing import Any

import dagster as dg
import dlt


def row_counts(pipeline: dlt.Pipeline, tables: list[str]) -> dict[str, int]:
    """Rows now in each destination table; 0 where dlt made no table (no row ever came)."""
    existing = set(pipeline.default_schema.data_table_names()) if pipeline.default_schema_name else set()
    counts = dict.fromkeys(tables, 0)
    with pipeline.sql_client() as client:
        for table in tables:
            if table in existing:
                query = f"select count(*) from {client.make_qualified_table_name(table)}"
                counts[table] = client.execute_sql(query)[0][0]
    return counts


def run_metadata(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """What every asset of the run shares: dlt's load id and the run's duration."""
    trace = pipeline.last_trace
    load_ids = trace.last_load_info.loads_ids if trace and trace.last_load_info else []
    return {
        "load_id": ",".join(load_ids),
        "duration_seconds": round((trace.finished_at - trace.started_at).total_seconds(), 3),
    }


def _column_schema(pipeline: dlt.Pipeline, table: str) -> dg.TableSchema:
    columns = pipeline.default_schema.tables.get(table, {}).get("columns", {})
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=column.get("data_type") or "unknown",
                constraints=dg.TableColumnConstraints(nullable=column.get("nullable", True)),
            )
            for name, column in columns.items()
        ]
    )


def table_metadata(pipeline: dlt.Pipeline, table: str, rows_in_table: int) -> dict[str, Any]:
    """The table as the UI shows it: `<dataset>.<table>`, its rows now, its columns, the
    nested tables dlt split off it, and the rows this run loaded into it."""
    nested = sorted(
        name for name in pipeline.default_schema.data_table_names() if name.startswith(f"{table}__")
    ) if pipeline.default_schema_name else []
    normalized = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    rows_loaded = normalized.row_counts.get(table, 0) if normalized else 0
    return {
        "dagster/table_name": f"{pipeline.dataset_name}.{table}",
        "dagster/row_count": dg.MetadataValue.int(rows_in_table),
        "dagster/column_schema": _column_schema(pipeline, table),
        "rows_loaded": dg.MetadataValue.int(rows_loaded),
        **({"nested_tables": ", ".join(nested)} if nested else {}),
    }
