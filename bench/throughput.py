"""Throughput of the pipeline against the sandbox, stage by stage, in one run.

    .venv/bin/python bench/throughput.py                    # 20,000 then 1,000,000 records
    .venv/bin/python bench/throughput.py --records 200000
    .venv/bin/python bench/throughput.py --records 200000 --source success_analytics --resource tickets

Starts `python -m crm_assets.sandbox` as a subprocess (its own GIL), then runs every stage as its
own process and measures wall seconds, rows, rows/s and peak RSS (ru_maxrss from wait4: the
largest single process of the stage's process tree; plus the sampled sum over the tree):

  0  the sandbox alone: in-process cost of `serve_page` + `orjson.dumps` for every page the
     floor fetched (the HTTP path of the sandbox is measured by stage 1), and the sandbox
     server's own CPU seconds while stage 1 ran.
  1  the floor: a bare `requests.Session` (keep-alive) fetching every page the pipeline fetches
     (same paths, params, page sizes, auth, paginators, children and `for_each` paths), decoding
     JSON with `response.json()` and selecting the rows with the config's data selector.
  2  plain dlt, no Dagster: `dlt.pipeline(...).run(build_source(...), loader_file_format=parquet)`
     per source into a fresh DuckDB file, as `DestinationResource` sets it up.
  3  `dagster asset materialize -m crm_assets.definitions --select <sel>` (the CLI), fresh
     DAGSTER_HOME, fresh DuckDB file and pipelines dir.
  4  the same command again, nothing changed upstream (same DuckDB file). Single-resource mode
     (pick an incremental resource for the 4/3 target); all-sources mode with --rerun.
  5  code-location load: `dagster definitions validate -m crm_assets.definitions` vs
     `python -c "import dagster, dlt"`, median of 3 each; and (5e) the same validate command
     on an empty `Definitions()`, the CLI's own cost (its instance and storage imports).

Stages 2, 3 and 4 are valid only if the rows in DuckDB (tables of the selected resources, no
`_dlt*` and no nested `__` tables) equal the rows the floor fetched, table by table; the pages
the sandbox served during each stage are compared with the floor's too (a rerun of an
incremental resource fetches fewer pages: the lag window only).
Results go to stdout and to JSON (default bench/results/throughput-<N>[-<source>.<resource>].json).

The code under test is a copy of crm_assets/, configs/ and .dlt/config.toml taken at the start
(its sha256 is printed; every stage runs with the copy as working directory), so edits made
during a run do not mix versions; `--patch FILE` applies a proposed change (a -p1 unified
diff) to that copy only. The machine is shared: the `otherCPU s`
column is the CPU time processes outside the benchmark used during each stage; rerun when it
is not ~0. `--budget` (default 600 s) kills a stage that would run past it.

Single-resource mode: `--source S --resource R` starts the sandbox with `--rows S.C=N
--rows-per-resource 0` (C: the collection the resource reads) and selects `S/R`.

Personal data: `--pii none` strips every PII policy from the copied configs (no hashing at
all), `--pii hash-all` makes every source hash every e-mail and phone field the sandbox serves
(`email`, `phone`, `emails[*].value`, `owner.email`), `--pii shipped` (default) runs the configs
as they are. 3/1 with `none` against `hash-all` is the cost of hashing.

A real API's latency and rate limits: `--latency-ms 100 [--jitter-ms 20] [--rate 4/1]
[--rate party_crm=4000/h]` start a second sandbox that answers that way. Stage 3 runs against
it and stage 3i (the same CLI, fresh DuckDB) against the instant one, the reference; stages 2
and 5 are skipped (they do not depend on the network). After stage 3 it prints, per source
from the slow sandbox's own counters: requests, 429s, peak and mean requests in flight, the
rate achieved against the budget, and the run's wall against the budget floor (max over
sources of the windows its requests need) and against the latency target (3i + 25% of requests x latency).
Stage 3's client budget (`<SOURCE>_RATE_LIMIT`) is the API's limit, or none where the API has
none (every stage against the instant sandbox runs without one).
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.benchmark import run_benchmark
from harness.measure import exit_on_sigterm
from harness.python_stages import run_stage_process
from harness.throughput_cli import build_parser, parse_args, volumes_given
from harness.volumes import run_volumes


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--stage":
        # One of stages 0-2 in a process of its own, started by the benchmark below.
        run_stage_process(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    exit_on_sigterm()
    script = Path(__file__).resolve()
    volumes, rest = volumes_given()
    if len(volumes) > 1:
        run_volumes(script, volumes, rest)
        return
    parser = build_parser(__doc__)
    run_benchmark(parse_args(parser), script, parser.error)


if __name__ == "__main__":
    main()
