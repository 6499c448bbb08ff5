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
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.code_under_test import ROOT, snapshot_code
from harness.floor_plan import floor_plan
from harness.lever_process import run_variant
from harness.lever_report import report
from harness.lever_runs import LeverRuns
from harness.lever_variants import VARIANTS
from harness.measure import exit_on_sigterm, run_measured
from harness.sandbox_process import SandboxProcess

THROUGHPUT = Path(__file__).resolve().parent / "throughput.py"  # its `--stage floor`


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--variant-run":
        ctx = json.loads(Path(sys.argv[2]).read_text())
        out: dict[str, Any] = {}
        run_variant(ctx, out)
        Path(sys.argv[3]).write_text(json.dumps(out))
        return
    exit_on_sigterm()
    parser = build_parser()
    args = parser.parse_args()
    started_run = time.perf_counter()
    names = args.only.split(",") if args.only else list(VARIANTS)
    work = Path(tempfile.mkdtemp(prefix="crm-levers-"))
    code = snapshot_code(ROOT, work / "code")
    configs = code.load_configs()
    config = next(c for c in configs if c.name == args.source)
    if config.resource(args.resource).parent or config.resource(args.resource).for_each:
        parser.error("levers.py takes a top-level list resource")
    path = config.resource(args.resource).endpoint.path
    collection = next(r.name for r in config.resources if r.endpoint.path == path)
    sandbox = SandboxProcess(
        ["--rows", f"{args.source}.{collection}={args.records}", "--rows-per-resource", "0"],
        work / "sandbox.log", code.dir, nodelay=args.sandbox_nodelay)
    print(f"{sandbox.banner}; code {code.snapshot['sha256'][:12]}; "
          f"TCP_NODELAY={args.sandbox_nodelay}", flush=True)
    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)},
                               "code": code.snapshot, "variants": {}}
    try:
        env_base = {**os.environ, **sandbox.env}
        # The floor once, for reference (same plan as throughput.py stage 1).
        ctx_floor = {"plan": floor_plan(configs, sandbox.env, args.source, args.resource),
                     "urls_path": str(work / "urls.txt")}
        (work / "floor-ctx.json").write_text(json.dumps(ctx_floor))
        floor = run_measured([sys.executable, str(THROUGHPUT), "--stage", "floor",
                              str(work / "floor-ctx.json"), str(work / "floor.json")],
                             env_base, work / "floor.log", timeout=120, cwd=code.dir,
                             sandbox_pids=[sandbox.pid])
        floor.update(json.loads((work / "floor.json").read_text()))
        results["floor"] = floor
        expected = sum(floor["rows"].values())
        print(f"floor: {floor['inner_s']:.2f} s, {expected} rows, {floor['requests']} requests",
              flush=True)
        variant_runs = LeverRuns(args, code, sandbox, env_base, work, Path(__file__).resolve(),
                                 started_run, expected)
        for name in names:
            description, env_extra, file_format, options = VARIANTS[name]
            runs = variant_runs.measure(name)
            results["variants"][name] = {"description": description, "env": env_extra,
                                         "format": file_format, "options": options,
                                         "runs": runs}
    finally:
        sandbox.stop()
    report(results, expected)
    json_path = args.json or ROOT / "bench" / "results" / (
        f"levers-{args.records}-{args.source}.{args.resource}"
        f"{'-nodelay' if args.sandbox_nodelay else ''}.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {json_path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
