"""Fetching concurrently inside each API's budget, asserted from the sandbox's own counters:
requests in flight, 429s, the rate each source was served at, sources fetching at once."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests

from crm_assets.config import RateLimitSpec, SourceConfig
from crm_assets.request_budget import RequestBudget, seconds_from_now
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency, Traffic
from crm_assets.extract import http_session
from crm_assets.defs.names import NIGHTLY_SELECTION
from crm_assets_tests.helpers import assert_tables_exact, materialization_metadata, materialize

REPO = Path(__file__).resolve().parent.parent


def _config(configs: list[SourceConfig], name: str) -> SourceConfig:
    return next(config for config in configs if config.name == name)


def test_a_source_with_a_child_path_keeps_several_requests_in_flight_never_past_its_max(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.traffic = Traffic(Latency(ms=50))
    sandbox.volume.overrides["party_crm.parties"] = 60  # 60 requests for their people
    result = materialize(instance, "group:party_crm")
    assert result.success
    traffic = sandbox.stats_json()["sources"]["party_crm"]
    assert 4 <= traffic["peak_in_flight"] <= 8  # max_concurrency's default
    assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path)
    # What the asset page shows is what the API saw.
    metadata = materialization_metadata(result)["party_crm/employees"]
    assert metadata["source_requests"] == traffic["requests"]
    assert metadata["source_peak_requests_in_flight"] == traffic["peak_in_flight"]
    assert metadata["source_answered_429"] == 0


def test_max_concurrency_from_the_env_caps_requests_in_flight(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance,
    duckdb_path: Path, monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PARTY_CRM_MAX_CONCURRENCY", "3")
    sandbox.traffic = Traffic(Latency(ms=50))
    sandbox.volume.overrides["party_crm.parties"] = 60
    assert materialize(instance, "group:party_crm").success
    assert sandbox.stats_json()["sources"]["party_crm"]["peak_in_flight"] == 3
    assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path)


@pytest.mark.parametrize(
    ("env_var", "value", "message"),
    [
        ("LEAD_CRM_RATE_LIMIT", "fast", "LEAD_CRM_RATE_LIMIT: 'fast' is not REQUESTS/SECONDS"),
        ("LEAD_CRM_MAX_CONCURRENCY", "0", "LEAD_CRM_MAX_CONCURRENCY: '0' is not an integer"),
    ],
)
def test_a_bad_budget_override_fails_the_run_naming_the_env_var_before_any_request(
    env_var: str, value: str, message: str, sandbox: Sandbox, instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv(env_var, value)
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert message in failure.event_specific_data.error.to_string()
    assert sandbox.stats_json()["sources"] == {}


def test_the_budget_keeps_threads_inside_the_api_rate_limit(
    sandbox: Sandbox, configs: list[SourceConfig]
):
    """Eight threads sharing one session and budget: no 429, and at least 0.85 of the rate."""
    limit = RateLimitSpec(requests=10, per_seconds=1)
    config = _config(configs, "lead_crm")
    budget = RequestBudget("lead_crm", limit, max_concurrency=8)
    base_url = sandbox.base_url("lead_crm")
    session = http_session(config, base_url, 8, budget=budget)
    params = {"api_key": sandbox.env()["LEAD_CRM_API_KEY"], "limit": 1}
    # The sandbox shares this process's GIL: its first answer (building the records) stalled
    # a thread's connect past the budget's headroom (~130 ms of a 1 s window). Let it build
    # them before the measured traffic; a new Traffic counts from zero.
    requests.get(base_url + "/v1/lead", params=params, timeout=10).raise_for_status()
    sandbox.traffic = Traffic(Latency(ms=20), {"lead_crm": limit})

    def get(_: int) -> int:
        return session.get(base_url + "/v1/lead", params=params, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(get, range(41))) == {200}
    traffic = sandbox.stats_json()["sources"]["lead_crm"]
    assert traffic["throttled"] == 0 and traffic["max_in_any_window"] <= 10
    assert traffic["accepted_rate"] >= 0.85 * 10
    assert budget.requests == 41 and budget.throttled == 0


def _fault_matrix(sandbox: Sandbox, config: SourceConfig) -> list[Fault]:
    """One burst 429 (Retry-After: 1, no rate headers), one 503 and one connection reset, each
    on the first page of another of the source's list resources."""
    paths = [r.resource.endpoint.path for r in sandbox.routes[config.name] if r.kind == "list"]
    return [
        Fault(path=paths[0], status=429, retry_after=1),
        Fault(path=paths[1], status=503),
        Fault(path=paths[2], kind="reset"),
    ]


def _cli_materialize_all(tmp_path: Path, run: str, env: dict[str, str]) -> None:
    home = tmp_path / f"dagster_home_{run}"
    home.mkdir()
    finished = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crm_assets.definitions",
         "--select", NIGHTLY_SELECTION],
        cwd=REPO, env={**os.environ, **env, "DAGSTER_HOME": str(home)},
        capture_output=True, text=True, timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]


@pytest.mark.slow
def test_every_source_at_once_under_rate_limits_and_faults_ends_exact_inside_its_budget(
    sandbox: Sandbox, configs: list[SourceConfig], tmp_path: Path, fast_retry_configs: Path
):
    """The CLI, as a user runs it: steps in their own processes, all sources at once, every API
    allowing 10 requests a second and answering the fault matrix. With the client budget set
    to that: no 429 from the limit, the budget reached, rows exact. Without a client budget
    (the API's 429s and headers pace it), the same: each source fetched within 1.3x of it."""
    rate = RateLimitSpec(requests=10, per_seconds=1)
    sandbox.volume.overrides["party_crm.parties"] = 60
    spans = {}
    for budget in ("10/1", "none"):
        sandbox.reset_stats()
        sandbox.traffic = Traffic(Latency(ms=20), {config.name: rate for config in configs})
        for config in configs:
            for fault in _fault_matrix(sandbox, config):
                sandbox.add_fault(fault)
        duckdb_path = tmp_path / f"{budget.replace('/', '_')}.duckdb"
        _cli_materialize_all(tmp_path, budget.replace("/", "_"), {
            "CRM_CONFIGS_DIR": str(fast_retry_configs),
            "CRM_DUCKDB_PATH": str(duckdb_path),
            "CRM_PIPELINES_DIR": str(tmp_path / f"{budget.replace('/', '_')}_pipelines"),
            **{config.rate_limit_env: budget for config in configs},
        })
        assert all(fault.times == 0 for fault in sandbox.faults)
        sandbox.faults.clear()
        stats = sandbox.stats_json()
        for config in configs:
            assert_tables_exact(sandbox, config, duckdb_path, budget)
        spans[budget] = {
            name: traffic["busy_seconds"] for name, traffic in stats["sources"].items()
            # A second's difference is noise for a source of a few dozen requests (lead_crm's
            # 2.1 s against 1.3 s was seen): compared where the budget paces for seconds.
            if traffic["accepted"] >= 40
        }
        if budget == "none":
            continue
        for source, traffic in stats["sources"].items():
            assert traffic["throttled"] == 0, source
            assert traffic["max_in_any_window"] <= 10, source
            if traffic["accepted"] >= 40:
                # The budget is used, not wasted: 8.4/s was seen with the CPU shared by three
                # test processes; pacing that loses a window per second would be far below.
                assert traffic["accepted_rate"] >= 0.75 * 10, (source, traffic)
        assert stats["sources_fetching_at_once"] >= 2, stats
    assert spans["10/1"].keys() == spans["none"].keys() and len(spans["none"]) >= 2, spans
    for source, span in spans["10/1"].items():
        assert span <= 1.3 * spans["none"][source], spans


def test_a_storm_on_one_resource_fails_naming_it_while_the_others_fetch_in_parallel(
    sandbox: Sandbox, instance: dg.DagsterInstance, fast_retry_configs: Path
):
    """dlt closes the other resources' generators mid-request: the error still names the
    resource and status that failed (not a closed generator or a pool shutdown)."""
    sandbox.traffic = Traffic(Latency(ms=30))
    sandbox.volume.overrides.update({"lead_crm.account": 450, "lead_crm.contact": 450})
    sandbox.add_fault(Fault(path="/v1/lead", kind="status", status=503, times=10))
    result = materialize(instance, "group:lead_crm", fast_retry_configs, raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = failure.event_specific_data.error.to_string()
    assert "lead_crm/lead: GET /lead_crm/v1/lead answered HTTP 503" in message
    assert "generator already executing" not in message


def _burn_cpu_until(stop: Any) -> None:
    while not stop.is_set():
        pass


def test_parallel_extraction_under_cpu_load_loads_every_row_once(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance, duckdb_path: Path
):
    """Children fetched per parent row in dlt's pool, answers jittering, both cores busy
    (dlt's parallel extraction once raised "generator already executing" under such load)."""
    sandbox.traffic = Traffic(Latency(ms=5, jitter_ms=20))
    sandbox.volume.overrides["party_crm.parties"] = 150
    # Stopped by an event, not SIGTERM (Pool.terminate): a process may inherit SIGTERM ignored
    # (seen under CI), and the pool's join then hung.
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    burners = [spawn.Process(target=_burn_cpu_until, args=(stop,)) for _ in range(2)]
    for burner in burners:
        burner.start()
    try:
        # One run: the burners take both cores from the rest of the suite while it lasts.
        result = materialize(instance, "group:party_crm", raise_on_error=False)
        assert result.success, [
            e.event_specific_data.error.to_string() for e in result.all_events
            if e.is_step_failure
        ]
        assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path)
    finally:
        stop.set()
        for burner in burners:
            burner.join(timeout=10)
            if burner.is_alive():
                burner.kill()


@pytest.mark.parametrize("rate_headers", [True, False], ids=["rate_headers", "retry_after_only"])
@pytest.mark.parametrize("client_budget", ["none", "50/1"])
def test_a_plan_unknown_or_smaller_than_configured_ends_exact_with_few_429s(
    client_budget: str, rate_headers: bool, sandbox: Sandbox, configs: list[SourceConfig],
    instance: dg.DagsterInstance, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch,
):
    """The account allows 5 requests per 2 s; the client knows no limit, or a larger one. The
    API's X-RateLimit-Remaining/Reset pace the requests where it sends them, its 429s' pauses
    where not (past a 429, one request probes first); no request runs through its retries (3)
    and every row arrives once."""
    monkeypatch.setenv("LEAD_CRM_RATE_LIMIT", client_budget)
    sandbox.traffic = Traffic(
        rate_limits={"lead_crm": RateLimitSpec(requests=5, per_seconds=2)}, rate_headers=rate_headers
    )
    sandbox.volume.overrides.update({f"lead_crm.{name}": 450 for name in ("account", "contact")})
    result = materialize(instance, "group:lead_crm")
    assert result.success
    traffic = sandbox.stats_json()["sources"]["lead_crm"]
    assert traffic["requests"] > 10 and traffic["busy_seconds"] >= 2  # it had to wait
    # The first wave (max_concurrency, 8), then the probes as the in-flight cap climbs back:
    # 6-8 refusals of ~23 requests on an idle machine without rate headers, 11 under load.
    assert traffic["throttled"] <= 2 * 8
    assert traffic["max_in_any_window"] <= 5
    metadata = materialization_metadata(result)["lead_crm/lead"]
    assert metadata["source_answered_429"] == traffic["throttled"]
    assert_tables_exact(sandbox, _config(configs, "lead_crm"), duckdb_path)


def test_rate_limit_headers_read_as_seconds_from_now():
    now = time.time()
    assert seconds_from_now("3", now) == 3
    assert seconds_from_now(str(int(now) + 5), now) == pytest.approx(5, abs=1)
    assert seconds_from_now(formatdate(now + 7, usegmt=True), now) == pytest.approx(7, abs=1)
    assert seconds_from_now("-2", now) == 0
    assert seconds_from_now("soon", now) is None and seconds_from_now(None, now) is None
