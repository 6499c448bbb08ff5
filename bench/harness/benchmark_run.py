"""What every stage of one benchmark needs, passed to each: the code under test, the work dir,
the sandboxes, the environment, the time budget and the results so far."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.code_under_test import CodeUnderTest
from harness.measure import median_wall, run_measured
from harness.sandbox_process import SandboxProcess
from harness.workload import Workload

# From the caller's shell these would point a stage at other configs, another destination or
# another instance; the stages set the paths they write to.
UNSET_FOR_STAGES = ("CRM_DESTINATION", "CRM_CONFIGS_DIR", "CRM_DUCKDB_PATH", "CRM_PIPELINES_DIR",
                    "DAGSTER_HOME")


def stage_env(sandbox: SandboxProcess) -> dict[str, str]:
    """This process's environment minus UNSET_FOR_STAGES, plus the sandbox's exports."""
    base = {k: v for k, v in os.environ.items() if k not in UNSET_FOR_STAGES}
    return {**base, **sandbox.env}


@dataclass
class BenchmarkRun:
    args: argparse.Namespace
    code: CodeUnderTest
    work: Path
    script: Path  # bench/throughput.py, run again as `--stage NAME` for stages 0-2
    workload: Workload
    sandbox: SandboxProcess  # the instant API: every stage's, but stage 3's with slow_api
    slow_api: SandboxProcess | None  # --latency-ms / --rate: stage 3's API
    env: dict[str, str]  # the stages' environment (stage_env)
    results: dict[str, Any]
    started: float  # time.perf_counter() when the run began: --budget counts from there

    @property
    def stages(self) -> dict[str, Any]:
        return self.results["stages"]

    def remaining(self) -> float:
        return self.args.budget - (time.perf_counter() - self.started)

    def _sandbox_pids(self) -> list[int]:
        return [sandbox.pid for sandbox in (self.sandbox, self.slow_api) if sandbox]

    def measure(self, command: list[str], env: dict[str, str], log_path: Path,
                timeout: float) -> dict[str, Any]:
        """`command` run from the code under test, the sandbox's CPU not counted as other."""
        return run_measured(command, env, log_path, timeout, cwd=self.code.dir,
                            sandbox_pids=self._sandbox_pids())

    def median_wall(self, command: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
        return median_wall(command, env, self.work, label, cwd=self.code.dir,
                           sandbox_pids=self._sandbox_pids())
