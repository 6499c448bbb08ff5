"""Measuring a stage: its command run to completion as a process group of its own, with wall
seconds, peak RSS (wait4), the RSS summed over its process tree and the tree's CPU seconds
(sampled from /proc), and the CPU seconds the rest of the machine used meanwhile."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


class TreeSampler(threading.Thread):
    """Every 0.2 s: the RSS summed over the tree (its peak) and each process's CPU seconds as
    last seen. wait4's rusage misses processes the stage never waits for, such as Dagster's
    forkserver and the steps it forks; the samples miss a process's last 0.2 s."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_rss, self.cpu_by_pid = root, 0, {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            rss = 0
            for pid in process_tree(self.root):
                try:
                    with open(f"/proc/{pid}/statm", "rb") as statm:
                        rss += int(statm.read().split()[1]) * PAGE_SIZE
                    self.cpu_by_pid[pid] = cpu_seconds(pid)
                except (OSError, IndexError, ValueError):
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            self.done.wait(0.2)

    def stop(self) -> None:
        self.done.set()
        self.join()


def run_measured(command: list[str], env: dict[str, str], log_path: Path, timeout: float, *,
                 cwd: Path, sandbox_pid: int) -> dict[str, Any]:
    """Killed past `timeout`, or with this process (Ctrl-C, SIGTERM). `other_cpu_s`: the CPU
    the machine spent outside the stage's tree, the sandbox and this process."""
    busy, own, sandbox = machine_busy_seconds(), sum(os.times()[:2]), cpu_seconds(sandbox_pid)
    timed_out = False
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:  # Ctrl-C, SIGTERM: take the stage's process group down too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            sampler.stop()
        wall = time.perf_counter() - started
    tree_cpu = max(usage.ru_utime + usage.ru_stime, sum(sampler.cpu_by_pid.values()))
    other = (machine_busy_seconds() - busy) - tree_cpu \
        - (cpu_seconds(sandbox_pid) - sandbox) - (sum(os.times()[:2]) - own)
    return {
        "wall_s": wall, "returncode": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
        "maxrss_mb": usage.ru_maxrss / 1024,  # KiB on Linux: the largest process of the tree
        "tree_rss_mb": sampler.peak_rss / 2**20, "cpu_s": tree_cpu,
        "other_cpu_s": max(other, 0.0), "log": str(log_path),
    }


def median_of_3(command: list[str], env: dict[str, str], log_dir: Path, label: str, *,
                cwd: Path, sandbox_pid: int) -> dict[str, Any]:
    runs = [run_measured(command, env, log_dir / f"{label}-{i}.log", 300, cwd=cwd,
                         sandbox_pid=sandbox_pid) for i in range(3)]
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "walls_s": [r["wall_s"] for r in runs],
        "returncode": next((r["returncode"] for r in runs if r["returncode"]), 0),
        **{key: max(r[key] for r in runs) for key in ("maxrss_mb", "tree_rss_mb", "other_cpu_s")},
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "log": runs[-1]["log"],
    }


def print_failure(stage: str, measured: dict[str, Any]) -> None:
    tail = Path(measured["log"]).read_text(errors="replace").splitlines()[-30:]
    print(f"stage {stage} failed (exit {measured['returncode']}"
          f"{', timed out' if measured['timed_out'] else ''}):\n" + "\n".join(tail), flush=True)

