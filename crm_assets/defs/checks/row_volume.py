"""`row_volume`: a complete read returned far fewer rows than the previous complete read (WARN).
It sees what a shape check cannot: an answer well-formed but wrongly empty or short."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from crm_assets.load.read_volume import COMPLETE_READ_ROWS, PREVIOUS_COMPLETE_READ_ROWS


def check_row_volume(latest: Mapping[str, Any], max_drop: float) -> dict[str, Any]:
    """From the asset's latest materialization: its complete read against the one before."""
    rows = getattr(latest.get(COMPLETE_READ_ROWS), "value", None)
    previous = getattr(latest.get(PREVIOUS_COMPLETE_READ_ROWS), "value", None)
    metadata = {
        "rows_read": rows if rows is not None else "not a complete read",
        "previous_rows_read": previous if previous is not None else "none yet",
        "max_row_drop": max_drop,
    }
    if rows is None or not previous:
        return dict(passed=True, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)
    drop = 1 - rows / previous
    passed = drop <= max_drop
    return dict(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if passed else (
            f"The latest complete read returned {rows} rows, {drop:.0%} fewer than the "
            f"{previous} of the one before (max_row_drop {max_drop:.0%})."
        ),
        metadata=metadata,
    )
