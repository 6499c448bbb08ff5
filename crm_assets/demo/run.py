"""`python -m crm_assets.demo`: every source, against the sandbox, into DuckDB, through the CLI.

Starts the sandbox on 127.0.0.1 and runs `dagster asset materialize --select
'tag:crm/load=nightly'` (every source's tables; not the backfill windows) with the env
pointing every source at it. The CLI's full event log goes to a file; the terminal shows a line
per source as its step starts and ends (rows, requests, seconds) and as its checks finish, read
from the instance's event log, then the row count of every table loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg

from crm_assets.config import CONFIGS_DIR, load_source_configs
from crm_assets.defs import names
from crm_assets.load.row_counts import count_dataset_rows, open_dataset
from crm_assets.resources import DEFAULT_DUCKDB_PATH
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.volume import Volume

PROGRESS_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


def dataset_row_counts(duckdb_path: Path, source: str) -> dict[str, int]:
    """Every row per table of a source's dataset: no `_dlt*` tables, no nested `__` child
    tables."""
    with open_dataset(duckdb_path, source) as client:
        return {table: count.rows for table, count in count_dataset_rows(client).items()}


def print_row_counts(duckdb_path: Path, sources: list[str]) -> None:
    for source in sources:
        counts = dataset_row_counts(duckdb_path, source)
        print(f"{source}: {len(counts)} tables, {sum(counts.values())} rows")
        for table, rows in counts.items():
            print(f"  {table:32} {rows:>9}")


class RunProgress:
    """Prints a line per step (a source's load, then its checks) as it starts, ends or fails."""

    def __init__(
        self, instance: dg.DagsterInstance, started_after: float, steps: names.StepNames
    ) -> None:
        self.instance = instance
        self.steps = steps
        self.started_after = started_after
        self.run_id: str | None = None
        self.seen = 0
        self.rows: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.checks: dict[str, Counter[str]] = {}

    def poll(self) -> None:
        if self.run_id is None:
            runs = self.instance.get_run_records(limit=1)
            if not runs or runs[0].create_timestamp.timestamp() < self.started_after:
                return
            self.run_id = runs[0].dagster_run.run_id
        entries = self.instance.all_logs(self.run_id, of_type=PROGRESS_EVENTS)
        for entry in entries[self.seen :]:
            self._show(entry.dagster_event, entry.timestamp)
        self.seen = len(entries)

    def _show(self, event: dg.DagsterEvent, timestamp: float) -> None:
        step = event.step_key or ""
        elapsed = f"{timestamp - self.started_after:6.1f} s"
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            metadata = event.step_materialization_data.materialization.metadata
            self.rows[step] += metadata["rows_loaded"].value
            self.requests[step] = metadata["source_requests"].value  # the source's, once
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            passed = event.event_specific_data.passed
            self.checks.setdefault(step, Counter())["passed" if passed else "failed"] += 1
        elif event.event_type == dg.DagsterEventType.STEP_START:
            print(f"{elapsed}  {step:18} started", flush=True)
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            print(f"{elapsed}  {step:18} FAILED (see the log)", flush=True)
        elif self.steps.kind(step) == "checks":
            checks = self.checks.get(step, Counter())
            print(f"{elapsed}  {step:18} {checks['passed']} checks passed, "
                  f"{checks['failed']} failed", flush=True)
        else:
            print(f"{elapsed}  {step:18} {self.rows[step]:>9,} rows loaded, "
                  f"{self.requests[step]:,} requests", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m crm_assets.demo", description=__doc__)
    parser.add_argument("--records", type=int, default=20_000, help="rows over all resources")
    args = parser.parse_args()
    configs = load_source_configs(CONFIGS_DIR)
    duckdb_path = Path(os.environ.get("CRM_DUCKDB_PATH", DEFAULT_DUCKDB_PATH))
    log_path = duckdb_path.parent / "demo-run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The run and this progress read one instance (`make demo` sets DAGSTER_HOME).
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    with Sandbox(configs, volume=Volume.spread(args.records, configs)) as sandbox, \
            dg.DagsterInstance.get() as instance, log_path.open("w") as log:
        print(f"sandbox serving {len(configs)} APIs at {sandbox.url}; the run's full log: "
              f"{log_path}", flush=True)
        env = {**os.environ, **sandbox.env(), "CRM_DUCKDB_PATH": str(duckdb_path)}
        started = time.time()
        command = [
            sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "crm_assets.definitions", "--select", names.NIGHTLY_SELECTION,
        ]
        run = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        progress = RunProgress(instance, started, names.StepNames(
            (load.name, load.account_name) for c in configs for load in c.account_loads()
        ))
        while run.poll() is None:
            progress.poll()
            time.sleep(0.5)
        progress.poll()
        elapsed = time.time() - started
    if run.returncode != 0:
        sys.exit(f"materialization failed (exit {run.returncode}); see {log_path}")
    print(f"\nmaterialized {sum(len(c.resources) for c in configs)} assets in {elapsed:.1f} s "
          f"into {duckdb_path}")
    print_row_counts(duckdb_path, [config.name for config in configs])
