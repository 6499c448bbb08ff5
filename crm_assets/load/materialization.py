"""What a materialization shows on the asset page: the table, its rows and columns, what this
run loaded and fetched, and the source's request budget. Nothing local to one machine (file
paths) and nothing Dagster cannot display."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
import dlt

from crm_assets.load.row_counts import RowCount
from crm_assets.table_rules.deletions import DELETED_AT
from crm_assets.table_rules.pii import PII_LABEL, describe_policy, landing_place

if TYPE_CHECKING:
    from crm_assets.table_rules.absent_rows import AbsentRows


def run_metadata(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """What every asset of the run shares: dlt's load id and the run's duration."""
    trace = pipeline.last_trace
    load_ids = trace.last_load_info.loads_ids if trace and trace.last_load_info else []
    return {
        "load_id": ",".join(load_ids),
        "duration_seconds": round((trace.finished_at - trace.started_at).total_seconds(), 3),
    }


@dataclass
class LoadedSchema:
    """What the asset pages read of a load, taken from the pipeline once: dlt rebuilds
    `pipeline.default_schema` on every access (~6 ms for a source of 36 tables)."""

    dataset_name: str
    schema: dlt.Schema | None
    # Rows each table's resource yielded, as dlt's extract counted them: what a read returned.
    # (dlt 1.31's csv writer overcounts normalized rows: 3,101 for 250 rows into Postgres.)
    rows_read: dict[str, int]

    @classmethod
    def of(cls, pipeline: dlt.Pipeline) -> LoadedSchema:
        trace = pipeline.last_trace
        extracted = trace.last_extract_info if trace else None
        rows_read: dict[str, int] = {}
        for package in (extracted.metrics.values() if extracted else []):
            for step in package:
                for table, metrics in step["table_metrics"].items():
                    rows_read[table] = rows_read.get(table, 0) + metrics.items_count
        return cls(
            dataset_name=pipeline.dataset_name,
            schema=pipeline.default_schema if pipeline.default_schema_name else None,
            rows_read=rows_read,
        )

    def columns(self, table: str) -> dict[str, Any]:
        return self.schema.tables.get(table, {}).get("columns", {}) if self.schema else {}


def _column_schema(loaded: LoadedSchema, table: str, pii: dict[str, str]) -> dg.TableSchema:
    """The table's columns; a hashed one says so in its description and a `pii` tag."""
    naming = loaded.schema.naming
    hashed = {
        landing_place(naming, table, path)[1]
        for path, action in pii.items()
        if action == "hash" and landing_place(naming, table, path)[0] == table
    }
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=column.get("data_type") or "unknown",
                constraints=dg.TableColumnConstraints(nullable=column.get("nullable", True)),
                **(
                    {"description": "pii: hashed (HMAC-SHA256)", "tags": {"pii": "hashed"}}
                    if name in hashed
                    else {}
                ),
            )
            for name, column in loaded.columns(table).items()
        ]
    )


def pii_metadata(loaded: LoadedSchema, table: str, pii: dict[str, str]) -> dict[str, Any]:
    """Every policy path with where it lands (`emails[*].value` in a nested table, dropped
    columns that the column schema cannot show)."""
    if not pii:
        return {}
    naming = loaded.schema.naming
    places = {
        path: "{}.{}".format(*landing_place(naming, table, path)) for path in sorted(pii)
    }
    return {
        "pii": describe_policy(pii),
        "pii_columns": dg.MetadataValue.json(
            {place: PII_LABEL[pii[path]] for path, place in places.items()}
        ),
    }


def table_metadata(
    loaded: LoadedSchema,
    table: str,
    rows: RowCount,
    absent: AbsentRows | None = None,
    pii: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The table as the UI shows it: `<dataset>.<table>`, its rows now (all of them; the
    current ones apart where the table keeps history or deleted rows), its columns (hashed ones
    marked), the nested tables dlt split off it, the rows this run loaded into it and the PII
    policy."""
    nested = sorted(
        name for name in loaded.schema.data_table_names() if name.startswith(f"{table}__")
    ) if loaded.schema else []
    current = (
        {"current_rows": dg.MetadataValue.int(rows.current)}
        if rows.current is not None
        else {}
    )
    if DELETED_AT in loaded.columns(table):
        current["rows_marked_deleted"] = dg.MetadataValue.int(absent.settled if absent else 0)
    if absent:
        current |= absent.metadata()
    return {
        "dagster/table_name": f"{loaded.dataset_name}.{table}",
        "dagster/row_count": dg.MetadataValue.int(rows.rows),
        "dagster/column_schema": _column_schema(loaded, table, pii or {}),
        # What the load wrote, counted in the table: dlt 1.31's csv writer (Postgres)
        # overcounts its normalized rows (3,101 for 250).
        "rows_loaded": dg.MetadataValue.int(rows.loaded or 0),
        **current,
        **({"nested_tables": ", ".join(nested)} if nested else {}),
        **pii_metadata(loaded, table, pii or {}),
    }
