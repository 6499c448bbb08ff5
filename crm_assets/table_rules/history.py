"""History mode: a resource with `history: true` keeps every version of its rows, through
dlt's `scd2` merge. Each version holds the time it became current (`_dlt_valid_from`, the load
that brought it) and the time it stopped (`_dlt_valid_to`, null while current); a version is
compared whole (dlt's row hash), so a re-load of unchanged rows adds nothing.

dlt retires only the keys a load brings new versions of (the primary key is the merge key). A
key that a complete read no longer returns is retired after the load, by `absent_rows.py`,
which can tell a short read from real deletions; dlt's own retirement of absent keys cannot."""

from __future__ import annotations

from typing import Any

from crm_assets.config import ResourceSpec, SourceConfig

VALID_FROM, VALID_TO = "_dlt_valid_from", "_dlt_valid_to"


def history_hints(config: SourceConfig, resource: ResourceSpec) -> dict[str, Any]:
    """dlt's resource hints for a history resource."""
    return {
        "write_disposition": {
            "disposition": "merge",
            "strategy": "scd2",
            "validity_column_names": [VALID_FROM, VALID_TO],
        },
        "merge_key": config.primary_key(resource),
    }


class ReturnedKeys:
    """A map step keeping the primary key of every row a read returned, for the retirement of
    the keys it did not return (`absent_rows.retire_absent`)."""

    def __init__(self, key_columns: list[str]) -> None:
        self.key_columns = key_columns
        # Pages of a child resource map in dlt's worker threads; set.add holds the GIL.
        self.keys: set[tuple[Any, ...]] = set()

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        self.keys.add(tuple(row.get(column) for column in self.key_columns))
        return row
