"""One benchmark at one volume: snapshot the code, start the sandbox, run stages 1, 0, 2, 3, 4
and 5 in that order within --budget, each a process of its own, and check the rows of stages
2-4 against the floor's."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.measure import (cpu_seconds, median_of_3, peak_rss_mb, print_failure,
                             run_measured)
from harness.row_check import check_rows
from harness.sandbox_process import SandboxProcess
from harness.snapshot import snapshot_code

# From the caller's shell these would point a stage at other configs, another destination or
# another instance; the stages set the paths they write to.
UNSET_FOR_STAGES = ("CRM_DESTINATION", "CRM_CONFIGS_DIR", "CRM_DUCKDB_PATH", "CRM_PIPELINES_DIR",
                    "DAGSTER_HOME")


class Benchmark:
    def __init__(self, args: argparse.Namespace, script: Path) -> None:
        """`script` (bench/throughput.py) runs stages 0-2 as `--stage NAME CTX OUT`."""
        self.args, self.script, self.started = args, script, time.perf_counter()
        self.work = Path(tempfile.mkdtemp(prefix="crm-bench-"))
        self.code = snapshot_code(self.work / "code")
        self.cwd = Path(self.code["dir"])
        from crm_assets.config import load_source_configs  # the copy's, now

        self.configs = load_source_configs(self.cwd / "configs")
        self.sources = [config.name for config in self.configs]
        # The selection, asked of the copy in a process of its own: the names module imports
        # dagster, and this process's RSS when a stage starts counts in the stage's ru_maxrss
        # (exec keeps the high-water mark of the address space it replaces, here ours).
        self.selection = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("product.py"))], cwd=self.cwd,
            stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        print(f"work dir {self.work}; code {self.cwd} ({self.code['sha256'][:12]}); python "
              f"{platform.python_version()}; {os.cpu_count()} CPUs", flush=True)
        self.sandbox = SandboxProcess(["--records", str(args.records)], self.work / "sandbox.log",
                                      self.cwd)
        print(f"{self.sandbox.banner} (pid {self.sandbox.pid}; --records {args.records})",
              flush=True)
        self.env = {**{k: v for k, v in os.environ.items() if k not in UNSET_FOR_STAGES},
                    **self.sandbox.env}
        self.stages: dict[str, Any] = {}

    def remaining(self) -> float:
        return self.args.budget - (time.perf_counter() - self.started)

    def measure(self, stage: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
        """`command` run from the copy against a freshly reset sandbox, killed past --budget."""
        self.sandbox.reset()
        cpu = cpu_seconds(self.sandbox.pid)
        measured = run_measured(command, env, self.work / f"stage-{stage}.log",
                                max(self.remaining(), 1), cwd=self.cwd,
                                sandbox_pid=self.sandbox.pid)
        measured.update(sandbox_cpu_s=cpu_seconds(self.sandbox.pid) - cpu,
                        pages_served=self.sandbox.stats()["pages"])
        self.stages[stage] = measured
        if measured["returncode"]:
            print_failure(stage, measured)
        return measured

    def python_stage(self, stage: str, name: str) -> dict[str, Any]:
        out = self.work / f"{name}.json"
        measured = self.measure(stage, [sys.executable, str(self.script), "--stage", name,
                                        str(self.work / "ctx.json"), str(out)], self.env)
        if measured["returncode"] == 0:
            measured.update(json.loads(out.read_text()))
        return measured

    def run(self) -> dict[str, Any]:
        """Every stage, then the sandbox stopped; the results as the JSON keeps them."""
        try:
            self.run_stages()
            sandbox = {"hwm_mb": peak_rss_mb(self.sandbox.pid),
                       "cpu_s_total": cpu_seconds(self.sandbox.pid)}
        finally:
            self.sandbox.stop()
        return {"args": vars(self.args), "selection": self.selection, "code": self.code,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "stages": self.stages, "sandbox": sandbox}

    def run_stages(self) -> None:
        """The floor first: stage 0 replays the URLs it fetched, 2-4 must load its rows."""
        ctx = {"configs_dir": str(self.cwd / "configs"), "sources": self.sources,
               "records": self.args.records, "urls_path": str(self.work / "floor-urls.txt"),
               "duckdb_path": str(self.work / "dlt" / "crm.duckdb"),
               "pipelines_dir": str(self.work / "dlt" / "pipelines")}
        (self.work / "ctx.json").write_text(json.dumps(ctx))
        floor = self.python_stage("1", "floor")
        if floor["returncode"]:
            raise SystemExit("the floor failed; nothing else is comparable")
        floor["rows_total"] = sum(floor["rows"].values())
        print(f"stage 1 floor: {floor['inner_s']:.2f} s fetching {floor['requests']} pages, "
              f"{floor['rows_total']} rows, {floor['bytes'] / 2**20:.1f} MiB; sandbox CPU "
              f"{floor['sandbox_cpu_s']:.2f} s", flush=True)
        serve = self.python_stage("0", "serve")
        if serve["returncode"] == 0:
            print(f"stage 0 sandbox: serve_page {serve['serve_page_s']:.2f} s + orjson.dumps "
                  f"{serve['dumps_s']:.2f} s for {serve['pages']} pages", flush=True)
        plain_dlt = self.python_stage("2", "dlt") if self.remaining() > 0 else None
        if plain_dlt and plain_dlt["returncode"] == 0:
            check_rows("2", plain_dlt, self.stages["1"], Path(ctx["duckdb_path"]), self.sources)
            for source, timings in plain_dlt["steps"].items():
                print(f"    dlt steps {source}: " + ", ".join(
                    f"{step} {seconds:.2f} s" for step, seconds in timings.items()))
        self.dagster_stages()

    def dagster_stages(self) -> None:
        """3: the CLI into a fresh DAGSTER_HOME, DuckDB file and pipelines dir; 4: the same
        command again (--rerun); 5: code-location load."""
        home, duckdb_path = self.work / "dagster_home", self.work / "dagster" / "crm.duckdb"
        home.mkdir()
        (home / "dagster.yaml").write_text("")
        env = {**self.env, "DAGSTER_HOME": str(home), "CRM_DUCKDB_PATH": str(duckdb_path),
               "CRM_PIPELINES_DIR": str(self.work / "dagster" / "pipelines"),
               # the sandbox limits no rate, so no client budget either
               **{config.rate_limit_env: "none" for config in self.configs}}
        materialize = [sys.executable, "-m", "dagster", "asset", "materialize",
                       "-m", "crm_assets.definitions", "--select", self.selection]
        for stage in ("3", "4") if self.args.rerun else ("3",):
            if self.remaining() <= 0:
                break
            measured = self.measure(stage, materialize, env)
            if measured["returncode"]:
                break
            check_rows(stage, measured, self.stages["1"], duckdb_path, self.sources)
        if self.remaining() <= 0:
            return
        empty = self.work / "empty_definitions.py"
        empty.write_text("import dagster as dg\n\ndefs = dg.Definitions()\n")
        validate = [sys.executable, "-m", "dagster", "definitions", "validate"]
        commands = {"validate": [*validate, "-m", "crm_assets.definitions"],
                    "import": [sys.executable, "-c", "import dagster, dlt"],
                    "validate_empty": [*validate, "-f", str(empty)]}
        self.stages["5"] = {name: median_of_3(command, env, self.work, name, cwd=self.cwd,
                                              sandbox_pid=self.sandbox.pid)
                            for name, command in commands.items()}
