"""Schema contracts at run time: each resource's contract set on dlt for the run, what a
discard_* contract kept out counted for the asset page, a freeze violation reported without
values. The config side is table_rules/schema_contract.py; a violation's report is in
load/failure.py."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import dagster as dg
import dlt

from crm_assets.load.materialization import LoadedSchema
from crm_assets.table_rules.dlt_types import coerces_to, dlt_type_of


class DiscardCounter:
    """Counts, for one resource under a discard_* contract, what its tables keep out: a dlt map
    step tallies the non-null values of every column the rows would fill (dlt's own flattening),
    as the types dlt would coerce them to; after normalize the tally is compared with the
    schema dlt ended up with. dlt itself reports neither count."""

    def __init__(self, resource: str, contract: dict[str, str], schema: dlt.Schema) -> None:
        self.resource, self.contract = resource, contract
        # The schema as the destination holds it before this run.
        self.schema = schema.clone()
        self.rows = 0
        self.values: Counter[tuple[str, str, str]] = Counter()
        # A child resource's rows may pass this step in several of dlt's threads at once.
        self._lock = threading.Lock()

    def count(self, row: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._count(row)
        return row

    def _count(self, row: dict[str, Any]) -> None:
        schema = self.schema
        self.rows += 1
        for (table, _, _), flat in schema.normalize_data_item(row, "0", self.resource):
            columns = schema.tables.get(table, {}).get("columns", {})
            for column, value in flat.items():
                if value is None or column.startswith("_dlt"):
                    continue
                kind = dlt_type_of(value)
                existing = columns.get(column, {}).get("data_type")
                if existing and existing != kind and coerces_to(existing, value):
                    kind = existing
                self.values[(table, column, kind)] += 1

    def metadata(self, loaded: LoadedSchema, rows_loaded: int) -> dict[str, Any]:
        """`rows_discarded` (the rows that came less the `rows_loaded`), `values_discarded` and
        the columns kept out, for the asset page."""
        schema = loaded.schema
        naming = schema.naming
        discarded: Counter[str] = Counter()
        modes: dict[str, str] = {}
        for (table, column, kind), values in self.values.items():
            columns = schema.tables.get(table, {}).get("columns")
            if columns is None:
                name, mode = f"{table}.*", self.contract["tables"]
            elif not columns.get(column, {}).get("data_type"):
                name, mode = column, self.contract["columns"]
            elif columns[column]["data_type"] != kind and (
                variant := naming.shorten_fragments(column, f"v_{kind}")
            ) not in columns:
                name, mode = variant, self.contract["data_type"]
            else:
                continue
            if table not in (self.resource, None) and not name.endswith(".*"):
                name = f"{table}.{name}"
            modes[name] = mode
            discarded[name] += values if mode != "discard_row" else 0
        return {
            "rows_discarded": dg.MetadataValue.int(
                self.rows - rows_loaded
            ),
            "values_discarded": dg.MetadataValue.int(sum(discarded.values())),
            "columns_discarded": dg.MetadataValue.json(sorted(modes)),
        }


def contracts_for_run(
    pipeline: dlt.Pipeline, source: Any, contracts: dict[str, dict[str, str]], full_refresh: bool
) -> dict[str, DiscardCounter]:
    """Set each selected resource's contract for this run, after the destination's schema was
    restored: a table it does not hold yet (or a full refresh drops) is created, so new tables
    evolve; otherwise the configured contract applies. Always set, evolve included, since dlt
    keeps a table's last contract in its stored schema. Returns a counter per resource whose
    contract discards."""
    schema = pipeline.default_schema if pipeline.default_schema_name else dlt.Schema(source.name)
    counters = {}
    for name, resource in source.selected_resources.items():
        contract = contracts[name]
        if full_refresh or schema.is_new_table(name):
            contract = {**contract, "tables": "evolve"}
        resource.apply_hints(schema_contract=contract)
        if any(mode.startswith("discard") for mode in contract.values()):
            counters[name] = DiscardCounter(name, contract, schema)
            resource.add_map(counters[name].count)
    return counters
