"""Stages 0, 1 and 2, each a Python process of its own (`throughput.py --stage NAME CTX OUT`):
launched and measured here, their bodies in floor_fetch, sandbox_serve and plain_dlt."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness.benchmark_run import BenchmarkRun
from harness.floor_fetch import stage_floor
from harness.floor_plan import floor_plan
from harness.measure import print_failure
from harness.plain_dlt import stage_dlt
from harness.row_check import duckdb_counts, pages_served, verify
from harness.sandbox_serve import stage_serve

STAGES = {"floor": stage_floor, "serve": stage_serve, "dlt": stage_dlt}


def run_stage_process(name: str, ctx_path: str, out_path: str) -> None:
    """The stage process's side: read the context, run the stage, write what it measured."""
    ctx = json.loads(Path(ctx_path).read_text())
    out: dict[str, Any] = {}
    STAGES[name](ctx, out)
    Path(out_path).write_text(json.dumps(out))


def write_stage_context(run: BenchmarkRun, configs: list[Any]) -> dict[str, Any]:
    args, work = run.args, run.work
    ctx = {
        "plan": floor_plan(configs, run.sandbox.env, args.source, args.resource),
        "env": run.sandbox.env,
        "source": args.source,
        "resource": args.resource,
        "sandbox_args": run.workload.sandbox_args,
        "urls_path": str(work / "floor-urls.txt"),
        "duckdb_path": str(work / "dlt" / "crm.duckdb"),
        "pipelines_dir": str(work / "dlt" / "pipelines"),
        "loader_file_format": "parquet",
        "configs_dir": str(run.code.configs_dir),
    }
    (work / "ctx.json").write_text(json.dumps(ctx))
    return ctx


def python_stage(run: BenchmarkRun, name: str) -> dict[str, Any]:
    work = run.work
    out_path = work / f"{name}.json"
    measured = run.measure(
        [sys.executable, str(run.script), "--stage", name, str(work / "ctx.json"),
         str(out_path)],
        run.env, work / f"{name}.log", timeout=max(run.remaining(), 1),
    )
    if measured["returncode"] != 0:
        print_failure(name, measured)
        return measured
    return {**measured, **json.loads(out_path.read_text())}


def run_floor(run: BenchmarkRun) -> dict[str, Any]:
    """Stage 1, run first: stage 0 replays the URLs it fetched, the others compare with it."""
    sandbox = run.sandbox
    stats0, cpu0 = sandbox.stats(), sandbox.cpu_s()
    floor = python_stage(run, "floor")
    cpu1, stats1 = sandbox.cpu_s(), sandbox.stats()
    if floor["returncode"] != 0:
        raise SystemExit("the floor failed; nothing else is comparable")
    floor["rows_total"] = sum(floor["rows"].values())
    floor["sandbox_cpu_s"] = cpu1 - cpu0
    floor["pages_served"] = pages_served(stats0, stats1)
    run.stages["1"] = floor
    print(f"stage 1 floor: {floor['inner_s']:.2f} s fetching {floor['requests']} pages, "
          f"{floor['rows_total']} rows, {floor['bytes'] / 2**20:.1f} MiB; sandbox CPU "
          f"{floor['sandbox_cpu_s']:.2f} s", flush=True)
    return floor


def run_serve(run: BenchmarkRun) -> None:
    """Stage 0: the sandbox's own generation cost for the floor's pages."""
    serve = python_stage(run, "serve")
    serve["sandbox_hwm_mb_after_floor"] = run.sandbox.hwm_mb()
    run.stages["0"] = serve
    if serve["returncode"] == 0:
        print(f"stage 0 sandbox: serve_page {serve['serve_page_s']:.2f} s + orjson.dumps "
              f"{serve['dumps_s']:.2f} s for {serve['pages']} pages", flush=True)


def run_plain_dlt(run: BenchmarkRun, ctx: dict[str, Any], floor: dict[str, Any]) -> None:
    """Stage 2, checked against the floor's rows and pages."""
    before = run.sandbox.stats()
    dlt_stage = python_stage(run, "dlt")
    dlt_stage["pages_served"] = pages_served(before, run.sandbox.stats())
    if dlt_stage["returncode"] == 0:
        dlt_stage.update(verify("2", duckdb_counts(Path(ctx["duckdb_path"]), run.workload.sources),
                                floor["rows"]))
        print(f"    pages served during stage 2: {sum(dlt_stage['pages_served'].values())}"
              f" (floor {sum(floor['pages_served'].values())})")
        for source, timings in dlt_stage["steps"].items():
            print(f"    dlt steps {source}: " + ", ".join(
                f"{step} {seconds:.2f} s" for step, seconds in timings.items()))
    run.stages["2"] = dlt_stage
