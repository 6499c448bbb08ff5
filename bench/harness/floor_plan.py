"""The plan of the HTTP floor: what the pipeline fetches, as plain data (paths, params, auth,
paginators, parents and `for_each` values), so the floor's process imports only requests."""

from __future__ import annotations

import re
from typing import Any

PARENT_REFERENCE = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")


def selected_resources(config: Any, resource: str | None) -> tuple[list[str], set[str]]:
    """(resources to fetch, parents first; resources loaded) for one source."""
    names = [r.name for r in config.resources]
    if resource is None:
        needed, loaded = set(names), set(names)
    else:
        needed, loaded, current = set(), {resource}, resource
        while current:
            needed.add(current)
            current = config.resource(current).parent
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        parent = config.resource(name).parent
        if parent:
            visit(parent)
        ordered.append(name)

    for name in names:
        if name in needed:
            visit(name)
    return ordered, loaded


def floor_plan(configs: list[Any], env: dict[str, str], source: str | None,
               resource: str | None) -> list[dict[str, Any]]:
    plan = []
    for config in configs:
        if source and config.name != source:
            continue
        secrets = {field: env[var] for field, var in config.auth.env.items()}
        auth = config.auth
        headers, query, basic = {}, {}, None
        if auth.type == "bearer":
            headers["Authorization"] = f"Bearer {secrets['token']}"
        elif auth.type == "http_basic":
            basic = [secrets["username"], secrets["password"]]
        elif auth.location == "header":
            headers[auth.name] = secrets["api_key"]
        else:
            query[auth.name] = secrets["api_key"]
        ordered, loaded = selected_resources(config, resource)
        needed_fields: dict[str, set[str]] = {}
        for name in ordered:
            match = PARENT_REFERENCE.search(config.resource(name).endpoint.path)
            if match:
                needed_fields.setdefault(match.group(1), set()).add(match.group(2))
        resources = []
        for name in ordered:
            spec = config.resource(name)
            paginator = config.paginator(spec)
            match = PARENT_REFERENCE.search(spec.endpoint.path)
            params = dict(config.params(spec))
            incremental = getattr(spec.endpoint, "incremental", None)
            if incremental is not None:
                # A first load sends the start param with the initial value on every page.
                params[incremental.start_param] = incremental.initial_value
            resources.append({
                "name": name,
                "path": spec.endpoint.path,
                "params": params,
                "paginator": paginator.model_dump() if paginator else {"type": "single_page"},
                "data_selector": spec.endpoint.data_selector,
                "parent": [match.group(0), match.group(1), match.group(2)] if match else None,
                "for_each": [[spec.for_each.key, spec.for_each.values]] if spec.for_each else None,
                "loaded": name in loaded,
                "keep_fields": sorted(needed_fields.get(name, ())),
            })
        plan.append({
            "source": config.name,
            "base_url": env[config.base_url_env],
            "headers": headers,
            "query": query,
            "basic": basic,
            "resources": resources,
        })
    return plan
