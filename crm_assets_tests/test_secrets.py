"""Through the real CLI (`dagster asset materialize`, every source in its own process at once,
sharing one DuckDB file): every source loads (one whose secret is unset fails alone, naming
it), and no secret value reaches stdout/stderr,
DAGSTER_HOME (event log, run storage, compute logs), materialization metadata, errors or dlt's
working files, in success or failure, with dlt logging at DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import SourceConfig
from crm_assets.load.redaction import secret_forms
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.volume import Volume
from crm_assets.defs.names import NIGHTLY_SELECTION
from crm_assets_tests.helpers import (
    expected_counts,
    files_containing,
    table_counts,
    unpaced_budgets,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_cli_loads_every_source_and_no_secret_leaks_from_succeeding_or_failing_runs(
    configs: list[SourceConfig], tmp_path: Path
):
    wrong_key = f"wrong-key-{uuid.uuid4().hex}"
    home, pipelines = tmp_path / "dagster_home", tmp_path / "dlt_pipelines"
    home.mkdir()
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    with Sandbox(configs, volume=Volume(default=10), secret_suffix=f"-{uuid.uuid4().hex}") as sandbox:
        # Two normalize workers for lead_crm's pipeline (dlt reads `<pipeline>__NORMALIZE__...`):
        # spawned processes log too, and must leak nothing either; one source's pool shows it
        # (each spawned worker imports dlt anew, seconds of CPU per source).
        # Pacing is not under test here: each source's budget raised (as an operator would).
        env = {
            **os.environ, **sandbox.env(), **unpaced_budgets(configs),
            "LEAD_CRM__NORMALIZE__WORKERS": "2",
            "DAGSTER_HOME": str(home), "CRM_PIPELINES_DIR": str(pipelines),
            "CRM_DUCKDB_PATH": str(tmp_path / "crm.duckdb"), "RUNTIME__LOG_LEVEL": "DEBUG",
        }
        secrets = [
            form
            for config in configs
            for form in secret_forms([sandbox.env()[name] for name in config.auth.env.values()])
        ] + [wrong_key, sandbox.pii_hash_key]

        def start(selection: str, name: str, env: dict[str, str] = env, **overrides: str):
            """A CLI run, its stdout and stderr going to outputs/<name>.out."""
            with (outputs / f"{name}.out").open("wb") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "dagster", "asset", "materialize",
                     "-m", "crm_assets.definitions", "--select", selection],
                    cwd=REPO, env={**env, **overrides}, stdout=out, stderr=subprocess.STDOUT,
                )

        def materialize(selection: str, name: str, env: dict[str, str] = env, **overrides: str) -> int:
            return start(selection, name, env, **overrides).wait(timeout=600)

        # One source's secret unset: the other four load; its step alone fails, naming it.
        without_password = {k: v for k, v in env.items() if k != "DEAL_CRM_PASSWORD"}
        assert materialize(NIGHTLY_SELECTION, "missing_secret", env=without_password) != 0
        missing = (outputs / "missing_secret.out").read_text()
        assert "deal_crm: DEAL_CRM_PASSWORD is not set; nothing was sent to its API" in missing
        assert "DagsterInvalidConfigError" not in missing
        assert sandbox.stats.requests and not any(
            key.startswith("deal_crm.") for key in sandbox.stats.requests
        )
        with dg.DagsterInstance.from_config(str(home)) as instance:
            materialized = {
                record.asset_entry.asset_key.path[0]
                for record in instance.get_asset_records()
                if record.asset_entry.last_materialization
            }
        assert materialized == {config.name for config in configs} - {"deal_crm"}
        # The succeeding run and the two failing ones at once, as separate processes (their
        # sources apart; the DuckDB file's lock orders them): each CLI process costs seconds
        # of start-up, and none of the three depends on another's outcome.
        sandbox.add_fault(Fault(path="/v1/task/tasks/list", status=429, times=4, retry_after=0.1))
        success = start("group:deal_crm", "success")
        unauthorized = start("group:lead_crm", "unauthorized", LEAD_CRM_API_KEY=wrong_key)
        rate_limited = start('key:"work_suite/tasks"', "rate_limited")
        assert success.wait(timeout=600) == 0
        assert unauthorized.wait(timeout=600) != 0
        assert rate_limited.wait(timeout=600) != 0
        for config in configs:
            expected = expected_counts(sandbox, config)
            loaded = table_counts(tmp_path / "crm.duckdb", config.name)
            assert {name: loaded[name][0] for name in expected} == expected, config.name

    # dlt only builds a pool (and logs its start method) for more than one normalize worker.
    assert b"Switching pool start method to `spawn`" in (outputs / "missing_secret.out").read_bytes()
    assert b"HTTP 401" in (outputs / "unauthorized.out").read_bytes()
    assert b"HTTP 429" in (outputs / "rate_limited.out").read_bytes()
    leaks = files_containing(secrets, outputs, home, pipelines, tmp_path / "crm.duckdb")
    assert leaks == []


def test_the_scan_finds_a_secret_where_there_is_one(tmp_path: Path):
    (tmp_path / "log.txt").write_text("GET /v1/lead?api_key=s3cr3t-value")
    assert files_containing(["s3cr3t-value"], tmp_path) == [f"s3cr3t-value in {tmp_path / 'log.txt'}"]
