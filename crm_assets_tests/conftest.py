"""Fixtures: the real sandbox over HTTP on 127.0.0.1, a tmp DuckDB file and a real instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from crm_assets.config import SourceConfig, load_source_configs
from crm_assets.definitions import CONFIGS_DIR
from crm_assets.sandbox.api import Volume
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.postgres import fresh_database, require_postgres


@pytest.fixture(scope="session")
def configs() -> list[SourceConfig]:
    return load_source_configs(CONFIGS_DIR)


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "crm.duckdb"


@pytest.fixture
def sandbox(
    configs: list[SourceConfig], duckdb_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """A sandbox serving every source, with the env pointing the pipeline at it."""
    with Sandbox(configs, volume=Volume(default=3)) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CRM_DUCKDB_PATH", str(duckdb_path))
        monkeypatch.setenv("CRM_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
        yield running


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def fast_retry_configs(tmp_path: Path) -> Path:
    """The shipped configs with a short backoff and timeout, so storms take seconds."""
    configs_dir = tmp_path / "fast_configs"
    shutil.copytree(CONFIGS_DIR, configs_dir)
    for path in configs_dir.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text())
        raw["retry"] = {"max_retries": 3, "backoff_factor": 0.05, "timeout_seconds": 1.0}
        path.write_text(yaml.safe_dump(raw))
    return configs_dir


@pytest.fixture
def postgres_url(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> Iterator[str]:
    """A fresh Postgres database as the destination (after the sandbox set the env)."""
    require_postgres()
    with fresh_database("crm_dest") as url:
        monkeypatch.setenv("CRM_DESTINATION", "postgres")
        monkeypatch.setenv("CRM_POSTGRES_URL", url)
        yield url
