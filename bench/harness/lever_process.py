"""One lever variant in a process of its own (`levers.py --variant-run CTX OUT`): the project's
source with the variant's changes, one `pipeline.run` into a fresh DuckDB file, timed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.code_under_test import load_configs
from harness.lever_variants import orjson_session, pages_to_arrow, pages_to_typed_arrow


def run_variant(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    started_import = time.perf_counter()
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from crm_assets.source_builder import http_session, rest_api_config

    configs = load_configs(ctx["configs_dir"])
    out["import_s"] = time.perf_counter() - started_import
    options = ctx["options"]
    env = ctx["env"]
    config = next(c for c in configs if c.name == ctx["source"])
    secrets = {field: env[var] for field, var in config.auth.env.items()}
    session = http_session(config, env[config.base_url_env])
    if options.get("orjson"):
        session = orjson_session(session)
    rest_config = rest_api_config(config, env[config.base_url_env], secrets, session)
    if options.get("arrow_before_incremental"):
        from datetime import datetime

        for entry in rest_config["resources"]:
            incremental = entry.get("endpoint", {}).get("incremental") \
                if isinstance(entry, dict) else None
            if incremental and isinstance(incremental.get("initial_value"), str):
                incremental["initial_value"] = datetime.fromisoformat(
                    incremental["initial_value"].replace("Z", "+00:00"))
    if options.get("arrow_resource"):
        import pyarrow as pa
        from dlt.sources.helpers.rest_client import RESTClient
        from dlt.sources.rest_api.config_setup import create_auth, create_paginator

        spec = config.resource(ctx["resource"])
        endpoint = next(r for r in rest_config["resources"]
                        if isinstance(r, dict) and r["name"] == ctx["resource"])["endpoint"]
        paginator_config = endpoint.get("paginator") or \
            rest_config["resource_defaults"]["endpoint"]["paginator"]
        defaults = rest_config["resource_defaults"]

        @dlt.resource(name=spec.name, primary_key=spec.primary_key or defaults.get("primary_key"),
                      write_disposition=spec.write_disposition or defaults["write_disposition"])
        def arrow_pages() -> Any:
            client = RESTClient(base_url=rest_config["client"]["base_url"],
                                auth=create_auth(rest_config["client"]["auth"]),
                                session=rest_config["client"]["session"])
            # dlt merges the defaults' params key by key under the resource's own.
            params = {**defaults.get("endpoint", {}).get("params", {}), **endpoint.get("params", {})}
            for page in client.paginate(endpoint["path"], params=params,
                                        paginator=create_paginator(paginator_config),
                                        data_selector=endpoint.get("data_selector")):
                if page:  # an empty page would become a table without columns
                    yield pa.Table.from_pylist(page)

        source = arrow_pages()
    else:
        source = rest_api_source(rest_config, name=config.name).with_resources(ctx["resource"])
        if options.get("arrow_step"):
            source.resources[ctx["resource"]].add_step(pages_to_arrow)
        if options.get("arrow_typed"):
            resource = source.resources[ctx["resource"]]
            if options.get("arrow_before_incremental"):
                resource.add_step(pages_to_typed_arrow)  # dlt keeps Incremental last
            else:
                resource.add_step(pages_to_typed_arrow, insert_at=len(resource._pipe.steps))
    pipeline = dlt.pipeline(
        pipeline_name=config.name, dataset_name=config.name,
        destination=dlt.destinations.duckdb(str(Path(ctx["duckdb_path"]).resolve())),
        pipelines_dir=ctx["pipelines_dir"],
    )
    t0 = time.perf_counter()
    if ctx.get("split_steps"):
        # extract, normalize and load one by one, to see which step sets the peak RSS
        import resource as rlimit

        def peak_mb() -> float:
            return rlimit.getrusage(rlimit.RUSAGE_SELF).ru_maxrss / 1024

        out["peak_rss_mb_after"] = {"start": peak_mb()}
        pipeline.extract(source, loader_file_format=ctx["loader_file_format"])
        out["peak_rss_mb_after"]["extract"] = peak_mb()
        pipeline.normalize()
        out["peak_rss_mb_after"]["normalize"] = peak_mb()
        info = pipeline.load()
        out["peak_rss_mb_after"]["load"] = peak_mb()
    else:
        info = pipeline.run(source, loader_file_format=ctx["loader_file_format"])
    info.raise_on_failed_jobs()
    out["run_s"] = time.perf_counter() - t0
    out["steps"] = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps if step.finished_at and step.started_at
    }
    normalize_info = pipeline.last_trace.last_normalize_info
    out["normalized_rows"] = dict(normalize_info.row_counts) if normalize_info else {}
    out["load_files"] = {
        job.job_file_info.file_format: 0 for package in info.load_packages
        for job in package.jobs.get("completed_jobs", [])
    }
    for package in info.load_packages:
        for job in package.jobs.get("completed_jobs", []):
            out["load_files"][job.job_file_info.file_format] += 1
