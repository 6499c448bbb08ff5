"""What the emulated APIs serve: routes, envelopes, pages, auth, and the data volume.

The routes, data selectors and paging parameter names come from the same config files the
pipeline reads; how each paging style behaves (Link headers, pages past the end, single objects
that ignore paging, page-size caps) is implemented here, on the server side, the way the real
APIs behave, so the pipeline's paginators are exercised for real.
"""

from __future__ import annotations

import base64
import re
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

from crm_assets.config import PARENT_REFERENCE, ResourceSpec, SourceConfig
from crm_assets.sandbox.records import make_record, minutes_since_epoch, updated_minutes

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 10_000
CHILDREN_PER_PARENT_CYCLE = 3


def sandbox_secrets(config: SourceConfig, suffix: str = "") -> dict[str, str]:
    """The credentials the sandbox accepts for a source, by env var name."""
    return {
        env_var: f"sbx-{field}-{config.name}{suffix}" for field, env_var in config.auth.env.items()
    }


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


def paginator_of(config: SourceConfig, resource: ResourceSpec) -> dict[str, Any]:
    paginator = resource.endpoint.paginator or config.resource_defaults.endpoint.paginator
    return paginator.model_dump() if paginator else {"type": "single_page"}


def kind_of(config: SourceConfig, resource: ResourceSpec) -> str:
    if paginator_of(config, resource)["type"] == "single_page":
        return "single"
    if resource.parent:
        return "child"
    if resource.for_each:
        return "for_each"
    return "list"


def child_ids(parent_id: int) -> list[int]:
    return [parent_id * 10 + k for k in range(parent_id % CHILDREN_PER_PARENT_CYCLE)]


def envelope(data_selector: str | None, payload: Any) -> Any:
    """Wrap rows the way `data_selector` unwraps them: `data.contacts.*.contact` ->
    {"data": {"contacts": [{"contact": row}, ...]}}."""
    if not data_selector:
        return payload
    steps = data_selector.replace("[*]", ".*").split(".")
    if "*" in steps:
        star = steps.index("*")
        inner = steps[star + 1 :]
        for key in reversed(inner):
            payload = [{key: row} for row in payload]
        steps = steps[:star]
    for key in reversed(steps):
        payload = {key: payload}
    return payload


@dataclass(frozen=True)
class Route:
    config: SourceConfig
    resource: ResourceSpec
    pattern: re.Pattern[str]
    kind: str
    paginator: dict[str, Any]
    # Resources reading one path read one collection: the first resource on the path names it.
    collection: str

    @property
    def key(self) -> str:
        return f"{self.config.name}.{self.resource.name}"


def _route_pattern(base_path: str, resource: ResourceSpec) -> re.Pattern[str]:
    path = base_path.rstrip("/") + "/" + resource.endpoint.path.lstrip("/")
    regex, position = "", 0
    for match in re.finditer(r"\{([^{}]+)\}", path):
        regex += re.escape(path[position : match.start()])
        if PARENT_REFERENCE.fullmatch(match.group(0)):
            regex += r"(?P<parent_id>\d+)"
        else:
            regex += r"(?P<each>[^/]+)"
        position = match.end()
    return re.compile(regex + re.escape(path[position:]) + "$")


def build_routes(configs: list[SourceConfig]) -> dict[str, list[Route]]:
    """Routes by source name; each matches the path below `/<source>`."""
    routes: dict[str, list[Route]] = {}
    for config in configs:
        base_path = urlparse(config.base_url).path
        first_on_path: dict[str, str] = {}
        for resource in config.resources:
            first_on_path.setdefault(resource.endpoint.path, resource.name)
        routes[config.name] = [
            Route(
                config=config,
                resource=resource,
                pattern=_route_pattern(base_path, resource),
                kind=kind_of(config, resource),
                paginator=paginator_of(config, resource),
                collection=first_on_path[resource.endpoint.path],
            )
            for resource in config.resources
        ]
    return routes


class Unauthorized(Exception):
    pass


def check_auth(
    config: SourceConfig, headers: Any, query: dict[str, str], secrets: dict[str, str]
) -> None:
    expected = {field: secrets[env] for field, env in config.auth.env.items()}
    auth = config.auth
    if auth.type == "bearer":
        ok = headers.get("Authorization") == f"Bearer {expected['token']}"
    elif auth.type == "http_basic":
        pair = f"{expected['username']}:{expected['password']}".encode()
        ok = headers.get("Authorization") == "Basic " + base64.b64encode(pair).decode()
    else:
        presented = query.get(auth.name) if auth.location == "query" else headers.get(auth.name)
        ok = presented == expected["api_key"]
    if not ok:
        raise Unauthorized()


@dataclass
class Page:
    body: Any
    rows: int
    link_next: str | None = None


def _int_param(query: dict[str, str], name: str | None, default: int) -> int:
    if not name or name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        return default


def serve_page(
    route: Route, volume: Volume, query: dict[str, str], match: re.Match[str], self_url: str
) -> Page:
    """The page a real API would answer for this request."""
    config, resource = route.config, route.resource
    if route.kind == "single":
        row = volume.record(config.name, route.collection, 1)
        return Page(envelope(resource.endpoint.data_selector, row), 1)

    if route.kind == "child":
        ids = child_ids(int(match.group("parent_id")))
    else:
        if route.kind == "for_each":
            if match.group("each") not in resource.for_each.values:
                raise LookupError(match.group("each"))
        incremental = resource.endpoint.incremental
        if incremental and incremental.start_param in query:
            since = query[incremental.start_param]
            ids = volume.ids_updated_since(config.name, route.collection, since)
        else:
            ids = range(1, volume.rows(config.name, route.collection) + 1)
        ids = volume.listed(config.name, route.collection, ids)

    style = route.paginator["type"]
    if style == "offset":
        size = _int_param(query, route.paginator["limit_param"], DEFAULT_PAGE_SIZE)
        start = _int_param(query, route.paginator["offset_param"], 0)
    else:
        size = _int_param(query, config.page_size_param, DEFAULT_PAGE_SIZE)
        page_param = route.paginator.get("page_param", "page")
        base = route.paginator.get("base_page", 1)
        page = _int_param(query, page_param, base)
        start = (page - base) * min(max(size, 1), MAX_PAGE_SIZE)
    size = min(max(size, 1), MAX_PAGE_SIZE)
    start = max(start, 0)
    page_ids = ids[start : start + size]
    rows = [volume.record(config.name, route.collection, record_id) for record_id in page_ids]
    link_next = None
    if style == "header_link" and start + size < len(ids):
        next_query = {**query, "page": str(start // size + 2)}
        if config.page_size_param:
            next_query[config.page_size_param] = str(size)
        link_next = f"{self_url}?{urlencode(next_query)}"
    return Page(envelope(resource.endpoint.data_selector, rows), len(rows), link_next)


def expected_rows(route: Route, volume: Volume, parent_ids: Iterator[int] | None = None) -> int:
    """How many distinct rows the table of this route should hold after a full load."""
    if route.kind == "single":
        return 1
    if route.kind == "child":
        return sum(len(child_ids(parent_id)) for parent_id in parent_ids or ())
    count = volume.live_rows(route.config.name, route.collection)
    if route.kind == "for_each":
        return count * len(route.resource.for_each.values)
    return count
