"""`python -m crm_assets.demo`: every source, against the sandbox, into DuckDB, through the CLI.

Starts the sandbox on 127.0.0.1, runs `dagster asset materialize --select '*'` with the env
pointing every source at it, then prints the row count of every table it loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from crm_assets.config import load_source_configs
from crm_assets.definitions import CONFIGS_DIR
from crm_assets.resources import DEFAULT_DUCKDB_PATH
from crm_assets.sandbox.api import Volume
from crm_assets.sandbox.server import Sandbox


def dataset_row_counts(duckdb_path: Path, source: str) -> dict[str, int]:
    """Rows per table of a source's dataset: no `_dlt*` tables, no nested `__` child tables."""
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_name not like '\\_dlt%' escape '\\' order by table_name",
            [source],
        ).fetchall()
        return {
            table: connection.execute(f'select count(*) from "{source}"."{table}"').fetchone()[0]
            for (table,) in tables
            if "__" not in table
        }


def print_row_counts(duckdb_path: Path, sources: list[str]) -> None:
    for source in sources:
        counts = dataset_row_counts(duckdb_path, source)
        print(f"{source}: {len(counts)} tables, {sum(counts.values())} rows")
        for table, rows in counts.items():
            print(f"  {table:32} {rows:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000, help="rows over all resources")
    args = parser.parse_args()
    configs = load_source_configs(CONFIGS_DIR)
    duckdb_path = Path(os.environ.get("CRM_DUCKDB_PATH", DEFAULT_DUCKDB_PATH))
    with Sandbox(configs, volume=Volume.spread(args.records, configs)) as sandbox:
        print(f"sandbox serving {len(configs)} APIs at {sandbox.url}", flush=True)
        env = {**os.environ, **sandbox.env(), "CRM_DUCKDB_PATH": str(duckdb_path)}
        started = time.perf_counter()
        command = [
            sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "crm_assets.definitions", "--select", "*",
        ]
        finished = subprocess.run(command, env=env)
        elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"materialization failed (exit {finished.returncode}); see the log above")
    print(f"\nmaterialized {sum(len(c.resources) for c in configs)} assets in {elapsed:.1f} s "
          f"into {duckdb_path}")
    print_row_counts(duckdb_path, [config.name for config in configs])


if __name__ == "__main__":
    main()
