"""Dagster resources: every secret and every place data goes to comes from here."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
import dlt
import requests
from dlt.sources import DltSource
from pydantic import TypeAdapter

from crm_assets.config import MaxConcurrency, RateLimitSpec, SourceConfig, validate_base_url
from crm_assets.pii import HASH_KEY_ENV, MIN_HASH_KEY_LENGTH
from crm_assets.request_budget import RequestBudget
from crm_assets.source_builder import build_source

DEFAULT_DUCKDB_PATH = "data/crm.duckdb"
# dlt's own default (~/.dlt/pipelines) is shared by every checkout and instance on a machine:
# their state, lock files and destinations would mix.
DEFAULT_PIPELINES_DIR = "data/dlt_pipelines"


class SourceApiResource(dg.ConfigurableResource):
    """One API's base URL and secrets, each field set from an env var (`<SOURCE>_<SECRET>`),
    and the account's request budget where `<SOURCE>_RATE_LIMIT` / `_MAX_CONCURRENCY` override
    the config's."""

    source: str
    base_url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    rate_limit: str | None = None
    max_concurrency: str | None = None

    @classmethod
    def from_env(cls, config: SourceConfig) -> SourceApiResource:
        # Only the base URL has a default (the config's); secrets have none, so a missing one
        # fails the run at start, naming its env var, before any request.
        overrides = {
            field: dg.EnvVar(env_var)
            for field, env_var in {
                "base_url": config.base_url_env,
                "rate_limit": config.rate_limit_env,
                "max_concurrency": config.max_concurrency_env,
            }.items()
            if dg.EnvVar(env_var).get_value()
        }
        return cls(
            source=config.name,
            **{"base_url": config.base_url, **overrides},
            **{field: dg.EnvVar(env_var) for field, env_var in config.auth.env.items()},
        )

    def request_budget(self, config: SourceConfig) -> RequestBudget:
        """The run's budget: the config's rate limit and concurrency unless the env overrides."""
        rate_limit, max_concurrency = config.rate_limit, config.max_concurrency
        try:
            if self.rate_limit:
                rate_limit = None if self.rate_limit == "none" else RateLimitSpec.parse(self.rate_limit)
        except ValueError as error:
            raise dg.Failure(f"{config.rate_limit_env}: {error} (or 'none')") from None
        if self.max_concurrency:
            try:
                max_concurrency = TypeAdapter(MaxConcurrency).validate_python(int(self.max_concurrency))
            except ValueError:
                raise dg.Failure(
                    f"{config.max_concurrency_env}: {self.max_concurrency!r} is not an integer "
                    "from 1 to 64"
                ) from None
        return RequestBudget(config.name, rate_limit, max_concurrency)

    def validated_base_url(self, config: SourceConfig) -> str:
        try:
            return validate_base_url(self.base_url)
        except ValueError as error:
            raise dg.Failure(f"{config.base_url_env}: {error}") from None

    def secret_values(self, config: SourceConfig) -> list[str]:
        return [getattr(self, field) for field in config.auth.env]

    def build_source(
        self, config: SourceConfig, session: Any = None, pii_hash_key: str | None = None
    ) -> DltSource:
        secrets = {field: getattr(self, field) for field in config.auth.env}
        return build_source(config, self.validated_base_url(config), secrets, session, pii_hash_key)


class PiiHashKeyResource(dg.ConfigurableResource):
    """The key of the PII policies' HMAC-SHA256, from CRM_PII_HASH_KEY. One key for every
    source, so hashed values join across sources; only sources whose config hashes a column
    require this resource, so only their runs fail, at start, when the variable is unset."""

    hash_key: str

    @classmethod
    def from_env(cls) -> PiiHashKeyResource:
        return cls(hash_key=dg.EnvVar(HASH_KEY_ENV))

    def validated_key(self) -> str:
        if len(self.hash_key) < MIN_HASH_KEY_LENGTH:
            raise dg.Failure(
                f"{HASH_KEY_ENV} is shorter than {MIN_HASH_KEY_LENGTH} characters: hashed values "
                "could be brute-forced (e.g. `openssl rand -hex 32`)"
            )
        return self.hash_key


class DestinationResource(dg.ConfigurableResource):
    """Where dlt loads: an embedded DuckDB file by default, one dataset (schema) per source.

    `destination` is any dlt destination name; `postgres` takes its credentials from
    `postgres_url` (CRM_POSTGRES_URL) or from dlt's own DESTINATION__POSTGRES__CREDENTIALS.
    dlt's working directory is `pipelines_dir` (CRM_PIPELINES_DIR), inside the project's data
    directory by default.
    """

    destination: str = "duckdb"
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    postgres_url: str | None = None
    pipelines_dir: str = DEFAULT_PIPELINES_DIR

    @classmethod
    def from_env(cls) -> DestinationResource:
        overrides = {
            field: dg.EnvVar(env_var)
            for field, env_var in {
                "destination": "CRM_DESTINATION",
                "duckdb_path": "CRM_DUCKDB_PATH",
                "postgres_url": "CRM_POSTGRES_URL",
                "pipelines_dir": "CRM_PIPELINES_DIR",
            }.items()
            if dg.EnvVar(env_var).get_value()
        }
        return cls(**overrides)

    @staticmethod
    def configured_name() -> str:
        """The destination's name as the code location loads (asset kinds show it)."""
        return dg.EnvVar("CRM_DESTINATION").get_value() or "duckdb"

    def _dlt_destination(self) -> Any:
        if self.destination == "duckdb":
            # Absolute: dlt would otherwise resolve a relative path against state it kept
            # from an earlier run, possibly of another checkout.
            duckdb_path = Path(self.duckdb_path).resolve()
            duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            return dlt.destinations.duckdb(str(duckdb_path))
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

    @contextmanager
    def exclusive_connection(self) -> Iterator[None]:
        """Held while a step connects to the destination. A DuckDB file takes one process at
        a time (even to read), so its steps take turns for the short spans they need it (state
        restore, load, checks) and fetch from the APIs meanwhile; a database server takes all.
        Take it after `exclusive_pipeline`, never before: one order, no deadlock."""
        if self.destination != "duckdb":
            yield
            return
        with _file_lock(Path(f"{Path(self.duckdb_path).resolve()}.lock")):
            yield


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released by the OS if the process dies
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


class AlertWebhookResource(dg.ConfigurableResource):
    """Where failure reports are posted (JSON); `CRM_ALERT_WEBHOOK_URL`, none by default."""

    url: str | None = None

    @classmethod
    def from_env(cls) -> AlertWebhookResource:
        configured = dg.EnvVar("CRM_ALERT_WEBHOOK_URL").get_value()
        return cls(url=dg.EnvVar("CRM_ALERT_WEBHOOK_URL") if configured else None)

    def post(self, payload: dict[str, Any]) -> None:
        if not self.url:
            return
        try:
            requests.post(self.url, json=payload, timeout=10).raise_for_status()
        except requests.RequestException as error:
            dg.get_dagster_logger().warning(f"alert webhook failed: {type(error).__name__}")
