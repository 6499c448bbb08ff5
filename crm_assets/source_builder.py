"""Turns a validated `SourceConfig` plus run-time credentials into a dlt REST API source."""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources import DltSource
from dlt.sources.rest_api import rest_api_source

from crm_assets.config import (
    Endpoint,
    EndpointDefaults,
    ResourceSpec,
    SourceConfig,
    parse_json_path,
)
from crm_assets.deletions import deleted_at_column
from crm_assets.history import history_hints
from crm_assets.http_session import http_session
from crm_assets.pii import hasher, row_policy


def _for_each_values_resource(resource: ResourceSpec) -> tuple[str, Any]:
    """An unselected dlt resource yielding the values a `for_each` placeholder takes."""
    ((key, values),) = (resource.for_each or {}).items()
    name = resource.for_each_resource_name

    @dlt.resource(name=name, selected=False)
    def values_resource():
        yield [{key: value} for value in values]

    return name, values_resource()


def _endpoint_config(endpoint: EndpointDefaults) -> dict[str, Any]:
    # Paginators keep their None values: dlt's own defaults differ (total_path="total").
    config = endpoint.model_dump(exclude_none=True, exclude={"paginator", "incremental"})
    if endpoint.paginator:
        config["paginator"] = endpoint.paginator.model_dump()
    if isinstance(endpoint, Endpoint) and endpoint.incremental:
        config["incremental"] = endpoint.incremental.dlt_incremental()
    if "data_selector" in config:
        # dlt's client parses a string selector again for every page; a compiled one is
        # parsed once per run.
        config["data_selector"] = parse_json_path(config["data_selector"])
    return config


def _resource_config(
    source: SourceConfig, resource: ResourceSpec
) -> tuple[dict[str, Any], list[Any]]:
    """dlt's EndpointResource for one spec, and any helper dlt resources it needs."""
    config = resource.model_dump(
        exclude={
            "description", "for_each", "can_be_empty", "history", "mark_deleted", "pii",
            "schema_contract",
        },
        exclude_none=True,
    )
    config["endpoint"] = _endpoint_config(resource.endpoint)
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
        ((key, _),) = resource.for_each.items()
        helper_name, helper = _for_each_values_resource(resource)
        helpers.append(helper)
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
    config: SourceConfig, base_url: str, secrets: dict[str, str], session: Any = None
) -> dict[str, Any]:
    """dlt's RESTAPIConfig for the source, with the given base URL and secret values."""
    resources: list[Any] = []
    for resource in config.resources:
        resource_config, helpers = _resource_config(config, resource)
        resources.extend(helpers)
        resources.append(resource_config)
    return {
        "client": {
            "base_url": base_url,
            "auth": config.auth.dlt_auth(secrets),
            "session": session or http_session(config, base_url),
        },
        "resource_defaults": {
            **config.resource_defaults.model_dump(
                exclude_none=True, exclude={"endpoint", "mark_deleted", "pii", "schema_contract"}
            ),
            "endpoint": _endpoint_config(config.resource_defaults.endpoint),
        },
        "resources": resources,
    }


def build_source(
    config: SourceConfig,
    base_url: str,
    secrets: dict[str, str],
    session: Any = None,
    pii_hash_key: str | None = None,
) -> DltSource:
    """The REST source with each resource's PII policy as its last map step, so dlt writes no
    row before the policy ran. A policy that hashes needs `pii_hash_key`."""
    # Parallelized on the source, dlt extracts every resource in its thread pool (set per
    # resource in the REST config, dlt 1.31 keeps top-level resources on the main thread; on a
    # child it is what sends each parent row's request to the pool: `_resource_config`).
    source = rest_api_source(
        rest_api_config(config, base_url, secrets, session),  # type: ignore[arg-type]
        name=config.name,
        parallelized=True,
    )
    digest = hasher(pii_hash_key) if pii_hash_key else None
    for resource in config.resources:
        policy = config.pii_policy(resource)
        if policy:
            source.resources[resource.name].add_map(row_policy(policy, digest))
    return source


def placeholder_source(config: SourceConfig) -> DltSource:
    """The source's shape as the code location needs it (its name, one resource per config
    entry), without dlt's REST machinery: no client, no secret, no request, no config
    resolution, ~8x faster to load. Runs build the real source from the API resource; tests
    assert both hold the same resources and that every valid config builds in dlt."""
    return DltSource(
        dlt.Schema(config.name),
        config.name,
        [dlt.resource([], name=resource.name) for resource in config.resources],
    )
