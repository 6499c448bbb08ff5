"""Stage 1, the HTTP floor, in a process of its own: a bare `requests.Session` (keep-alive)
fetching every page the pipeline fetches (same paths, params, auth, paginators, children and
`for_each` paths), decoding with `response.json()` and selecting the rows with the config's
data selector. What it counts is what stages 2-4 must load; stage 0 replays the URLs it got."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PARENT_REFERENCE = re.compile(r"\{resources\.(\w+)\.(\w+)\}")


def select_rows(payload: Any, selector: str | None) -> list[Any]:
    """The rows at `selector`, as dlt's RESTClient.extract_response returns them."""
    if not selector:
        return payload if isinstance(payload, list) else [payload]
    values = [payload]
    for step in selector.replace("[*]", ".*").split("."):
        if step == "*":
            values = [item for value in values for item in (
                value if isinstance(value, list) else
                value.values() if isinstance(value, dict) else ())]
        else:
            values = [value[step] for value in values if isinstance(value, dict) and step in value]
    data = values[0] if len(values) == 1 else values
    if data is None:
        return []
    return data if isinstance(data, list) else [data]


def pages(get: Callable[..., Any], url: str, params: dict[str, Any], paginator: Any,
          selector: str | None) -> Iterator[list[Any]]:
    """The rows of each page of one path, following the paginator as dlt does."""
    kind = paginator.type if paginator else "single_page"
    if kind in ("single_page", "header_link"):
        response = get(url, params)
        yield select_rows(response.json(), selector)
        while kind == "header_link" and (link := response.links.get(paginator.links_next_key)):
            response = get(link["url"], None)
            yield select_rows(response.json(), selector)
        return
    if kind == "page_number":
        position, step, stop = paginator.base_page, 1, paginator.maximum_page
        param, fixed = paginator.page_param, {}
    else:  # offset
        position, step, stop = 0, paginator.limit, paginator.maximum_offset
        param, fixed = paginator.offset_param, {paginator.limit_param: paginator.limit}
    while True:
        rows = select_rows(get(url, {**params, param: position, **fixed}).json(), selector)
        yield rows
        position += step
        if not rows or (stop is not None and position >= stop):
            return


def credentials(config: Any) -> tuple[dict[str, str], dict[str, str], tuple[str, str] | None]:
    """(headers, query params, basic auth) the source's API takes, from the sandbox's env."""
    auth = config.auth
    secrets = {field: os.environ[var] for field, var in auth.env.items()}
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {secrets['token']}"}, {}, None
    if auth.type == "http_basic":
        return {}, {}, (secrets["username"], secrets["password"])
    if auth.location == "header":
        return {auth.name: secrets["api_key"]}, {}, None
    return {}, {auth.name: secrets["api_key"]}, None


def stage_floor(ctx: dict[str, Any], configs: list[Any], out: dict[str, Any]) -> None:
    import requests

    session = requests.Session()
    urls: list[str] = []
    rows: dict[str, int] = {}
    fetched_bytes = 0
    started = time.perf_counter()
    for config in configs:
        headers, query, basic = credentials(config)

        def get(url: str, params: dict[str, Any] | None) -> Any:
            nonlocal fetched_bytes
            response = session.get(url, params=params, headers=headers, auth=basic, timeout=60)
            response.raise_for_status()
            urls.append(response.url)
            fetched_bytes += len(response.content)
            return response

        base = os.environ[config.base_url_env].rstrip("/") + "/"
        parents = {spec.parent for spec in config.resources}
        kept: dict[str, list[Any]] = {}  # the rows of parents, for their children's paths
        # Parents before their children: by depth.
        for spec in sorted(config.resources, key=lambda spec: len(list(config.lineage(spec)))):
            params = {**config.params(spec), **query}
            if incremental := spec.endpoint.incremental:  # a first load: the start value
                params[incremental.start_param] = incremental.initial_value
            if reference := PARENT_REFERENCE.search(spec.endpoint.path):
                placeholder, parent, field = reference.group(0, 1, 2)
                paths = [spec.endpoint.path.replace(placeholder, str(row[field]))
                         for row in kept.get(parent, [])]
            elif spec.for_each:
                paths = [spec.endpoint.path.replace("{" + spec.for_each.key + "}", value)
                         for value in spec.for_each.values]
            else:
                paths = [spec.endpoint.path]
            count = 0
            for path in paths:
                for page in pages(get, base + path.lstrip("/"), params, config.paginator(spec),
                                  spec.endpoint.data_selector):
                    count += len(page)
                    if spec.name in parents:
                        kept.setdefault(spec.name, []).extend(page)
            rows[f"{config.name}.{spec.name}"] = count
    out["inner_s"] = time.perf_counter() - started
    out.update(rows=rows, bytes=fetched_bytes, requests=len(urls))
    Path(ctx["urls_path"]).write_text("\n".join(urls))
