"""What one request to an emulated API gets: the page (its rows in the envelope the data
selector unwraps, paged the way the route's paginator pages), and how many rows a full load of
the route should hold (the oracle the tests compare the tables with).

How each paging style behaves (Link headers, pages past the end, single objects that ignore
paging, page-size caps) is implemented here, on the server side, the way the real APIs behave,
so the pipeline's paginators are exercised for real.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from crm_assets.sandbox.routes import Route
from crm_assets.sandbox.volume import Volume, child_ids

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 10_000


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
        row = volume.record(route.api, route.collection, 1)
        return Page(envelope(resource.endpoint.data_selector, row), 1)

    if route.kind == "child":
        ids = child_ids(int(match.group("parent_id")))
    else:
        if route.kind == "for_each":
            if match.group("each") not in resource.for_each.values:
                raise LookupError(match.group("each"))
        incremental = resource.endpoint.incremental
        if incremental and incremental.start_param in query:
            until = query.get(incremental.end_param) if incremental.end_param else None
            ids = volume.ids_updated(
                route.api, route.collection, query[incremental.start_param], until
            )
        else:
            ids = range(1, volume.rows(route.api, route.collection) + 1)
        ids = volume.listed(route.api, route.collection, ids)

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
    rows = [volume.record(route.api, route.collection, record_id) for record_id in page_ids]
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
    count = volume.live_rows(route.api, route.collection)
    if route.kind == "for_each":
        return count * len(route.resource.for_each.values)
    return count
