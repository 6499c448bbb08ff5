"""Several volumes in one command: one full benchmark per volume, each a process of its own,
then the closing table."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.report import fmt

DEFAULT_VOLUMES = [20_000, 1_000_000]


def run_volumes(script: Path, volumes: list[int], argv: list[str]) -> None:
    """One full benchmark per volume, each a process of its own, then the closing table: the
    targets are ratios at a nightly run's volume (20k) and at 1M."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-volumes-") as tmp:
        results = []
        for records in volumes:
            json_path = Path(tmp) / f"{records}.json"
            subprocess.run(
                [sys.executable, str(script), "--records", str(records), "--json", str(json_path),
                 *argv], check=True,
            )
            results.append(json.loads(json_path.read_text()))
    print("\nclosing table")
    print("| records | requests | 1 floor s | 2 plain dlt s | 3 dagster s | 3/2 | 3/1 | "
          "5 load / import |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        seconds = {row["stage"]: row["seconds"] for row in result["table"]}
        ratios = result["ratios"]
        print(f"| {result['args']['records']:,} | {result['stages']['1']['requests']:,} | "
              f"{fmt(seconds.get('1'), '.2f')} | {fmt(seconds.get('2'), '.2f')} | "
              f"{fmt(seconds.get('3'), '.2f')} | "
              f"{fmt(ratios.get('3/2 (Dagster overhead)'), '.2f')} | "
              f"{fmt(ratios.get('3/1 (end-to-end vs HTTP floor)'), '.2f')} | "
              f"{fmt(ratios.get('5 (validate / import dagster+dlt)'), '.2f')} |")
