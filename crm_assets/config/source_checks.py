"""The rules that need the whole source: resource names, the parent graph, deletions and
history, page sizes, PII. Each broken rule is one ValueError, naming the resource."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from crm_assets.config.account import check_accounts
from crm_assets.config.placeholders import PARENT_REFERENCE
from crm_assets.table_rules.pii import parse_path

if TYPE_CHECKING:
    from crm_assets.config.resource import ResourceSpec
    from crm_assets.config.source import SourceConfig


def check_source(config: SourceConfig) -> None:
    _resources_form_a_tree(config)
    for resource in config.resources:
        problem = _deletion_problem(config, resource)
        if problem:
            raise ValueError(f"resource {resource.name!r}: {problem}")
    _page_sizes_are_positive(config)
    _pii_spares_keys(config)
    _backfill_has_time_cursors(config)
    check_accounts(config)


def _resources_form_a_tree(config: SourceConfig) -> None:
    names = [resource.name for resource in config.resources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate resource names {duplicates}")
    for resource in config.resources:
        if resource.for_each_resource_name in names:
            raise ValueError(
                f"resource name {resource.for_each_resource_name!r} is taken by the values "
                f"of {resource.name!r}'s for_each"
            )
    for resource in config.resources:
        if resource.parent and resource.parent not in names:
            raise ValueError(
                f"resource {resource.name!r}: parent {resource.parent!r} in endpoint.path "
                "is not a resource of this source"
            )
    for resource in config.resources:
        seen = [resource.name]
        parent = resource.parent
        while parent:
            if parent in seen:
                raise ValueError(f"resources {' -> '.join([*seen, parent])} form a cycle")
            seen.append(parent)
            parent = config.resource(parent).parent


def _deletion_problem(config: SourceConfig, resource: ResourceSpec) -> str | None:
    if resource.history and not config.primary_key(resource):
        return "history needs a primary key (the checks and the versions are keyed by it)"
    if resource.history and config.full_refresh_schedule and not config.reads_completely(resource):
        return "full_refresh_schedule would drop the history of this incremental resource"
    if not resource.mark_deleted:
        return None
    if not config.reads_completely(resource):
        return (
            "mark_deleted needs a resource read completely on every run (no incremental "
            "cursor, none on a parent, no page cap); use full_refresh_schedule"
        )
    if config.write_disposition(resource) != "merge":
        return "mark_deleted needs write_disposition merge (rows are kept and marked)"
    return None


def _page_sizes_are_positive(config: SourceConfig) -> None:
    if not config.page_size_param:
        return
    endpoints = [("resource_defaults", config.resource_defaults.endpoint)] + [
        (f"resource {resource.name!r}", resource.endpoint) for resource in config.resources
    ]
    for where, endpoint in endpoints:
        size = endpoint.params.get(config.page_size_param)
        if size is not None and (type(size) is not int or size <= 0):
            raise ValueError(
                f"{where}: endpoint.params.{config.page_size_param} "
                f"is the page size and must be a positive integer, got {size!r}"
            )


def _pii_spares_keys(config: SourceConfig) -> None:
    """Hashing or dropping a key, cursor or a field a child's path reads breaks merges,
    incremental loads or the child's requests: refuse it."""
    needed: dict[str, set[str]] = {r.name: set(config.primary_key(r)) for r in config.resources}
    for resource in config.resources:
        if resource.endpoint.incremental:
            needed[resource.name].add(resource.endpoint.incremental.cursor_path)
        for match in PARENT_REFERENCE.finditer(resource.endpoint.path):
            needed[match.group(1)].add(match.group(2))
        if resource.parent:
            needed[resource.parent].update(resource.include_from_parent or [])
    for resource in config.resources:
        for path in config.pii_policy(resource):
            if parse_path(path)[0][0] in needed[resource.name]:
                raise ValueError(
                    f"resource {resource.name!r}: pii path {path!r} is a primary key, an "
                    "incremental cursor or a field a child resource reads; it cannot be "
                    "hashed or dropped"
                )


def _backfill_has_time_cursors(config: SourceConfig) -> None:
    """A backfill window is a time range of a cursor: the source needs one, a date-time."""
    if config.backfill is None:
        return
    cursors = [r for r in config.resources if r.endpoint.incremental]
    if not cursors:
        raise ValueError(
            "backfill: no resource has endpoint.incremental, so none can be loaded by window"
        )
    for resource in cursors:
        initial_value = resource.endpoint.incremental.initial_value
        try:
            datetime.fromisoformat(initial_value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"backfill: resource {resource.name!r}: endpoint.incremental.initial_value "
                f"{initial_value!r} is not a date-time; windows are time ranges of the cursor"
            ) from None

