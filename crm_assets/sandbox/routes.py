"""The emulated APIs' routes: each configured resource's path as a pattern, and how it pages.

The routes, data selectors and paging parameter names come from the same config files the
pipeline reads, so the pipeline's paginators meet the paths and parameters they expect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from crm_assets.config import PARENT_REFERENCE, ResourceSpec, SourceConfig
from crm_assets.config.placeholders import path_pattern


def paginator_of(config: SourceConfig, resource: ResourceSpec) -> dict[str, Any]:
    """How the API pages the resource; one that configures no paginator answers one page."""
    paginator = config.paginator(resource)
    return paginator.model_dump() if paginator else {"type": "single_page"}


def kind_of(config: SourceConfig, resource: ResourceSpec) -> str:
    if paginator_of(config, resource)["type"] == "single_page":
        return "single"
    if resource.parent:
        return "child"
    if resource.for_each:
        return "for_each"
    return "list"


def api_name(config: SourceConfig) -> str:
    """Where the sandbox serves a source (`/<source>/...`), or one of its accounts
    (`/<source>.<account>/...`, its own data, credentials and rate limit)."""
    return f"{config.name}.{config.account_name}" if config.account else config.name


@dataclass(frozen=True)
class Route:
    config: SourceConfig  # the source's, or its account's (`SourceConfig.account_loads`)
    api: str  # api_name(config): what the data, credentials and traffic are kept by
    resource: ResourceSpec
    pattern: re.Pattern[str]
    kind: str
    paginator: dict[str, Any]
    # Resources reading one path read one collection: the first resource on the path names it.
    collection: str

    @property
    def key(self) -> str:
        return f"{self.api}.{self.resource.name}"


def _placeholder_group(placeholder: str) -> str:
    return r"(?P<parent_id>\d+)" if PARENT_REFERENCE.fullmatch(placeholder) else r"(?P<each>[^/]+)"


def _route_pattern(base_path: str, resource: ResourceSpec) -> re.Pattern[str]:
    return path_pattern(base_path, resource.endpoint.path, _placeholder_group)


def build_routes(configs: list[SourceConfig]) -> dict[str, list[Route]]:
    """Routes by API name (`api_name`); each matches the path below `/<api name>`."""
    routes: dict[str, list[Route]] = {}
    for config in (load for source in configs for load in source.account_loads()):
        base_path = urlparse(config.base_url).path
        first_on_path: dict[str, str] = {}
        for resource in config.resources:
            first_on_path.setdefault(resource.endpoint.path, resource.name)
        routes[api_name(config)] = [
            Route(
                config=config,
                api=api_name(config),
                resource=resource,
                pattern=_route_pattern(base_path, resource),
                kind=kind_of(config, resource),
                paginator=paginator_of(config, resource),
                collection=first_on_path[resource.endpoint.path],
            )
            for resource in config.resources
        ]
    return routes
