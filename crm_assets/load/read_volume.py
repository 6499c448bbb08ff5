"""How many rows each complete read returned, carried from one materialization to the next,
for the `row_volume` check: a read can be well-formed and still come up short (an API answering
a page of its list empty ends the read there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

COMPLETE_READ_ROWS = "complete_read_rows"
PREVIOUS_COMPLETE_READ_ROWS = "previous_complete_read_rows"


def last_complete_read_rows(metadata: Mapping[str, Any]) -> int | None:
    """The rows of the latest complete read as of a materialization's metadata (raw values)."""
    value = metadata.get(COMPLETE_READ_ROWS, metadata.get(PREVIOUS_COMPLETE_READ_ROWS))
    return getattr(value, "value", value)


def read_volume_metadata(rows_read: int | None, previous: Mapping[str, Any]) -> dict[str, Any]:
    """This materialization's `complete_read_rows` (where its read was complete: `rows_read`
    not None) and the latest complete read's before it (from `previous`, the metadata of the
    asset's latest materialization)."""
    metadata = {}
    if rows_read is not None:
        metadata[COMPLETE_READ_ROWS] = dg.MetadataValue.int(rows_read)
    before = last_complete_read_rows(previous)
    if before is not None:
        metadata[PREVIOUS_COMPLETE_READ_ROWS] = dg.MetadataValue.int(before)
    return metadata


def latest_materialization_metadata(
    instance: dg.DagsterInstance, assets: list[dg.AssetKey]
) -> dict[dg.AssetKey, dict[str, Any]]:
    """Each asset's latest materialization's metadata (`{}` where none), in one query."""
    latest: dict[dg.AssetKey, dict[str, Any]] = {asset: {} for asset in assets}
    for record in instance.get_asset_records(assets):
        event = record.asset_entry.last_materialization
        materialization = event.asset_materialization if event else None
        if materialization:
            latest[record.asset_entry.asset_key] = dict(materialization.metadata)
    return latest
