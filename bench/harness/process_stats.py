"""What /proc says about a process and its tree: CPU seconds, peak RSS, the RSS summed over the
tree (sampled while it runs), and the busy CPU seconds of the whole machine."""

from __future__ import annotations

import os
import threading


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return children


def _tree_pids(pid: int) -> list[int]:
    children, pids, stack = _children_map(), [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack.extend(children.get(current, []))
    return pids


class TreeSampler(threading.Thread):
    """Every `interval`: the RSS summed over the tree (its peak), and each process's own CPU
    seconds as last seen. wait4's rusage misses processes the stage never waits for, such as
    the forkserver of Dagster's multiprocess executor and the steps it forks; the sampled sum
    misses a process's last interval. `tree_cpu_s` is a lower bound either way."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.cpu_by_pid: dict[int, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = 0
            for current in _tree_pids(self.pid):
                try:
                    with open(f"/proc/{current}/statm", "rb") as statm:
                        total += int(statm.read().split()[1]) * PAGE_SIZE
                    self.cpu_by_pid[current] = proc_cpu_seconds(current)
                except (OSError, IndexError, ValueError):
                    pass
            self.peak = max(self.peak, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak

    def tree_cpu_s(self, waited_cpu_s: float) -> float:
        """`waited_cpu_s`: the root's rusage (itself and the descendants it waited for)."""
        return max(waited_cpu_s, sum(self.cpu_by_pid.values()))


def system_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
