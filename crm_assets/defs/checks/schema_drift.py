"""`schema_drift`: columns added or removed since the previous load, or kept out of the last
load by the schema contract (WARN)."""

from typing import Any

import dagster as dg

from crm_assets.config import ResourceSpec
from crm_assets.defs.checks.reader import TableReader, data_columns


def check_schema_drift(
    reader: TableReader, resource: ResourceSpec, discarded: list[str]
) -> dict[str, Any]:
    kept_out = f" The schema contract kept out of the last load: {discarded}." if discarded else ""
    if not reader.exists(resource.name):
        return dict(
            passed=not discarded,
            severity=dg.AssetCheckSeverity.WARN,
            description=kept_out.strip() or "No table yet.",
            metadata={"columns_discarded": dg.MetadataValue.json(discarded)},
        )
    loads = reader.successful_loads
    current = reader.schema_columns(loads[0][1], resource.name) if loads else None
    previous = reader.schema_columns(loads[1][1], resource.name) if len(loads) > 1 else None
    in_table = data_columns(reader.columns_by_table[resource.name])
    added = sorted((current or set()) - previous) if previous else []
    removed = sorted(previous - (current or set())) if previous else []
    # A column dlt loaded that the table no longer has was dropped outside dlt.
    removed += sorted(column for column in (current or set()) - in_table if column not in removed)
    passed = not added and not removed and not discarded
    return dict(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if passed else f"Columns added: {added}; removed: {removed}.{kept_out}",
        metadata={
            "columns_added": dg.MetadataValue.json(added),
            "columns_removed": dg.MetadataValue.json(removed),
            "columns_discarded": dg.MetadataValue.json(discarded),
            "columns": len(in_table),
        },
    )
