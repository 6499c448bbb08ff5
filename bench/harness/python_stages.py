"""Stages 0, 1 and 2 on the stage process's side (`throughput.py --stage NAME CTX OUT`): read the
context, run the stage, write what it measured. Stage 1, the floor, has a module of its own."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from harness.floor import stage_floor


def stage_serve(ctx: dict[str, Any], configs: list[Any], out: dict[str, Any]) -> None:
    """Stage 0, the sandbox alone: `serve_page` + `orjson.dumps` in-process for every URL the
    floor fetched, in its order (the HTTP path is measured by stage 1)."""
    from urllib.parse import parse_qsl, urlparse

    import orjson

    from crm_assets.sandbox.api import serve_page
    from crm_assets.sandbox.routes import build_routes
    from crm_assets.sandbox.volume import Volume

    volume = Volume.spread(ctx["records"], configs)  # as the sandbox's --records built it
    routes = build_routes(configs)
    requests = []
    for url in filter(None, Path(ctx["urls_path"]).read_text().split("\n")):
        parsed = urlparse(url)
        source, _, path = parsed.path.lstrip("/").partition("/")
        route, match = next((route, match) for route in routes[source]
                            if (match := route.pattern.match("/" + path)))
        requests.append((route, match, dict(parse_qsl(parsed.query)),
                         f"http://{parsed.netloc}{parsed.path}"))
    rows = body_bytes = 0
    generate = dump = 0.0
    for route, match, query, self_url in requests:
        t0 = time.perf_counter()
        page = serve_page(route, volume, query, match, self_url)
        t1 = time.perf_counter()
        body_bytes += len(orjson.dumps(page.body))
        t2 = time.perf_counter()
        generate += t1 - t0
        dump += t2 - t1
        rows += page.rows
    out.update(inner_s=generate + dump, serve_page_s=generate, dumps_s=dump, rows_served=rows,
               pages=len(requests), bytes=body_bytes)


def stage_dlt(ctx: dict[str, Any], configs: list[Any], out: dict[str, Any]) -> None:
    """Stage 2, plain dlt without Dagster: `pipeline.run(build_source(...))` per source into a
    fresh DuckDB file, with the project's loader file format for DuckDB (parquet)."""
    import dlt

    from harness.product import build_source

    out["import_s"] = time.perf_counter() - ctx["started"]
    steps: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for config in configs:
        secrets = {field: os.environ[var] for field, var in config.auth.env.items()}
        source = build_source(config, os.environ[config.base_url_env], secrets,
                              pii_hash_key=os.environ.get("CRM_PII_HASH_KEY"))
        pipeline = dlt.pipeline(
            pipeline_name=config.name, dataset_name=config.name,
            destination=dlt.destinations.duckdb(str(Path(ctx["duckdb_path"]).resolve())),
            pipelines_dir=ctx["pipelines_dir"])
        t0 = time.perf_counter()
        pipeline.run(source, loader_file_format="parquet").raise_on_failed_jobs()
        steps[config.name] = {"run": time.perf_counter() - t0, **{
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in pipeline.last_trace.steps if step.finished_at and step.started_at}}
    out.update(inner_s=time.perf_counter() - started, steps=steps)


STAGES = {"serve": stage_serve, "floor": stage_floor, "dlt": stage_dlt}


def run_stage_process(name: str, ctx_path: str, out_path: str) -> None:
    started = time.perf_counter()
    from crm_assets.config import load_source_configs

    ctx = {**json.loads(Path(ctx_path).read_text()), "started": started}
    configs = [config for config in load_source_configs(Path(ctx["configs_dir"]))
               if config.name in ctx["sources"]]
    out: dict[str, Any] = {}
    STAGES[name](ctx, configs, out)
    Path(out_path).write_text(json.dumps(out))
