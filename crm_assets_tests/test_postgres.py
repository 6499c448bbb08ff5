"""Postgres as the destination and as Dagster's storage, on a real server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import psycopg2
import pytest

from crm_assets.defs.checks import source_check_specs
from crm_assets.config import SourceConfig
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import assert_tables_exact, definitions, materialize
from crm_assets_tests.postgres import fresh_database, require_postgres

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.usefixtures("budget_not_under_test")
@pytest.mark.slow
def test_every_source_loads_into_postgres_exactly_reruns_without_duplicates_and_passes_checks(
    sandbox: Sandbox, postgres_url: str, configs: list[SourceConfig], instance: dg.DagsterInstance
):
    sandbox.volume.default = 25
    sandbox.volume.overrides["success_analytics.tickets"] = 2501
    for run in (1, 2):
        # Every check on the first run's tables; the re-run is about the merge.
        result = materialize(instance, checks=run == 1)
        assert result.success
        for config in configs:
            assert_tables_exact(sandbox, config, postgres_url, f"after run {run}")
        failed = [
            (e.asset_key.to_user_string(), e.check_name)
            for e in result.get_asset_check_evaluations()
            if not e.passed
        ]
        assert failed == [] and len(result.get_asset_check_evaluations()) == (run == 1) * sum(
            len(source_check_specs(config)) for config in configs
        )
    kinds = definitions().resolve_asset_graph().get(dg.AssetKey(["lead_crm", "lead"])).kinds
    assert "postgres" in kinds


def test_a_postgres_url_without_password_fails_with_a_clear_message(
    postgres_url: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    parsed = urlparse(postgres_url)
    monkeypatch.setenv("CRM_POSTGRES_URL", parsed._replace(netloc=f"{parsed.username}@{parsed.hostname}:{parsed.port}").geturl())
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "CRM_POSTGRES_URL has no password" in failure.event_specific_data.error.message


@pytest.fixture
def production_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dg.DagsterInstance, str]]:
    require_postgres()
    with fresh_database("dagster_storage") as url:
        parsed = urlparse(url)
        for name, value in {
            "DAGSTER_PG_HOST": parsed.hostname, "DAGSTER_PG_PORT": str(parsed.port),
            "DAGSTER_PG_DB": parsed.path.lstrip("/"), "DAGSTER_PG_USERNAME": parsed.username,
            "DAGSTER_PG_PASSWORD": parsed.password,
        }.items():
            monkeypatch.setenv(name, value)
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "dagster.prod.yaml", home / "dagster.yaml")
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            yield instance, url
        finally:
            instance.dispose()


def test_the_production_instance_keeps_runs_and_schedule_ticks_in_postgres(
    sandbox: Sandbox, production_instance: tuple[dg.DagsterInstance, str]
):
    instance, storage_url = production_instance
    defs = definitions()
    schedule = defs.resolve_schedule_def("lead_crm_schedule")
    tick_time = datetime(2026, 11, 26, 1, 30, tzinfo=timezone.utc)
    tick = schedule.evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick_time)
    )
    [request] = tick.run_requests
    job = defs.resolve_job_def("lead_crm_job")
    result = job.execute_in_process(instance=instance, tags={**request.tags, "dagster/schedule_name": schedule.name})
    assert result.success

    with psycopg2.connect(storage_url) as connection, connection.cursor() as cursor:
        cursor.execute("select run_id, pipeline_name, status from runs")
        assert cursor.fetchall() == [(result.run_id, "lead_crm_job", "SUCCESS")]
        cursor.execute(
            "select count(*) from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
            [result.run_id],
        )
        assert cursor.fetchone()[0] == 4
    assert instance.get_run_by_id(result.run_id).tags["dagster/schedule_name"] == "lead_crm_schedule"
