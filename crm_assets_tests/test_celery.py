"""CRM_EXECUTOR=celery on real processes: `dagster-celery` workers on a real broker, Dagster's
storage and the destination on a real Postgres, runs launched with the CLI. Each worker is a
machine of its own (celery_cluster.py); nothing mocked."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import redis

from crm_assets.defs import names
from crm_assets.defs.checks import source_check_specs
from crm_assets.config import SourceConfig
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency, Traffic
from crm_assets.defs.names import NIGHTLY_SELECTION
from crm_assets_tests.celery_cluster import (
    BIN,
    Cluster,
    finish,
    rabbitmq_vhost,
    require_rabbitmq,
    steps_by_worker,
    storage_env,
)
from crm_assets_tests.helpers import assert_tables_exact
from crm_assets_tests.postgres import fresh_database, require_postgres
from crm_assets_tests.services import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("celery")]


@pytest.fixture
def cluster(
    sandbox: Sandbox, budget_not_under_test: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """Pacing is not under test here (test_throttling): the machines' env raises every budget."""
    require_postgres()
    require_rabbitmq()
    with (
        fresh_database("celery_storage") as storage_url,
        fresh_database("celery_destination") as destination_url,
        rabbitmq_vhost() as broker_url,
    ):
        for name, value in {
            "CRM_EXECUTOR": "celery",
            "CRM_DESTINATION": "postgres",
            "CRM_POSTGRES_URL": destination_url,
            "CRM_CELERY_BROKER_URL": broker_url,
            "CRM_CELERY_BACKEND_URL": "rpc://",
            **storage_env(storage_url),
        }.items():
            monkeypatch.setenv(name, value)
        cluster = Cluster(tmp_path, dict(os.environ))
        try:
            yield cluster
        finally:
            cluster.stop()


def _run_ids(instance: dg.DagsterInstance) -> list[str]:
    """Oldest first."""
    return [run.run_id for run in reversed(instance.get_runs())]


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, bool]]:
    return [
        (data.asset_key.to_user_string(), data.check_name, data.passed)
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        for data in [entry.dagster_event.event_specific_data]
    ]


def _step_window(instance: dg.DagsterInstance, run_id: str, step_key: str) -> tuple[float, float]:
    times = {
        entry.dagster_event.event_type: entry.timestamp
        for entry in instance.all_logs(run_id)
        if entry.step_key == step_key and entry.dagster_event is not None
    }
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


def test_every_source_spreads_over_two_workers_and_a_worker_without_local_state_resumes_cursors(
    cluster: Cluster, sandbox: Sandbox, configs: list[SourceConfig]
):
    sandbox.volume.overrides["lead_crm.lead"] = 500
    machines = {m.worker_hostname: m for m in cluster.start_workers("w1", "w2")}
    launcher = cluster.machine("launcher")
    code, output = finish(launcher.materialize(NIGHTLY_SELECTION))
    assert code == 0, output[-4000:]

    instance = cluster.instance()
    [run_id] = _run_ids(instance)
    ran_on = dict(steps_by_worker(instance, run_id))
    sources = {config.name for config in configs}
    assert set(ran_on) == sources | {f"{source}_checks" for source in sources}
    assert set(ran_on.values()) == set(machines)
    destination = cluster.env["CRM_POSTGRES_URL"]
    for config in configs:
        assert_tables_exact(sandbox, config, destination)
    evaluations = _check_evaluations(instance, run_id)
    assert len(evaluations) == sum(len(source_check_specs(c)) for c in configs)
    assert [e for e in evaluations if not e[2]] == []

    # The cursor lives in the destination only: the worker that did not load lead_crm, its
    # dlt directory emptied, asks the API for the lag window, not for everything again.
    machines.pop(ran_on["lead_crm"]).stop_worker()
    [other] = machines.values()
    shutil.rmtree(other.pipelines_dir)
    sandbox.reset_stats()
    code, output = finish(launcher.materialize("group:lead_crm"))
    assert code == 0, output[-4000:]
    assert steps_by_worker(instance, _run_ids(instance)[-1]) == [
        ("lead_crm", other.worker_hostname), ("lead_crm_checks", other.worker_hostname),
    ]
    # `updated_at` of record n is minute n; the cursor's 1 h lag re-reads 61 records.
    assert sandbox.stats.rows["lead_crm.lead"] == 61
    [lead_crm] = [config for config in configs if config.name == "lead_crm"]
    assert_tables_exact(sandbox, lead_crm, destination, "after the run on the other worker")


def test_a_worker_killed_mid_load_hands_the_step_to_the_other_and_no_row_is_lost_or_doubled(
    cluster: Cluster, sandbox: Sandbox, configs: list[SourceConfig]
):
    # 2,501 tickets at 100 a page, each answer 150 ms late: the load lasts several seconds.
    sandbox.volume.overrides["success_analytics.tickets"] = 2501
    sandbox.traffic = Traffic(Latency(ms=150))
    machines = {m.worker_hostname: m for m in cluster.start_workers("w1", "w2")}
    instance = cluster.instance()
    run = cluster.machine("launcher").materialize("group:success_analytics")

    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline and run.poll() is None, "the step never started"
        started = [
            (step, worker)
            for run_id in _run_ids(instance)
            for step, worker in steps_by_worker(instance, run_id)
            if step == "success_analytics"
        ]
        if started and sandbox.stats.rows["success_analytics.tickets"] >= 500:
            break
        time.sleep(0.2)
    [(_, first_worker)] = started
    machines[first_worker].kill()

    code, output = finish(run)
    assert code == 0, output[-4000:]
    [run_id] = _run_ids(instance)
    [other_worker] = set(machines) - {first_worker}
    # The broker gave the unacknowledged step to the surviving worker, which started over
    # from the state in the destination; the run's log shows both attempts.
    assert [w for s, w in steps_by_worker(instance, run_id) if s == "success_analytics"] == [
        first_worker, other_worker
    ]
    assert all(passed for _, _, passed in _check_evaluations(instance, run_id))
    [success_analytics] = [config for config in configs if config.name == "success_analytics"]
    destination = cluster.env["CRM_POSTGRES_URL"]
    assert_tables_exact(sandbox, success_analytics, destination, "after the kill")

    sandbox.traffic = Traffic()
    code, output = finish(cluster.machine("launcher").materialize("group:success_analytics"))
    assert code == 0, output[-4000:]
    assert_tables_exact(sandbox, success_analytics, destination, "after the next run")


@pytest.fixture
def redis_broker(cluster: Cluster) -> Iterator[str]:
    """Redis as the broker and result backend, on a database of its own for the test."""
    database = random.randrange(1, 16)
    url = f"redis://127.0.0.1:6379/{database}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        unavailable("CELERY", "Redis is not running on 127.0.0.1:6379", "CRM_REQUIRE_BROKER")
    client.flushdb()
    cluster.env.update(CRM_CELERY_BROKER_URL=url, CRM_CELERY_BACKEND_URL=url)
    yield url
    client.flushdb()


def test_two_runs_of_one_source_at_once_take_turns_across_workers_over_redis(
    cluster: Cluster, redis_broker: str, sandbox: Sandbox, configs: list[SourceConfig]
):
    sandbox.traffic = Traffic(Latency(ms=50))
    # Once per deployment (docs/celery.md): an explicit limit, because two runs that create a pool's
    # default limit at the same moment fail on Postgres (dagster-io/dagster#33552).
    launcher = cluster.machine("launcher")
    subprocess.run(
        [str(BIN / "dagster"), "instance", "concurrency", "set", names.of("lead_crm").pool, "1"],
        env=launcher.env, cwd=launcher.root, check=True, capture_output=True,
    )
    cluster.start_workers("w1", "w2")
    launchers = [cluster.machine("launcher"), cluster.machine("launcher2")]
    runs = [launcher.materialize("group:lead_crm") for launcher in launchers]
    for run in runs:
        code, output = finish(run)
        assert code == 0, output[-4000:]

    instance = cluster.instance()
    run_ids = _run_ids(instance)
    first, second = sorted(_step_window(instance, run_id, "lead_crm") for run_id in run_ids)
    started = [
        entry.timestamp
        for run_id in run_ids
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    ]
    # Both runs were under way while the first load ran, and the second load waited for it:
    # pool crm_source/lead_crm holds one slot in Postgres, whichever machine asks.
    assert max(started) < first[1] <= second[0]
    [lead_crm] = [config for config in configs if config.name == "lead_crm"]
    assert_tables_exact(sandbox, lead_crm, cluster.env["CRM_POSTGRES_URL"])
