"""The dlt source of a config: the real one a run builds, and what the code location holds in
its place (the source's shape, a reference to its pipeline)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltSource
from dlt.sources.rest_api import rest_api_source

from crm_assets.config import SourceConfig
from crm_assets.defs.windows import Window
from crm_assets.extract.http_session import http_session
from crm_assets.extract.rest_api import rest_api_config
from crm_assets.table_rules.accounts import with_account
from crm_assets.table_rules.pii import hasher, row_policy


def build_source(
    config: SourceConfig,
    base_url: str,
    secrets: dict[str, str],
    session: Any = None,
    pii_hash_key: str | None = None,
    window: Window | None = None,
    only: Collection[str] | None = None,
) -> DltSource:
    """The REST source with each resource's PII policy as its last map step, so dlt writes no
    row before the policy ran. A policy that hashes needs `pii_hash_key`. For a backfill
    `window`: its windowed resources, each asked for that window only. With `only` (the
    resources a run selected), those and their ancestors: dlt resolves a client's config for
    each resource it builds, a fixed cost of every run of a few assets."""
    # Parallelized on the source, dlt extracts every resource in its thread pool (set per
    # resource in the REST config, dlt 1.31 keeps top-level resources on the main thread; on a
    # child it is what sends each parent row's request to the pool: `_resource_config`).
    session = session or http_session(config, base_url)
    source = rest_api_source(
        rest_api_config(config, base_url, secrets, session, window, only),  # type: ignore[arg-type]
        name=config.load_name,
        parallelized=True,
    )
    digest = hasher(pii_hash_key) if pii_hash_key else None
    for resource in config.loaded_resources(windows=window is not None, only=only):
        if config.account:
            # First after the pages, before dlt's incremental step dedupes on the primary key.
            source.resources[resource.name].add_map(with_account(config.account.name), insert_at=1)
        policy = config.pii_policy(resource)
        if policy:
            source.resources[resource.name].add_map(row_policy(policy, digest))
    return source


def placeholder_source(config: SourceConfig, windows: bool = False) -> DltSource:
    """The source's shape as the code location needs it (its name, one resource per config
    entry, or per windowed resource), without dlt's REST machinery: no client, no secret, no
    request, no config resolution, ~8x faster to load. Runs build the real source from the
    API resource; tests assert both hold the same resources and that every valid config
    builds in dlt."""
    return DltSource(
        dlt.Schema(config.load_name),
        config.load_name,
        [dlt.resource([], name=resource.name) for resource in config.loaded_resources(windows)],
    )


def pipeline_reference(config: SourceConfig, pipelines_dir: Path) -> dlt.Pipeline:
    """The source's pipeline as `dlt_assets` takes it at definition time: its name, dataset and
    working directory under `pipelines_dir`, and nothing else. It is what dlt keeps of a
    pipeline when it pickles one (`Pipeline.__getstate__`); `dlt.pipeline()` would write
    `state.json` into the working directory a running load of the source uses, each time a
    process loads the code location (the webserver, the daemon, every run and step). Runs
    create the real pipeline (`DestinationResource.exclusive_pipeline`)."""
    reference = dlt.Pipeline.__new__(dlt.Pipeline)
    vars(reference).update(
        pipeline_name=config.load_name,
        default_schema_name=config.load_name,
        dataset_name=config.name,
        pipelines_dir=str(pipelines_dir),
        working_dir=str(pipelines_dir / config.load_name),
    )
    return reference
