"""`has_rows`: the table holds rows the API still has."""

from typing import Any

import dagster as dg

from crm_assets.config import ResourceSpec
from crm_assets.defs.checks.reader import TableReader
from crm_assets.load.row_counts import count_rows


def check_has_rows(
    reader: TableReader, resource: ResourceSpec, account: str | None = None
) -> dict[str, Any]:
    """Rows the API still has (of the account): a history table's current versions, rows not
    marked deleted."""
    rows = 0
    if reader.exists(resource.name):
        columns = reader.columns_by_table[resource.name]
        rows = count_rows(reader.client, resource.name, columns, account=account).current_or_all
    return dict(
        passed=rows > 0,
        severity=dg.AssetCheckSeverity.WARN if resource.can_be_empty else dg.AssetCheckSeverity.ERROR,
        description=None if rows else "The table holds no current row or was never created.",
        metadata={"rows": rows},
    )
