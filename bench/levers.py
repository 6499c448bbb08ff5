"""Plain-dlt levers, one at a time, on one resource (stage 2 of bench/throughput.py).

    .venv/bin/python bench/levers.py --records 200000 [--source success_analytics --resource tickets]
        [--repeat 3] [--only baseline,d_orjson] [--max-other-cpu 3] [--split-steps]

Variants (VARIANTS below): (a) loader_file_format parquet/jsonl/insert_values, (b)
NORMALIZE__WORKERS=2, (c) data writer buffer / file rotation, (d) orjson decoding of the
responses, (e) each page as a pyarrow Table (naive `Table.from_pylist`, and a typed conversion
that keeps every key, flattens objects and parses ISO timestamps), (f) DuckDB memory_limit.

Starts the sandbox serving only that resource, then runs every variant in its own process into a
fresh DuckDB file and pipelines dir: wall seconds of `pipeline.run`, rows/s, dlt's step timings
(extract / normalize / load from `pipeline.last_trace`), peak RSS, and what landed in DuckDB
(row count of the table, tables and column types, so a variant that changes the schema shows).
No project file is changed: variants edit the dict `rest_api_config` returns, wrap the session,
or set dlt config through env vars.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tp  # noqa: E402

# name -> (what it changes, env, loader_file_format, options)
VARIANTS: dict[str, tuple[str, dict[str, str], str, dict[str, bool]]] = {
    "baseline": ("project settings: parquet, dlt defaults", {}, "parquet", {}),
    "a_jsonl": ("(a) loader_file_format=jsonl", {}, "jsonl", {}),
    "a_insert_values": ("(a) loader_file_format=insert_values", {}, "insert_values", {}),
    "b_workers2": ("(b) NORMALIZE__WORKERS=2", {"NORMALIZE__WORKERS": "2"}, "parquet", {}),
    "c_buffer50k": ("(c) DATA_WRITER__BUFFER_MAX_ITEMS=50000",
                    {"DATA_WRITER__BUFFER_MAX_ITEMS": "50000"}, "parquet", {}),
    "c_rotate50k": ("(c) DATA_WRITER__FILE_MAX_ITEMS=50000",
                    {"DATA_WRITER__FILE_MAX_ITEMS": "50000"}, "parquet", {}),
    "c_rotate50k_workers2": ("(c)+(b) FILE_MAX_ITEMS=50000 + NORMALIZE__WORKERS=2",
                             {"DATA_WRITER__FILE_MAX_ITEMS": "50000",
                              "NORMALIZE__WORKERS": "2"}, "parquet", {}),
    "d_orjson": ("(d) orjson decode of responses (session.send wrapper)", {}, "parquet",
                 {"orjson": True}),
    "e_arrow_resource": ("(e) custom resource: RESTClient.paginate -> pa.Table.from_pylist",
                         {}, "parquet", {"arrow_resource": True}),
    "e_arrow_step": ("(e) rest_api resource + add_step(page -> pa.Table.from_pylist)", {},
                     "parquet", {"arrow_step": True}),
    "e_arrow_step_orjson": ("(e)+(d) arrow step + orjson decode", {}, "parquet",
                            {"arrow_step": True, "orjson": True}),
    "e_arrow_typed": ("(e') add_step after the incremental step (which filters dicts): page -> "
                      "typed Arrow (all keys, structs flattened to a__b, ISO strings -> "
                      "timestamp) + _dlt_load_id/_dlt_id",
                      {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                       "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true"},
                      "parquet", {"arrow_typed": True}),
    "e_arrow_typed_vinc": ("(e') typed Arrow step before the incremental step (vectorized "
                           "cursor; initial_value passed as a datetime) + _dlt_load_id/_dlt_id",
                           {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                            "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true"},
                           "parquet", {"arrow_typed": True, "arrow_before_incremental": True}),
    "f_duckdb_mem256": ("(f) DuckDB memory_limit=256MB (DESTINATION__DUCKDB__CREDENTIALS__"
                        "GLOBAL_CONFIG)",
                        {"DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG":
                         '{"memory_limit": "256MB"}'}, "parquet", {}),
    "f_arrow_typed_mem256": ("(e')+(f) typed Arrow step + DuckDB memory_limit=256MB",
                             {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                              "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
                              "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG":
                              '{"memory_limit": "256MB"}'},
                             "parquet", {"arrow_typed": True}),
    "e_arrow_typed_orjson": ("(e')+(d) typed Arrow step + orjson decode",
                             {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                              "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true"},
                             "parquet", {"arrow_typed": True, "orjson": True}),
}

ISO_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def orjson_session(session: Any) -> Any:
    """Every response the session returns decodes its body with orjson (`response.json()` is
    what dlt's RESTClient.extract_response and the paginators call)."""
    import orjson

    send = session.send

    def send_with_orjson(request: Any, **kwargs: Any) -> Any:
        response = send(request, **kwargs)
        response.json = lambda **_: orjson.loads(response.content)
        return response

    session.send = send_with_orjson
    return session


def pages_to_arrow(items: Any, meta: Any = None) -> Any:
    """A pipe step: one page (list of dicts) in, one pyarrow Table out."""
    import pyarrow as pa

    if isinstance(items, list) and items and isinstance(items[0], dict):
        return pa.Table.from_pylist(items)
    return items


def pages_to_typed_arrow(items: Any, meta: Any = None) -> Any:
    """A pipe step: one page (list of dicts) in, one pyarrow Table out, keeping what dlt's
    JSON path would give: every key of every row (from_pylist takes the first row's keys
    only), nested objects flattened to `parent__child` columns, ISO-8601 strings as timestamps.
    Nested lists stay one JSON column (no child table)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (isinstance(items, list) and items and isinstance(items[0], dict)):
        return items
    keys = list(dict.fromkeys(key for row in items for key in row))
    table = pa.Table.from_pydict({key: [row.get(key) for row in items] for key in keys})
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    table = table.rename_columns([name.replace(".", "__") for name in table.column_names])
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(index)
            sample = next((v for v in column.slice(0, 100).to_pylist() if v is not None), None)
            if sample is not None and ISO_TIMESTAMP.match(sample):
                try:
                    table = table.set_column(
                        index, field.name, pc.cast(column, pa.timestamp("us", tz="UTC")))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
    return table


def run_variant(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    started_import = time.perf_counter()
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from crm_assets.source_builder import http_session
    from crm_assets.source_builder import rest_api_config

    configs = tp.load_configs(ctx["configs_dir"])
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
            for page in client.paginate(endpoint["path"], params=endpoint.get("params"),
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


def describe_tables(duckdb_path: Path, source: str) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        rows = connection.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name not like '\\_dlt%' escape '\\' "
            "order by table_name, ordinal_position", [source]).fetchall()
        tables: dict[str, Any] = {}
        for table, column, data_type in rows:
            tables.setdefault(table, {"columns": {}})["columns"][column] = data_type
        for table, info in tables.items():
            columns = list(info["columns"])
            counts = connection.execute(
                f'select count(*), ' + ", ".join(f'count("{c}")' for c in columns)
                + f' from "{source}"."{table}"').fetchone()
            info["rows"] = counts[0]
            info["non_null"] = dict(zip(columns, counts[1:]))
    return tables


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--variant-run":
        ctx = json.loads(Path(sys.argv[2]).read_text())
        out: dict[str, Any] = {}
        run_variant(ctx, out)
        Path(sys.argv[3]).write_text(json.dumps(out))
        return
    tp.exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--source", default="success_analytics")
    parser.add_argument("--resource", default="tickets")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", help="comma-separated variant names")
    parser.add_argument("--sandbox-nodelay", action="store_true")
    parser.add_argument("--split-steps", action="store_true",
                        help="run extract, normalize, load one by one and record the peak RSS "
                             "after each (ru_maxrss of the variant process)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--budget", type=float, default=600)
    parser.add_argument(
        "--max-other-cpu", type=float, default=None,
        help="a run during which processes outside the benchmark used more CPU seconds than "
             "this is kept but marked contaminated and run again (at most 3 extra times); the "
             "table uses clean runs when there are any")
    args = parser.parse_args()
    started_run = time.perf_counter()
    names = args.only.split(",") if args.only else list(VARIANTS)
    work = Path(tempfile.mkdtemp(prefix="crm-levers-"))
    code = tp.snapshot_code(work / "code")
    configs = tp.load_configs()
    config = next(c for c in configs if c.name == args.source)
    if config.resource(args.resource).parent or config.resource(args.resource).for_each:
        parser.error("levers.py takes a top-level list resource")
    path = config.resource(args.resource).endpoint.path
    collection = next(r.name for r in config.resources if r.endpoint.path == path)
    sandbox = tp.SandboxProcess(
        ["--rows", f"{args.source}.{collection}={args.records}", "--rows-per-resource", "0"],
        work / "sandbox.log", nodelay=args.sandbox_nodelay)
    print(f"{sandbox.banner}; code {code['sha256'][:12]}; "
          f"TCP_NODELAY={args.sandbox_nodelay}", flush=True)
    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "code": code,
                               "variants": {}}
    try:
        env_base = {**os.environ, **sandbox.env}
        # The floor once, for reference (same plan as throughput.py stage 1).
        ctx_floor = {"plan": tp.floor_plan(configs, sandbox.env, args.source, args.resource),
                     "urls_path": str(work / "urls.txt")}
        (work / "floor-ctx.json").write_text(json.dumps(ctx_floor))
        floor = tp.run_measured([sys.executable, str(Path(tp.__file__)), "--stage", "floor",
                                 str(work / "floor-ctx.json"), str(work / "floor.json")],
                                env_base, work / "floor.log", timeout=120)
        floor.update(json.loads((work / "floor.json").read_text()))
        results["floor"] = floor
        expected = sum(floor["rows"].values())
        print(f"floor: {floor['inner_s']:.2f} s, {expected} rows, {floor['requests']} requests",
              flush=True)
        for name in names:
            description, env_extra, file_format, options = VARIANTS[name]
            runs = []
            extra = 0
            attempt = -1
            while len([r for r in runs if not r.get("contaminated")]) < args.repeat:
                attempt += 1
                if attempt >= args.repeat + extra:
                    break
                if time.perf_counter() - started_run > args.budget:
                    print(f"budget of {args.budget:.0f} s spent; stopping", flush=True)
                    break
                run_dir = work / f"{name}-{attempt}"
                run_dir.mkdir()
                ctx = {"configs_dir": str(tp.CONFIGS_DIR), "env": sandbox.env,
                       "source": args.source, "resource": args.resource, "options": options,
                       "duckdb_path": str(run_dir / "crm.duckdb"),
                       "pipelines_dir": str(run_dir / "pipelines"),
                       "loader_file_format": file_format, "split_steps": args.split_steps}
                (run_dir / "ctx.json").write_text(json.dumps(ctx))
                measured = tp.run_measured(
                    [sys.executable, str(Path(__file__).resolve()), "--variant-run",
                     str(run_dir / "ctx.json"), str(run_dir / "out.json")],
                    {**env_base, **env_extra}, run_dir / "log.txt", timeout=300)
                if measured["returncode"] != 0:
                    print(f"{name}: failed\n{tp.tail(measured['log'])}", flush=True)
                    runs.append(measured)
                    break
                measured.update(json.loads((run_dir / "out.json").read_text()))
                measured["tables"] = describe_tables(run_dir / "crm.duckdb", args.source)
                measured["rows"] = measured["tables"].get(args.resource, {}).get("rows")
                measured["valid"] = measured["rows"] == expected
                if args.max_other_cpu is not None and measured["other_cpu_s"] > args.max_other_cpu:
                    measured["contaminated"] = True
                    if extra < 3:
                        extra += 1
                runs.append(measured)
                print(f"{name} #{attempt + 1}{' (contaminated)' if measured.get('contaminated') else ''}"
                      f": run {measured['run_s']:.2f} s "
                      f"(" + ", ".join(f"{k} {v:.2f}" for k, v in measured["steps"].items())
                      + f"), wall {measured['wall_s']:.2f} s, "
                      + (f"peak RSS after {measured['peak_rss_mb_after']} MB, "
                         if "peak_rss_mb_after" in measured else "")
                      + f"peak RSS "
                      f"{measured['maxrss_mb']:.0f} MB, other CPU {measured['other_cpu_s']:.1f} s, "
                      f"rows {measured['rows']} "
                      f"{'OK' if measured['valid'] else 'MISMATCH'}", flush=True)
                shutil.rmtree(run_dir / "pipelines", ignore_errors=True)
            results["variants"][name] = {"description": description, "env": env_extra,
                                         "format": file_format, "options": options,
                                         "runs": runs}
    finally:
        sandbox.stop()
    report(results, expected)
    json_path = args.json or tp.ROOT / "bench" / "results" / (
        f"levers-{args.records}-{args.source}.{args.resource}"
        f"{'-nodelay' if args.sandbox_nodelay else ''}.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {json_path}")
    shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, Any], expected: int) -> None:
    variants = results["variants"]
    ok = {}
    for name, variant in variants.items():
        measured = [r for r in variant["runs"] if r.get("valid") is not None]
        clean = [r for r in measured if not r.get("contaminated")]
        ok[name] = clean or measured
    base_runs = ok.get("baseline") or []
    base = statistics.median(r["run_s"] for r in base_runs) if base_runs else None
    floor = results["floor"]["inner_s"]
    print("\n" + "=" * 140)
    print(f"levers, {expected} rows; floor (bare requests) {floor:.2f} s = "
          f"{expected / floor:.0f} rows/s; times are medians of pipeline.run over the runs")
    print(f"{'variant':22} {'before s':>8} {'after s':>8} {'rows/s':>8} {'x base':>6} "
          f"{'/floor':>6} {'extract':>7} {'normal.':>7} {'load':>6} {'RSS MB':>6} "
          f"{'otherCPU':>8}  rows   "
          f"tables (columns)")
    for name, variant in variants.items():
        runs = ok[name]
        if not runs:
            print(f"{name:22} failed")
            continue
        run_s = statistics.median(r["run_s"] for r in runs)

        def step(key: str) -> float:
            return statistics.median(r["steps"].get(key, float("nan")) for r in runs)

        tables = runs[0]["tables"]
        shape = "; ".join(f"{t}({len(v['columns'])})" for t, v in tables.items())
        print(f"{name:22} {fmt(base, '8.2f')} {run_s:8.2f} {expected / run_s:8.0f} "
              f"{(base / run_s) if base else float('nan'):6.2f} {run_s / floor:6.1f} "
              f"{step('extract'):7.2f} {step('normalize'):7.2f} {step('load'):6.2f} "
              f"{max(r['maxrss_mb'] for r in runs):6.0f} "
              f"{max(r['other_cpu_s'] for r in runs):8.1f}  "
              f"{'OK' if all(r['valid'] for r in runs) else 'BAD':5}  {shape}")
        variant["median_run_s"] = run_s
    print("x base = baseline seconds / variant seconds (>1 is faster); /floor = variant / floor")
    base_tables = (ok.get("baseline") or [{}])[0].get("tables", {})
    for name, runs in ok.items():
        if not runs or "tables" not in runs[0]:
            continue
        for table, info in runs[0]["tables"].items():
            base = base_tables.get(table, {})
            if name != "baseline" and info["columns"] == base.get("columns") \
                    and info["non_null"] == base.get("non_null"):
                continue
            print(f"  {name}: {table} rows={info['rows']} columns (type, non-null): "
                  + ", ".join(f"{c} {t} {info['non_null'][c]}" for c, t in info["columns"].items()))
    print("  (variants not listed: same tables, column types and non-null counts as baseline)")


def fmt(value: Any, spec: str) -> str:
    return tp.fmt(value, spec)


if __name__ == "__main__":
    main()
