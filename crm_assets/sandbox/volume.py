"""The data behind the emulated APIs: how many rows each collection holds, which records
changed, were deleted or changed their schema, and each record's contents."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_assets.config import SourceConfig
from crm_assets.sandbox.records import make_record, minutes_since_epoch, updated_minutes
from crm_assets.sandbox.routes import kind_of

CHILDREN_PER_PARENT_CYCLE = 3


def child_ids(parent_id: int) -> list[int]:
    return [parent_id * 10 + k for k in range(parent_id % CHILDREN_PER_PARENT_CYCLE)]


@dataclass
class SchemaChange:
    """The API changing a collection's rows from record `from_id` on: `amount` sent as text
    (a changed type) and `new_fields` added (new columns)."""

    collection: str  # source.collection
    amount_as_text: bool = False
    new_fields: dict[str, Any] = field(default_factory=dict)
    from_id: int = 1


@dataclass
class Volume:
    """The data behind the APIs, keyed `source.collection` (an account's: `source.account.
    collection`): how many rows each list resource
    holds (a child holds `parent_id % 3` rows per parent), which records changed (id ->
    revision), which were deleted (no longer listed) and which collections now send `amount`
    as text."""

    default: int = 10
    overrides: dict[str, int] = field(default_factory=dict)
    revisions: dict[str, dict[int, int]] = field(default_factory=dict)
    deleted: dict[str, set[int]] = field(default_factory=dict)
    amount_as_text: set[str] = field(default_factory=set)
    schema_changes: dict[str, SchemaChange] = field(default_factory=dict)
    # Record n is created n * minutes_per_id minutes after 2025-01-01 (records.EPOCH): 1440 puts
    # a record a day, so a few hundred span months of backfill windows.
    minutes_per_id: int = 1

    def rows(self, source: str, resource: str) -> int:
        """`source` may be an account's API (`party_crm.eu`): its own count where one is set,
        else its source's. Accounts share their first ids: record n exists in both."""
        base_source = source.partition(".")[0]
        count = self.overrides.get(f"{base_source}.{resource}", self.default)
        return self.overrides.get(f"{source}.{resource}", count)

    def listed(self, source: str, collection: str, ids: Sequence[int]) -> Sequence[int]:
        """`ids` without the deleted ones (the whole range stays lazy while none is)."""
        gone = self.deleted.get(f"{source}.{collection}")
        return [record_id for record_id in ids if record_id not in gone] if gone else ids

    def live_rows(self, source: str, collection: str) -> int:
        count = self.rows(source, collection)
        gone = self.deleted.get(f"{source}.{collection}", set())
        return count - sum(1 for record_id in gone if 1 <= record_id <= count)

    def change_schema(self, change: SchemaChange) -> None:
        self.schema_changes[change.collection] = change

    def record(self, source: str, collection: str, record_id: int) -> dict[str, Any]:
        key = f"{source}.{collection}"
        revision = self.revisions.get(key, {}).get(record_id, 0)
        change = self.schema_changes.get(key)
        changed = change is not None and record_id >= change.from_id
        as_text = key in self.amount_as_text or (changed and change.amount_as_text)
        record = make_record(collection, record_id, revision, as_text, self.minutes_per_id)
        if changed:
            record.update(change.new_fields)
        _, _, account = source.partition(".")
        if account:
            # One id in two accounts is two records: their contents differ.
            record["name"] += f" @{account}"
        return record

    def ids_updated(
        self, source: str, collection: str, since: str, until: str | None = None
    ) -> Sequence[int]:
        """Ids whose updated_at is in [since, until) (no end: since on), without building the
        whole range: revised records updated in it, then the unrevised ones in id order."""
        low = minutes_since_epoch(since)
        high = minutes_since_epoch(until) if until else math.inf
        step, count = self.minutes_per_id, self.rows(source, collection)
        first = max(math.ceil(low / step), 1)
        last = count if high == math.inf else min(count, math.ceil(high / step) - 1)
        revised = {
            record_id: updated_minutes(record_id, revision, step)
            for record_id, revision in self.revisions.get(f"{source}.{collection}", {}).items()
            if record_id <= count
        }
        earlier_revised = sorted(
            record_id for record_id, updated in revised.items()
            if record_id < first and low <= updated < high
        )
        # A revision moves a record past the window's end: it is no longer in it.
        moved_out = {record_id for record_id, updated in revised.items() if updated >= high}
        tail: Sequence[int] = range(first, last + 1)
        if any(first <= record_id <= last for record_id in moved_out):
            tail = [record_id for record_id in tail if record_id not in moved_out]
        return _Concatenated(earlier_revised, tail)

    @classmethod
    def spread(cls, records: int, configs: list[SourceConfig]) -> Volume:
        """`records` rows spread evenly over every top-level list resource of the configs."""
        list_resources = [
            (config.name, resource.name)
            for config in configs
            for resource in config.resources
            if kind_of(config, resource) == "list"
        ]
        return cls(default=max(records // max(len(list_resources), 1), 0))


class _Concatenated(Sequence[int]):
    """A short list followed by a range, sliceable without materializing the range."""

    def __init__(self, head: list[int], tail: Sequence[int]) -> None:
        self.head, self.tail = head, tail

    def __len__(self) -> int:
        return len(self.head) + len(self.tail)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            split = len(self.head)
            return self.head[start:stop] + list(self.tail[max(start - split, 0) : max(stop - split, 0)])
        return self.head[index] if index < len(self.head) else self.tail[index - len(self.head)]
