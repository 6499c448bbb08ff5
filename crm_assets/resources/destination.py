"""Where dlt loads and keeps its working directory, and the locks that let steps share them."""

from __future__ import annotations

import fcntl
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
import dlt
import duckdb

from crm_assets.load.error_chain import error_chain
from crm_assets.resources.env import env_value, env_var_if_set

DEFAULT_DUCKDB_PATH = "data/crm.duckdb"
# dlt's own default (~/.dlt/pipelines) is shared by every checkout and instance on a machine:
# their state, lock files and destinations would mix.
DEFAULT_PIPELINES_DIR = "data/dlt_pipelines"
# How long a step waits for a DuckDB file another process holds (a notebook, the DuckDB CLI).
DEFAULT_DUCKDB_WAIT_SECONDS = 180
# DuckDB's words when another process holds the file: "Conflicting lock is held in <program>
# (PID <n>)" where it can tell.
CONFLICTING_LOCK = re.compile(
    r'Could not set lock on file "[^"]*"(?:: (Conflicting lock is held in .*? \(PID \d+\)))?'
)


class DestinationResource(dg.ConfigurableResource):
    """Where dlt loads: an embedded DuckDB file by default, one dataset (schema) per source.

    `destination` is any dlt destination name; `postgres` takes its credentials from
    `postgres_url` (CRM_POSTGRES_URL) or from dlt's own DESTINATION__POSTGRES__CREDENTIALS.
    dlt's working directory is `pipelines_dir` (CRM_PIPELINES_DIR), inside the project's data
    directory by default. While another process holds the DuckDB file, a step waits for it up
    to `duckdb_wait_seconds` (CRM_DUCKDB_WAIT_SECONDS).
    """

    destination: str = "duckdb"
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    postgres_url: str | None = None
    pipelines_dir: str = DEFAULT_PIPELINES_DIR
    duckdb_wait_seconds: int = DEFAULT_DUCKDB_WAIT_SECONDS

    @classmethod
    def from_env(cls) -> DestinationResource:
        overrides: dict[str, Any] = {
            field: env_var
            for field, name in {
                "destination": "CRM_DESTINATION",
                "duckdb_path": "CRM_DUCKDB_PATH",
                "postgres_url": "CRM_POSTGRES_URL",
                "pipelines_dir": "CRM_PIPELINES_DIR",
            }.items()
            if (env_var := env_var_if_set(name))
        }
        if env_value("CRM_DUCKDB_WAIT_SECONDS"):
            overrides["duckdb_wait_seconds"] = dg.EnvVar.int("CRM_DUCKDB_WAIT_SECONDS")
        return cls(**overrides)

    @staticmethod
    def configured_name() -> str:
        """The destination's name as the code location loads (asset kinds show it)."""
        return env_value("CRM_DESTINATION", "duckdb")

    @staticmethod
    def configured_pipelines_dir() -> Path:
        """dlt's working directory as the code location loads (pipeline references name it)."""
        return Path(env_value("CRM_PIPELINES_DIR", DEFAULT_PIPELINES_DIR)).resolve()

    def _duckdb_file(self) -> Path:
        # Absolute: dlt would otherwise resolve a relative path against state it kept from an
        # earlier run, possibly of another checkout.
        duckdb_path = Path(self.duckdb_path).resolve()
        duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb_path

    def _dlt_destination(self) -> Any:
        if self.destination == "duckdb":
            return dlt.destinations.duckdb(str(self._duckdb_file()))
        if self.destination == "postgres" and self.postgres_url:
            if not urlparse(self.postgres_url).password:
                raise dg.Failure(
                    "CRM_POSTGRES_URL has no password; dlt requires one even where the server "
                    "trusts any (then any value works: postgresql://user:unused@host:5432/db)"
                )
            return dlt.destinations.postgres(credentials=self.postgres_url)
        return self.destination

    def pipeline(self, source_name: str) -> dlt.Pipeline:
        """One pipeline per source, named after it, so two sources never share local state."""
        return dlt.pipeline(
            pipeline_name=source_name,
            dataset_name=source_name,
            destination=self._dlt_destination(),
            pipelines_dir=str(Path(self.pipelines_dir).resolve()),
        )

    @property
    def loader_file_format(self) -> str | None:
        # The destinations' bulk paths: DuckDB's default insert_values files load ~50x slower
        # than parquet, Postgres loads csv through COPY (see bench/).
        return {"duckdb": "parquet", "postgres": "csv"}.get(self.destination)

    @contextmanager
    def exclusive_pipeline(self, source_name: str) -> Iterator[dlt.Pipeline]:
        """The source's pipeline, held across processes: two runs of one source never share
        dlt's working directory (dagster #21022) nor merge at once. Pools do the same across
        machines (dagster.prod.yaml)."""
        with _file_lock(Path(self.pipelines_dir).resolve() / f"{source_name}.lock"):
            yield self.pipeline(source_name)

    def sends_file(self, source_name: str) -> Path:
        """Where a run of the source leaves its last window's send times for the next run,
        which holds `exclusive_pipeline` after it (`RequestBudget.carried_over`)."""
        return Path(self.pipelines_dir).resolve() / f"{source_name}.sends.json"

    @contextmanager
    def exclusive_connection(self) -> Iterator[None]:
        """Held while a step connects to the destination. A DuckDB file takes one process at
        a time (even to read), so its steps take turns for the short spans they need it (state
        restore, load, checks) and fetch from the APIs meanwhile; a database server takes all.
        A process outside the project holding the file is waited for (`_wait_for_duckdb_file`).
        Take it after `exclusive_pipeline`, never before: one order, no deadlock."""
        if self.destination != "duckdb":
            yield
            return
        with _file_lock(Path(f"{Path(self.duckdb_path).resolve()}.lock")):
            self._wait_for_duckdb_file()
            try:
                yield
            except Exception as error:
                # Taken by another process between the wait and dlt's own connection.
                holder = _lock_holder(error)
                if holder is None:
                    raise
                raise self._file_held(holder) from None

    def _wait_for_duckdb_file(self) -> None:
        """Until DuckDB lets this process open the file, at most `duckdb_wait_seconds`; says
        once what it waits for. Nothing is written before the file is ours."""
        duckdb_file = self._duckdb_file()
        deadline = time.monotonic() + self.duckdb_wait_seconds
        pause, told = 0.1, False
        while True:
            try:
                duckdb.connect(str(duckdb_file)).close()
                return
            except duckdb.IOException as error:
                holder = _lock_holder(error)
                if holder is None:
                    raise
                if time.monotonic() >= deadline:
                    raise self._file_held(holder) from None
                if not told:
                    dg.get_dagster_logger().warning(
                        f"waiting up to {self.duckdb_wait_seconds} s for {duckdb_file}: {holder}"
                    )
                    told = True
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 2.0)

    def _file_held(self, holder: str) -> dg.Failure:
        return dg.Failure(
            f"{self._duckdb_file()} is held by another process ({holder}); waited "
            f"{self.duckdb_wait_seconds} s, wrote nothing. Close that connection, or read the "
            "file read-only between runs or from a copy; CRM_DUCKDB_WAIT_SECONDS waits longer"
        )

    @contextmanager
    def load_credentials(self) -> Iterator[Any]:
        """Credentials for `pipeline.load` inside `exclusive_connection`: for DuckDB one
        connection that every load job and query of the block shares (dlt would open the file,
        and checkpoint it on close, once per job: a tenth of a small load), closed when the
        block ends; None elsewhere (the pipeline's own). The pipeline keeps these credentials:
        after the block, query through a new pipeline object."""
        if self.destination != "duckdb":
            yield None
            return
        connection = duckdb.connect(str(self._duckdb_file()))
        try:
            yield connection
        finally:
            connection.close()


def _lock_holder(error: BaseException) -> str | None:
    """What DuckDB says holds its file, where `error` (or its cause) is that lock conflict."""
    for wrapped in error_chain(error):
        match = CONFLICTING_LOCK.search(str(wrapped))
        if match:
            return match.group(1) or "DuckDB does not say which"
    return None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released by the OS if the process dies
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
