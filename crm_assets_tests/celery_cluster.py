"""A Dagster deployment on Celery, in real processes: `dagster-celery` workers that share
nothing but the broker and Postgres (each has its own working directory, DAGSTER_HOME and dlt
pipelines directory), and runs launched with `dagster asset materialize`, as docs/celery.md does it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

from crm_assets_tests.services import unavailable

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RABBITMQ = "127.0.0.1:5672"
# docs/celery.md: the worker imports the code location once, before it forks
# its processes, so no step pays for the import.
WORKER_ARGS = [
    "-A", "dagster_celery.app", "-y", str(REPO / "celery.yaml"), "-i", "crm_assets.definitions",
]


def require_rabbitmq() -> None:
    """RabbitMQ answering, with `rabbitmqctl` to give each test its own virtual host."""
    ok = shutil.which("rabbitmqctl") and subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, check=False, timeout=60
    ).returncode == 0
    if ok:
        return
    unavailable(
        "CELERY",
        f"RabbitMQ is not running on {RABBITMQ} (or rabbitmqctl is not usable here)",
        "CRM_REQUIRE_BROKER",
    )


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A broker URL on a new virtual host: the test's steps reach only the test's workers."""
    vhost = f"crm_test_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True, capture_output=True,
    )
    try:
        yield f"pyamqp://guest:guest@{RABBITMQ}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, check=False)


def storage_env(storage_url: str) -> dict[str, str]:
    """dagster.prod.yaml's DAGSTER_PG_* variables for a database URL."""
    parsed = urlparse(storage_url)
    return {
        "DAGSTER_PG_HOST": parsed.hostname or "", "DAGSTER_PG_PORT": str(parsed.port),
        "DAGSTER_PG_DB": parsed.path.lstrip("/"), "DAGSTER_PG_USERNAME": parsed.username or "",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
    }


@dataclass
class Machine:
    """One host of the deployment: its own directory, DAGSTER_HOME and dlt pipelines dir."""

    name: str
    root: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster.prod.yaml", self.home / "dagster.yaml")
        self.log_path = self.root / "worker.log"
        self.env = {
            **self.env,
            "DAGSTER_HOME": str(self.home),
            "CRM_PIPELINES_DIR": str(self.pipelines_dir),
            # The project's dlt settings (.dlt/config.toml) from any working directory.
            "DLT_PROJECT_DIR": str(REPO),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "dlt_pipelines"

    @property
    def worker_hostname(self) -> str:
        return f"{self.name}@{os.uname().nodename}"

    def start_worker(self) -> None:
        """`dagster-celery worker start` as the README gives it, in its own process group (the
        worker is `celery`, a child of the `dagster-celery` command)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-celery"), "worker", "start", *WORKER_ARGS, "-n", self.name],
                cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while f"{self.worker_hostname} ready." not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """The machine is gone: every process of the worker dies at once, with no goodbye."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop_worker(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def materialize(self, selection: str, timeout: float = 600) -> subprocess.Popen:
        """`dagster asset materialize` from this machine; the run sends its steps to Celery."""
        return subprocess.Popen(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "crm_assets.definitions",
             "--select", selection],
            cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


@dataclass
class Cluster:
    """Machines that share one broker and one Postgres server (Dagster's storage there)."""

    root: Path
    env: dict[str, str]
    machines: dict[str, Machine] = field(default_factory=dict)

    def machine(self, name: str) -> Machine:
        if name not in self.machines:
            self.machines[name] = Machine(name, self.root / name, dict(self.env))
        return self.machines[name]

    def start_workers(self, *names: str) -> list[Machine]:
        machines = [self.machine(name) for name in names]
        # Dagster's storage is created once, as a deployment does before its workers start:
        # workers starting together on an empty database both create it, and one loses the
        # race (alembic_version, seen under load).
        self.instance().dispose()
        for machine in machines:
            machine.start_worker()
        for machine in machines:
            machine.wait_until_ready()
        return machines

    def instance(self) -> dg.DagsterInstance:
        """The shared instance as any machine sees it (runs and events are in Postgres)."""
        return dg.DagsterInstance.from_config(str(self.machine("launcher").home))

    def stop(self) -> None:
        for machine in self.machines.values():
            machine.stop_worker()


def steps_by_worker(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, worker hostname) for every time a worker began a step, in order: dagster-celery
    records each in an engine event."""
    started = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.event_specific_data.metadata
        if "Celery worker" in metadata:
            started.append((entry.step_key, metadata["Celery worker"].value))
    return started
