"""History mode: a resource with `history: true` keeps every version of its rows, through
dlt's `scd2` merge. Each version holds the time it became current (`_dlt_valid_from`, the load
that brought it) and the time it stopped (`_dlt_valid_to`, null while current); a version is
compared whole (dlt's row hash), so a re-load of unchanged rows adds nothing."""

from __future__ import annotations

from typing import Any

from crm_assets.config import ResourceSpec, SourceConfig

VALID_FROM, VALID_TO = "_dlt_valid_from", "_dlt_valid_to"


def history_hints(config: SourceConfig, resource: ResourceSpec) -> dict[str, Any]:
    """dlt's resource hints for a history resource."""
    hints: dict[str, Any] = {
        "write_disposition": {
            "disposition": "merge",
            "strategy": "scd2",
            "validity_column_names": [VALID_FROM, VALID_TO],
        }
    }
    if not config.reads_completely(resource):
        # scd2 retires the current versions a load does not contain; an incremental load holds
        # the changed rows only, so retire just the keys it brings new versions of.
        hints["merge_key"] = config.primary_key(resource)
    return hints
