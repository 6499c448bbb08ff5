"""`python -m crm_assets.sandbox` as a subprocess of the benchmark (its own GIL): started on a
free port, its env exports read from its stdout, its counters and CPU read while it serves."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness.process_stats import proc_cpu_seconds, proc_hwm_mb


def free_port() -> int:
    # Not crm_assets.sandbox.ports: the harness imports nothing of the code under test (a
    # snapshot, possibly patched, that its stages run from).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


NODELAY_SITECUSTOMIZE = """\
# Written by bench/throughput.py --sandbox-nodelay: the sandbox's handler writes the headers and
# the body in two send() calls; with Nagle on, the body waits for the client's delayed ACK
# (~40 ms on Linux) whenever it ends in a partial segment. TCP_NODELAY on accepted sockets.
import socketserver
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
"""


class SandboxProcess:
    """The sandbox of the code in `code_dir` (its working directory), serving until `stop()`."""

    def __init__(self, args: list[str], log_path: Path, code_dir: Path,
                 nodelay: bool = False) -> None:
        self.port = free_port()
        self.log = log_path.open("wb")
        env = dict(os.environ)
        if nodelay:
            site_dir = log_path.parent / "sandbox_nodelay"
            site_dir.mkdir(exist_ok=True)
            (site_dir / "sitecustomize.py").write_text(NODELAY_SITECUSTOMIZE)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(site_dir), *filter(None, [env.get("PYTHONPATH")])])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crm_assets.sandbox", "--port", str(self.port), *args],
            cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True,
        )
        self.env: dict[str, str] = {}
        deadline = time.time() + 60
        assert self.process.stdout is not None
        while time.time() < deadline:
            line = self.process.stdout.readline().decode()
            if not line:
                raise RuntimeError(f"sandbox exited early; see {log_path}")
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                self.env[name] = value
            elif line.startswith("# sandbox serving"):
                self.banner = line.strip()
                return
        raise RuntimeError("sandbox did not start within 60 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        """Zero the counters and the rate-limit windows: each stage starts on a fresh budget."""
        request = urllib.request.Request(f"{self.url}/_sandbox/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def cpu_s(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def hwm_mb(self) -> float:
        return proc_hwm_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
