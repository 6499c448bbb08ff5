"""Deletions: rows that a complete, successful load no longer returned get `_crm_deleted_at`
(`absent_rows.mark_absent`).

An API drops a deleted record from its lists; it sends no tombstone. dlt's `hard_delete` hint
acts on rows that *arrive* flagged, so it cannot see a row that stopped arriving; what can is
the load itself: after a merge, every row the API returned carries this run's `_dlt_load_id`,
and the rows with an older one were not returned. Marking (not deleting) keeps what dashboards
counted explainable, and is undone by the merge when a record comes back (its new version has
no mark).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timezone
from typing import Any

from crm_assets.table_rules.history import VALID_TO

DELETED_AT = "_crm_deleted_at"
LOAD_ID = "_dlt_load_id"


def deleted_at_column() -> dict[str, Any]:
    """The column hint: declared up front, so the table has it before the first mark."""
    return {DELETED_AT: {"data_type": "timestamp", "nullable": True}}


def current_condition(columns: Collection[str]) -> str | None:
    """The SQL condition of the rows the API still has: not retired by history, not marked
    deleted; None for a table that keeps neither."""
    if VALID_TO in columns:
        return f"{VALID_TO} is null"
    if DELETED_AT in columns:
        return f"{DELETED_AT} is null"
    return None


def load_time(load_ids: Iterable[str]) -> datetime:
    """When the run's load package was made (a dlt load id is its Unix time)."""
    return datetime.fromtimestamp(max(float(load_id) for load_id in load_ids), timezone.utc)
