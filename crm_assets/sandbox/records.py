"""Deterministic records: the same (resource, id) always yields the same row."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
STATUSES = ("open", "won", "lost", "on_hold")
# Rows past the first page carry a field the first page never shows: schema evolution in flight.
LATE_FIELD_FROM_INDEX = 150


def timestamp(minutes: int) -> str:
    return (EPOCH + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def make_record(resource: str, record_id: int, revision: int = 0) -> dict[str, Any]:
    """One row with scalars, a nested object and a nested list; `revision` bumps updated_at."""
    record: dict[str, Any] = {
        "id": record_id,
        "name": f"{resource} {record_id}",
        "status": STATUSES[record_id % len(STATUSES)],
        "amount": round(record_id * 1.25, 2),
        "created_at": timestamp(record_id),
        "updated_at": timestamp(record_id + revision * 525_600),
        "owner": {"id": record_id % 17 + 1, "email": f"owner{record_id % 17 + 1}@example.test"},
        "labels": [f"label-{(record_id + k) % 7}" for k in range(record_id % 3)],
    }
    if record_id >= LATE_FIELD_FROM_INDEX:
        record["archived_reason"] = "none"
    return record
