"""dlt's REST API config (the dict `rest_api_source` takes) for a validated `SourceConfig`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import dlt

from crm_assets.config import (
    AuthSpec,
    Endpoint,
    EndpointDefaults,
    ForEach,
    IncrementalSpec,
    ResourceSpec,
    SourceConfig,
    parse_json_path,
)
from crm_assets.defs.windows import Window, iso
from crm_assets.table_rules.deletions import deleted_at_column
from crm_assets.table_rules.history import history_hints


def dlt_auth(auth: AuthSpec, secrets: dict[str, str]) -> dict[str, Any]:
    """dlt's auth config with the given secret values filled in."""
    fields = {"name": auth.name, "location": auth.location}
    return {"type": auth.type, **{k: v for k, v in fields.items() if v}, **secrets}


def dlt_incremental(incremental: IncrementalSpec, window: Window | None = None) -> dict[str, Any]:
    """dlt's incremental: from the cursor kept in dlt's state, or over one backfill window
    (`end_value` set: dlt neither reads nor writes the state for it)."""
    config: dict[str, Any] = {
        "cursor_path": incremental.cursor_path,
        "start_param": incremental.start_param,
    }
    if window is None:
        return {**config, "initial_value": incremental.initial_value, "lag": incremental.lag_seconds}
    return {
        **config,
        **({"end_param": incremental.end_param} if incremental.end_param else {}),
        "initial_value": iso(window.start),
        "end_value": iso(window.end),
        "range_start": "closed",
        "range_end": "open",
    }


def _for_each_values_resource(name: str, for_each: ForEach) -> Any:
    """An unselected dlt resource yielding the values a `for_each` placeholder takes."""
    key, values = for_each.key, for_each.values

    @dlt.resource(name=name, selected=False)
    def values_resource():
        yield [{key: value} for value in values]

    return values_resource()


def _endpoint_config(endpoint: EndpointDefaults, window: Window | None = None) -> dict[str, Any]:
    # Paginators keep their None values: dlt's own defaults differ (total_path="total").
    config = endpoint.model_dump(exclude_none=True, exclude={"paginator", "incremental"})
    if endpoint.paginator:
        config["paginator"] = endpoint.paginator.model_dump()
    if isinstance(endpoint, Endpoint) and endpoint.incremental:
        config["incremental"] = dlt_incremental(endpoint.incremental, window)
    if "data_selector" in config:
        # dlt's client parses a string selector again for every page; a compiled one is
        # parsed once per run.
        config["data_selector"] = parse_json_path(config["data_selector"])
    return config


def _resource_config(
    source: SourceConfig, resource: ResourceSpec, window: Window | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """dlt's EndpointResource for one spec, and any helper dlt resources it needs."""
    config = resource.model_dump(
        exclude={
            "description", "for_each", "can_be_empty", "history", "mark_deleted", "pii",
            "schema_contract", "max_deleted_share", "max_row_drop",
        },
        exclude_none=True,
    )
    config["endpoint"] = _endpoint_config(resource.endpoint, window)
    if source.account:
        config["primary_key"] = source.primary_key(resource)
    if resource.history:
        config.update(history_hints(source, resource))
    if source.marks_deleted(resource):
        config["columns"] = deleted_at_column()
    if resource.parent or resource.for_each:
        # A child's request for each parent row runs in dlt's thread pool, not one after
        # another per page of parents.
        config["parallelized"] = True
    helpers: list[Any] = []
    if resource.for_each:
        key, helper_name = resource.for_each.key, resource.for_each_resource_name
        helpers.append(_for_each_values_resource(helper_name, resource.for_each))
        endpoint = config["endpoint"]
        endpoint["path"] = endpoint["path"].replace(
            "{" + key + "}", "{resources." + helper_name + "." + key + "}"
        )
        config["include_from_parent"] = [key]
        parent_column = f"_{helper_name}_{key}"

        def name_parent_column(row: dict[str, Any]) -> dict[str, Any]:
            row[key] = row.pop(parent_column)
            return row

        config["processing_steps"] = [{"map": name_parent_column}]
    return config, helpers


def rest_api_config(
    config: SourceConfig,
    base_url: str,
    secrets: dict[str, str],
    session: Any,
    window: Window | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Any]:
    """dlt's RESTAPIConfig for the source, with the given base URL and secret values; for a
    backfill `window`, of its windowed resources, each asked for that window; with `only`, of
    those resources and their ancestors."""
    resources: list[Any] = []
    for resource in config.loaded_resources(windows=window is not None, only=only):
        resource_config, helpers = _resource_config(config, resource, window)
        resources.extend(helpers)
        resources.append(resource_config)
    return {
        "client": {"base_url": base_url, "auth": dlt_auth(config.auth, secrets), "session": session},
        "resource_defaults": {
            **config.resource_defaults.model_dump(
                exclude_none=True, exclude={
                    "endpoint", "mark_deleted", "pii", "schema_contract", "max_deleted_share",
                    "max_row_drop",
                },
            ),
            "endpoint": _endpoint_config(config.resource_defaults.endpoint),
        },
        "resources": resources,
    }
