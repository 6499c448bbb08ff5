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
    """The data behind the APIs, keyed `source.collection`: how many rows each list resource
    holds (a child holds `parent_id % 3` rows per parent), which records changed (id ->
    revision), which were deleted (no longer listed) and which collections now send `amount`
    as text."""

    default: int = 10
    overrides: dict[str, int] = field(default_factory=dict)
    revisions: dict[str, dict[int, int]] = field(default_factory=dict)
    deleted: dict[str, set[int]] = field(default_factory=dict)
    amount_as_text: set[str] = field(default_factory=set)
    schema_changes: dict[str, SchemaChange] = field(default_factory=dict)

    def rows(self, source: str, resource: str) -> int:
        return self.overrides.get(f"{source}.{resource}", self.default)

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
        record = make_record(collection, record_id, revision, as_text)
        if changed:
            record.update(change.new_fields)
        return record

    def ids_updated_since(self, source: str, collection: str, since: str) -> Sequence[int]:
        """Ids whose updated_at >= since, ascending, without building the whole range."""
        minutes = minutes_since_epoch(since)
        count = self.rows(source, collection)
        first_unchanged = max(math.ceil(minutes), 1)
        revised = self.revisions.get(f"{source}.{collection}", {})
        earlier_revised = sorted(
            record_id
            for record_id, revision in revised.items()
            if record_id < first_unchanged and record_id <= count
            and updated_minutes(record_id, revision) >= minutes
        )
        return _Concatenated(earlier_revised, range(first_unchanged, count + 1))

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

    def __init__(self, head: list[int], tail: range) -> None:
        self.head, self.tail = head, tail

    def __len__(self) -> int:
        return len(self.head) + len(self.tail)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            split = len(self.head)
            return self.head[start:stop] + list(self.tail[max(start - split, 0) : max(stop - split, 0)])
        return self.head[index] if index < len(self.head) else self.tail[index - len(self.head)]
