"""Throughput of the pipeline against the sandbox, stage by stage, in one run.

    .venv/bin/python bench/throughput.py                    # 20,000 records, a nightly run's size
    .venv/bin/python bench/throughput.py --records 1000000 --json /tmp/1m.json

Starts `python -m crm_assets.sandbox --records N`, then runs each stage as a process of its own:
wall seconds, rows, rows/s, peak RSS, RSS and CPU of the stage's process tree, and the CPU the
rest of the machine used meanwhile (rerun when that is not ~0).

  0  the sandbox alone: `serve_page` + `orjson.dumps` in-process for every page the floor fetched
  1  the floor: a bare `requests.Session` fetching the pages the pipeline fetches
  2  plain dlt: `pipeline.run(build_source(...))` per source into a fresh DuckDB file
  3  `dagster asset materialize -m crm_assets.definitions` (the CLI), every source's nightly
     assets, into a fresh DAGSTER_HOME, DuckDB file and pipelines dir
  4  with --rerun, the same command again, nothing changed upstream
  5  `dagster definitions validate` against `python -c "import dagster, dlt"` (5i) and against
     the same validate of an empty `Definitions()` (5e, the CLI's own cost), median of 3 each

Stages 2-4 count only if DuckDB holds the rows the floor fetched, table by table. The code under
test is a copy of crm_assets/, configs/ and .dlt/ taken at the start. dlt's settings are env vars:
`NORMALIZE__WORKERS=2 .venv/bin/python bench/throughput.py` measures a value .dlt/config.toml
does not ship. Results: stdout, and JSON (default bench/results/throughput-<N>.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
from pathlib import Path

from harness.benchmark import Benchmark
from harness.python_stages import run_stage_process
from harness.report import report
from harness.snapshot import ROOT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000,
                        help="rows spread over every list resource of every source")
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument("--budget", type=float, default=600,
                        help="seconds for the whole run; a stage past it is killed")
    parser.add_argument("--rerun", action="store_true",
                        help="run stage 4 too (most resources have no modification filter "
                             "and are fetched again)")
    parser.add_argument("--keep", action="store_true", help="keep the tmp work dir")
    return parser


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--stage":  # stage 0, 1 or 2, started below
        run_stage_process(*sys.argv[2:])
        return
    # SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the sandbox and the stage.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args = build_parser().parse_args()
    bench = Benchmark(args, Path(__file__).resolve())
    results = bench.run()
    report(results)
    json_path = args.json or ROOT / "bench" / "results" / f"throughput-{args.records}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {json_path}")
    if args.keep:
        print(f"work dir kept: {bench.work}")
    else:
        shutil.rmtree(bench.work, ignore_errors=True)


if __name__ == "__main__":
    main()
