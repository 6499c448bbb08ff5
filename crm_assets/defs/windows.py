"""Backfill windows: a source's incremental resources (and their children) as time-partitioned
assets `<source>/windows/<resource>` beside the unpartitioned nightly ones. A partition (or a
range of them) is one time window of the incremental cursor, loaded into the same table as the
nightly asset's, with dlt's own range (`initial_value` / `end_value`): dlt neither reads nor
writes the nightly cursor for it."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from crm_assets.config import BackfillSpec


def window_partitions(backfill: BackfillSpec) -> dg.TimeWindowPartitionsDefinition:
    """One partition per `grain` (UTC) from `start`, the last one holding today (end_offset 1:
    the current window can be re-read too)."""
    partitions = {
        "day": dg.DailyPartitionsDefinition,
        "week": dg.WeeklyPartitionsDefinition,
        "month": dg.MonthlyPartitionsDefinition,
    }[backfill.grain]
    return partitions(start_date=backfill.start.isoformat(), end_offset=1)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """The time range a run loads: its partitions' windows, first start to last end."""

    start: datetime
    end: datetime
    partitions: tuple[tuple[str, datetime, datetime], ...]  # (key, start, end), in order

    @classmethod
    def of(cls, context: dg.AssetExecutionContext) -> Window:
        if not (context.has_partition_key or context.has_partition_key_range):
            raise dg.Failure(
                "a window asset loads a time window: materialize it for a partition or a range "
                "(the UI's partition dialog, or --partition / --partition-range)"
            )
        partitions_def = context.assets_def.partitions_def
        parts = tuple(
            (key, window.start, window.end)
            for key in context.partition_keys
            for window in [partitions_def.time_window_for_partition_key(key)]
        )
        return cls(parts[0][1], parts[-1][2], parts)

    def metadata(self, rows_by_window: Counter[str] | None) -> dict[str, Any]:
        figures: dict[str, Any] = {"window_start": iso(self.start), "window_end": iso(self.end)}
        if rows_by_window is not None:
            figures["rows_by_window"] = dg.MetadataValue.json(
                {key: rows_by_window.get(key, 0) for key, _, _ in self.partitions}
            )
        return figures


class WindowRowCounter:
    """A dlt map step counting the rows of each partition window by their cursor value (after
    dlt's incremental filter: the rows this run loads)."""

    def __init__(self, window: Window, cursor_path: str) -> None:
        self.keys = [key for key, _, _ in window.partitions]
        self.starts = [start for _, start, _ in window.partitions]
        self.path = cursor_path.split(".")
        self.counts: Counter[str] = Counter()

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        value: Any = row
        for part in self.path:
            value = value.get(part) if isinstance(value, dict) else None
        moment = _as_datetime(value)
        if moment is not None:
            index = bisect.bisect_right(self.starts, moment) - 1
            if index >= 0:
                self.counts[self.keys[index]] += 1
        return row


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
