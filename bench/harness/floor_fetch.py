"""Stage 1, the HTTP floor, in its own process: a bare `requests.Session` (keep-alive) fetching
every page of the plan (harness/floor_plan.py), decoding JSON with `response.json()` and selecting
the rows with the config's data selector."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def select_rows(payload: Any, selector: str | None) -> list[Any]:
    """The rows at `selector`, as dlt's RESTClient.extract_response returns them."""
    if not selector:
        return payload if isinstance(payload, list) else [payload]
    values = [payload]
    for step in selector.replace("[*]", ".*").split("."):
        if step == "*":
            values = [
                item for value in values
                for item in (value if isinstance(value, list) else
                             value.values() if isinstance(value, dict) else ())
            ]
        else:
            values = [value[step] for value in values if isinstance(value, dict) and step in value]
    data = values[0] if len(values) == 1 else values
    if data is None:
        return []
    return data if isinstance(data, list) else [data]


def stage_floor(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    import requests

    plan = ctx["plan"]
    session = requests.Session()
    urls: list[str] = []
    rows: dict[str, int] = {}
    pages: dict[str, int] = {}
    fetched_bytes = 0

    def get(url: str, params: dict[str, Any] | None, source: dict[str, Any]) -> Any:
        nonlocal fetched_bytes
        response = session.get(
            url, params=params, headers=source["headers"],
            auth=tuple(source["basic"]) if source["basic"] else None, timeout=60,
        )
        response.raise_for_status()
        urls.append(response.url)
        fetched_bytes += len(response.content)
        return response

    started = time.perf_counter()
    for source in plan:
        base = source["base_url"].rstrip("/") + "/"
        kept: dict[str, list[dict[str, Any]]] = {}
        for resource in source["resources"]:
            key = f"{source['source']}.{resource['name']}"
            paths: list[str] = []
            if resource["parent"]:
                placeholder, parent, field = resource["parent"]
                paths = [resource["path"].replace(placeholder, str(row[field]))
                         for row in kept[parent]]
            elif resource["for_each"]:
                ((name, values),) = resource["for_each"]
                paths = [resource["path"].replace("{" + name + "}", v) for v in values]
            else:
                paths = [resource["path"]]
            keep = resource["keep_fields"]
            kept_rows: list[dict[str, Any]] = []
            count = page_count = 0
            paginator = resource["paginator"]
            selector = resource["data_selector"]
            for path in paths:
                url = base + path.lstrip("/")
                params = {**resource["params"], **source["query"]}
                style = paginator["type"]
                if style == "single_page":
                    page_rows_iter = [select_rows(get(url, params, source).json(), selector)]
                elif style == "header_link":
                    def header_link_pages(url: str = url, params: dict = params) -> Any:
                        response = get(url, params, source)
                        yield select_rows(response.json(), selector)
                        while (link := response.links.get(paginator["links_next_key"])):
                            response = get(link["url"], None, source)
                            yield select_rows(response.json(), selector)
                    page_rows_iter = header_link_pages()
                elif style == "page_number":
                    def page_number_pages(url: str = url, params: dict = params) -> Any:
                        page = paginator["base_page"]
                        while True:
                            data = select_rows(
                                get(url, {**params, paginator["page_param"]: page},
                                    source).json(), selector)
                            yield data
                            page += 1
                            if not data or (paginator["maximum_page"] is not None
                                            and page >= paginator["maximum_page"]):
                                return
                    page_rows_iter = page_number_pages()
                elif style == "offset":
                    def offset_pages(url: str = url, params: dict = params) -> Any:
                        offset, limit = 0, paginator["limit"]
                        while True:
                            data = select_rows(get(url, {
                                **params, paginator["offset_param"]: offset,
                                paginator["limit_param"]: limit}, source).json(), selector)
                            yield data
                            offset += limit
                            if not data or (paginator["maximum_offset"] is not None
                                            and offset >= paginator["maximum_offset"]):
                                return
                    page_rows_iter = offset_pages()
                else:
                    raise ValueError(f"paginator {style!r} not supported by the floor")
                for data in page_rows_iter:
                    page_count += 1
                    count += len(data)
                    if keep:
                        kept_rows.extend({f: row[f] for f in keep} for row in data)
            if keep:
                kept[resource["name"]] = kept_rows
            pages[key] = page_count
            if resource["loaded"]:
                rows[key] = count
    out["inner_s"] = time.perf_counter() - started
    out.update(rows=rows, pages=pages, bytes=fetched_bytes, requests=len(urls))
    Path(ctx["urls_path"]).write_text("\n".join(urls))
