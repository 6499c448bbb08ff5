"""`python -m crm_assets.sandbox` as a process of its own (its own GIL): started on a free port,
its env exports read from its stdout, its counters read while it serves."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


class SandboxProcess:
    """The sandbox of the code in `code_dir` (its working directory), serving until `stop()`."""

    def __init__(self, args: list[str], log_path: Path, code_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crm_assets.sandbox", "--port", str(self.port), *args],
            cwd=code_dir, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        self.pid = self.process.pid
        self.env: dict[str, str] = {}
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.process.stdout.readline().decode()  # type: ignore[union-attr]
            if not line:
                raise RuntimeError(f"sandbox exited early; see {log_path}")
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                self.env[name] = value
            elif line.startswith("# sandbox serving"):
                self.banner = line.strip()
                return
        raise RuntimeError("sandbox did not start within 60 s")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_sandbox/stats",
                                    timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        """Zero the counters and the rate-limit windows: each stage starts on a fresh budget."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_sandbox/reset",
                                         data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
