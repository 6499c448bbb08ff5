"""The runs of one lever variant: `--repeat` of them, each in a process of its own
(`levers.py --variant-run`) into a fresh DuckDB file, checked against the floor's rows."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.code_under_test import CodeUnderTest
from harness.lever_report import describe_tables
from harness.lever_variants import VARIANTS
from harness.measure import run_measured, tail
from harness.sandbox_process import SandboxProcess


@dataclass
class LeverRuns:
    """What every variant's runs share."""

    args: argparse.Namespace
    code: CodeUnderTest
    sandbox: SandboxProcess
    env: dict[str, str]
    work: Path
    script: Path  # bench/levers.py, run again as `--variant-run`
    started: float  # time.perf_counter() when the run began: --budget counts from there
    expected: int  # the rows the floor fetched

    def measure(self, name: str) -> list[dict[str, Any]]:
        """`--repeat` runs of one variant, plus up to 3 more for runs that `--max-other-cpu`
        marks contaminated; stops at a failure or past `--budget`."""
        _, env_extra, file_format, options = VARIANTS[name]
        runs = []
        extra = 0
        attempt = -1
        while len([r for r in runs if not r.get("contaminated")]) < self.args.repeat:
            attempt += 1
            if attempt >= self.args.repeat + extra:
                break
            if time.perf_counter() - self.started > self.args.budget:
                print(f"budget of {self.args.budget:.0f} s spent; stopping", flush=True)
                break
            run_dir = self.work / f"{name}-{attempt}"
            run_dir.mkdir()
            ctx = {"configs_dir": str(self.code.configs_dir), "env": self.sandbox.env,
                   "source": self.args.source, "resource": self.args.resource, "options": options,
                   "duckdb_path": str(run_dir / "crm.duckdb"),
                   "pipelines_dir": str(run_dir / "pipelines"),
                   "loader_file_format": file_format, "split_steps": self.args.split_steps}
            (run_dir / "ctx.json").write_text(json.dumps(ctx))
            measured = run_measured(
                [sys.executable, str(self.script), "--variant-run",
                 str(run_dir / "ctx.json"), str(run_dir / "out.json")],
                {**self.env, **env_extra}, run_dir / "log.txt", timeout=300, cwd=self.code.dir,
                sandbox_pids=[self.sandbox.pid])
            if measured["returncode"] != 0:
                print(f"{name}: failed\n{tail(measured['log'])}", flush=True)
                runs.append(measured)
                break
            measured.update(json.loads((run_dir / "out.json").read_text()))
            measured["tables"] = describe_tables(run_dir / "crm.duckdb", self.args.source)
            measured["rows"] = measured["tables"].get(self.args.resource, {}).get("rows")
            measured["valid"] = measured["rows"] == self.expected
            max_other_cpu = self.args.max_other_cpu
            if max_other_cpu is not None and measured["other_cpu_s"] > max_other_cpu:
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
        return runs
