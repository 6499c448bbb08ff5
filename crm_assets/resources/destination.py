"""Where dlt loads and keeps its working directory, and the locks that let steps share them.

Over 150 lines: one resource, whose settings, pipeline and turns at the destination are read
together; the file locks and the wait for a held DuckDB file are in `file_locks.py`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
import dlt
import duckdb

from crm_assets.resources.dataset_lock import postgres_dataset_lock
from crm_assets.resources.env import env_value, env_var_if_set
from crm_assets.resources.file_locks import (
    duckdb_lock_holder,
    file_held,
    file_lock,
    wait_for_duckdb_file,
)

DEFAULT_DUCKDB_PATH = "data/crm.duckdb"
# dlt's own default (~/.dlt/pipelines) is shared by every checkout and instance on a machine:
# their state, lock files and destinations would mix.
DEFAULT_PIPELINES_DIR = "data/dlt_pipelines"
# How long a step waits for a DuckDB file another process holds (a notebook, the DuckDB CLI).
DEFAULT_DUCKDB_WAIT_SECONDS = 180
ENV_VARS = {
    "destination": "CRM_DESTINATION",
    "duckdb_path": "CRM_DUCKDB_PATH",
    "postgres_url": "CRM_POSTGRES_URL",
    "pipelines_dir": "CRM_PIPELINES_DIR",
}


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
            field: env_var for field, name in ENV_VARS.items() if (env_var := env_var_if_set(name))
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

    def pipeline(self, pipeline_name: str, dataset_name: str | None = None) -> dlt.Pipeline:
        """One pipeline per source (per account: `<source>__<account>`), so no two share local
        or stored state; the dataset is the source's."""
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            dataset_name=dataset_name or pipeline_name,
            destination=self._dlt_destination(),
            pipelines_dir=str(Path(self.pipelines_dir).resolve()),
        )

    @property
    def loader_file_format(self) -> str | None:
        # The destinations' bulk paths: DuckDB's default insert_values files load ~50x slower
        # than parquet, Postgres loads csv through COPY (docs/performance.md).
        return {"duckdb": "parquet", "postgres": "csv"}.get(self.destination)

    @contextmanager
    def exclusive_pipeline(
        self, pipeline_name: str, dataset_name: str | None = None
    ) -> Iterator[dlt.Pipeline]:
        """The source's pipeline, held across processes: two runs of one source never share
        dlt's working directory (dagster #21022) nor merge at once. Pools do the same across
        machines (dagster.prod.yaml)."""
        with file_lock(Path(self.pipelines_dir).resolve() / f"{pipeline_name}.lock"):
            yield self.pipeline(pipeline_name, dataset_name)

    def sends_file(self, pipeline_name: str) -> Path:
        """Where a run of the source leaves its last window's send times for the next run,
        which holds `exclusive_pipeline` after it (`RequestBudget.carried_over`)."""
        return Path(self.pipelines_dir).resolve() / f"{pipeline_name}.sends.json"

    @contextmanager
    def exclusive_connection(self, pipeline: dlt.Pipeline) -> Iterator[None]:
        """Held while a step connects to the destination. A DuckDB file takes one process at
        a time (even to read), so its steps take turns for the short spans they need it (state
        restore, load, checks) and fetch from the APIs meanwhile; Postgres takes every source
        at once, one load per dataset at a time (the accounts of a source share one:
        `dataset_lock.py`). A process outside the project holding the file is waited for
        (`wait_for_duckdb_file`). Take it after `exclusive_pipeline`, never before: one
        order, no deadlock."""
        if self.destination == "postgres":
            with postgres_dataset_lock(pipeline):
                yield
            return
        if self.destination != "duckdb":
            yield
            return
        duckdb_file = self._duckdb_file()
        with file_lock(Path(f"{duckdb_file}.lock")):
            wait_for_duckdb_file(duckdb_file, self.duckdb_wait_seconds)
            try:
                yield
            except Exception as error:
                # Taken by another process between the wait and dlt's own connection.
                holder = duckdb_lock_holder(error)
                if holder is None:
                    raise
                raise file_held(duckdb_file, holder, self.duckdb_wait_seconds) from None

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
