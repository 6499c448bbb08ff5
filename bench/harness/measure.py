"""Measuring a child process and its tree: wall seconds, CPU and peak RSS (wait4), the RSS summed
over the tree (sampled), and the CPU seconds the rest of the machine used meanwhile."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.process_stats import TreeSampler, proc_cpu_seconds, system_busy_s


def run_measured(command: list[str], env: dict[str, str], log_path: Path, timeout: float, *,
                 cwd: Path, sandbox_pids: Iterable[int] = ()) -> dict[str, Any]:
    """Run `command` in `cwd` to completion as its own process group; wall, rusage (wait4), tree
    RSS, and the CPU seconds other processes of the machine used meanwhile (load we do not
    control: everything busy minus this stage's tree, the sandbox processes `sandbox_pids` and
    this orchestrator)."""
    sandbox_pids = list(sandbox_pids)
    busy0, own0 = system_busy_s(), sum(os.times()[:2])
    sandbox0 = sum(proc_cpu_seconds(pid) for pid in sandbox_pids)
    load0 = os.getloadavg()[0]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): take the stage's whole process group down with us.
            try:
                os.killpg(process.pid, signal.SIGKILL)
                os.wait4(process.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            sampler.stop()
            raise
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        tree_peak = sampler.stop()
    sandbox1 = sum(proc_cpu_seconds(pid) for pid in sandbox_pids)
    tree_cpu = sampler.tree_cpu_s(usage.ru_utime + usage.ru_stime)
    other = (system_busy_s() - busy0) - tree_cpu - (sandbox1 - sandbox0) \
        - (sum(os.times()[:2]) - own0)
    return {
        "other_cpu_s": max(other, 0.0),
        "loadavg_1m_before": load0,
        "wall_s": wall,
        "returncode": process.returncode,
        "timed_out": timed_out,
        "maxrss_mb": usage.ru_maxrss / 1024,  # KiB on Linux: the largest process of the tree
        "tree_rss_mb": tree_peak / 2**20,  # sampled every 0.2 s: the sum over the tree
        "cpu_s": tree_cpu,
        "log": str(log_path),
    }


def median_wall(command: list[str], env: dict[str, str], log_dir: Path, label: str, *,
                cwd: Path, sandbox_pids: Iterable[int] = (), repeat: int = 3) -> dict[str, Any]:
    runs = [run_measured(command, env, log_dir / f"{label}-{i}.log", timeout=300, cwd=cwd,
                         sandbox_pids=sandbox_pids)
            for i in range(repeat)]
    failed = [r for r in runs if r["returncode"] != 0]
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "walls_s": [r["wall_s"] for r in runs],
        "maxrss_mb": max(r["maxrss_mb"] for r in runs),
        "tree_rss_mb": max(r["tree_rss_mb"] for r in runs),
        "other_cpu_s": max(r["other_cpu_s"] for r in runs),
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "returncode": failed[0]["returncode"] if failed else 0,
        "log": runs[-1]["log"],
    }


def tail(path: str, lines: int = 30) -> str:
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def print_failure(stage: str, measured: dict[str, Any]) -> None:
    print(f"stage {stage} failed (exit {measured['returncode']}"
          f"{', timed out' if measured['timed_out'] else ''}):\n"
          f"{tail(measured['log'])}", flush=True)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the sandbox and the stage."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
