"""Stage 2, plain dlt without Dagster, in its own process: `dlt.pipeline(...).run(build_source(
...), loader_file_format=parquet)` per source into a fresh DuckDB file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.code_under_test import load_configs


def stage_dlt(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    """Plain dlt, the project's settings (DestinationResource: duckdb file, parquet)."""
    started_import = time.perf_counter()
    import dlt

    from crm_assets.source_builder import build_source

    configs = load_configs(ctx["configs_dir"])
    out["import_s"] = time.perf_counter() - started_import
    env = ctx["env"]
    duckdb_path = Path(ctx["duckdb_path"]).resolve()
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    steps: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for config in configs:
        if ctx["source"] and config.name != ctx["source"]:
            continue
        secrets = {field: env[var] for field, var in config.auth.env.items()}
        source = build_source(
            config, env[config.base_url_env], secrets, pii_hash_key=env.get("CRM_PII_HASH_KEY")
        )
        if ctx["resource"]:
            source = source.with_resources(ctx["resource"])
        pipeline = dlt.pipeline(
            pipeline_name=config.name,
            dataset_name=config.name,
            destination=dlt.destinations.duckdb(str(duckdb_path)),
            pipelines_dir=ctx["pipelines_dir"],
        )
        t0 = time.perf_counter()
        info = pipeline.run(source, loader_file_format=ctx.get("loader_file_format", "parquet"))
        info.raise_on_failed_jobs()
        timings = {"run": time.perf_counter() - t0}
        for step in pipeline.last_trace.steps:
            if step.finished_at and step.started_at:
                timings[step.step] = (step.finished_at - step.started_at).total_seconds()
        steps[config.name] = timings
    out["inner_s"] = time.perf_counter() - started
    out["steps"] = steps
