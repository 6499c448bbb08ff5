"""The connection check over HTTP against the sandbox: one smallest-page request per API,
classified (reachable, unauthorized, forbidden, refused, DNS, timeout), timed, with the
rate-limit headroom the API sends, and no secret in anything it reports; as a Dagster job, a
CLI and an hourly sensor alerting through the failure webhook."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import RateLimitSpec, SourceConfig
from crm_assets.connection_check.__main__ import main
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.ports import free_port
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency
from crm_assets_tests.helpers import alert_on_failed_run, definitions

REPO = Path(__file__).resolve().parent.parent
WRONG_KEY = "wrong-key-5e0c3a"


@pytest.fixture
def limited_sandbox(
    configs: list[SourceConfig], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """Every API, lead_crm with a published rate limit (X-RateLimit-* headers)."""
    limits = {"lead_crm": RateLimitSpec(requests=10, per_seconds=60)}
    with Sandbox(configs, rate_limits=limits) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


def _check(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = definitions().resolve_job_def("connection_check")
    return job.execute_in_process(instance=instance, raise_on_error=False)


def _reported(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each source's result as the run's metadata shows it (output or failure)."""
    reported = {}
    for event in result.all_events:
        if event.is_successful_output:
            metadata = event.event_specific_data.metadata
        elif event.is_step_failure:
            metadata = event.event_specific_data.user_failure_data.metadata
        else:
            continue
        reported[event.step_key.removesuffix("_connection_check")] = {
            name: value.value for name, value in metadata.items()
        }
    return reported


def _everything_recorded(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(dg.serialize_value(entry) for entry in instance.all_logs(run_id))


def test_every_api_answers_one_smallest_page_with_latency_and_rate_limit_headroom(
    limited_sandbox: Sandbox, instance: dg.DagsterInstance, configs: list[SourceConfig]
):
    result = _check(instance)
    assert result.success
    reported = _reported(result)
    assert set(reported) == {config.name for config in configs}
    for source, shown in reported.items():
        assert (shown["status"], shown["http_status"]) == ("reachable", 200), source
        assert shown["latency_ms"] > 0 and shown["request"].startswith(f"GET /{source}/")
    # One request per API, and at most one record served: nothing was loaded.
    assert sorted(limited_sandbox.traffic.as_json()) == sorted(reported)
    assert all(t["requests"] == 1 for t in limited_sandbox.traffic.as_json().values())
    assert all(rows <= 1 for rows in limited_sandbox.stats.rows.values())
    lead = reported["lead_crm"]
    assert (lead["rate_limit_limit"], lead["rate_limit_remaining"]) == (10, 9)
    assert 0 < lead["rate_limit_reset_seconds"] <= 60
    assert "rate_limit_remaining" not in reported["deal_crm"]


def test_each_failure_is_classified_fails_the_job_alerts_and_shows_no_secret(
    limited_sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch,
    webhook, capfd: pytest.CaptureFixture[str],
):
    monkeypatch.setenv("LEAD_CRM_API_KEY", WRONG_KEY)
    limited_sandbox.add_fault(Fault(path="/api/v2/users", kind="status", status=403))
    monkeypatch.setenv("WORK_SUITE_BASE_URL", f"http://127.0.0.1:{free_port()}/work_suite")
    monkeypatch.setenv("SUCCESS_ANALYTICS_BASE_URL", "http://crm-check.invalid/api")
    result = _check(instance)

    assert not result.success
    statuses = {source: shown["status"] for source, shown in _reported(result).items()}
    assert statuses == {
        "deal_crm": "reachable",
        "lead_crm": "unauthorized",
        "party_crm": "forbidden",
        "work_suite": "connection_refused",
        "success_analytics": "dns_error",
    }
    assert _reported(result)["lead_crm"]["http_status"] == 401

    alert_on_failed_run(instance, result, webhook.url)
    [report] = webhook
    assert report["job"] == "connection_check" and report["assets"] == []
    assert report["sources"] == ["lead_crm", "party_crm", "success_analytics", "work_suite"]
    assert report["error_classes"] == {
        "lead_crm_connection_check": "unauthorized",
        "party_crm_connection_check": "forbidden",
        "success_analytics_connection_check": "dns_error",
        "work_suite_connection_check": "connection_refused",
    }
    printed = capfd.readouterr()
    for recorded in (_everything_recorded(instance, result.run_id), json.dumps(report),
                     printed.out + printed.err):
        assert "lead_crm_connection_check" in recorded or "lead_crm" in recorded
        assert WRONG_KEY not in recorded and "api_key=" not in recorded


def test_a_slow_answer_times_out_or_is_timed(
    configs: list[SourceConfig], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    with Sandbox(configs, latency=Latency(ms=600)) as slow:
        for name, value in slow.env().items():
            monkeypatch.setenv(name, value)
        assert main(["deal_crm", "--timeout", "0.2", "--json"]) == 1
        timed_out = json.loads(capsys.readouterr().out)
        assert main(["deal_crm", "--timeout", "5", "--json"]) == 0
        answered = json.loads(capsys.readouterr().out)
    assert timed_out["status"] == "timeout" and 200 <= timed_out["latency_ms"] < 600
    assert answered["status"] == "reachable" and answered["latency_ms"] >= 600


def test_the_cli_prints_a_line_per_source_and_exits_non_zero_naming_the_failure(
    limited_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LEAD_CRM_API_KEY", WRONG_KEY)
    run = subprocess.run(
        [sys.executable, "-m", "crm_assets.connection_check"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "deal_crm", "lead_crm", "party_crm", "success_analytics", "work_suite"
    ]
    assert lines[1].startswith("lead_crm: unauthorized, HTTP 401, ")
    assert all(": reachable, HTTP 200, " in line for i, line in enumerate(lines) if i != 1)
    assert WRONG_KEY not in run.stdout + run.stderr


def test_the_cli_names_a_missing_secret_and_rejects_an_unknown_source(
    limited_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("DEAL_CRM_PASSWORD")
    assert main(["deal_crm", "lead_crm"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "deal_crm: missing_secret, DEAL_CRM_PASSWORD not set"
    )
    assert sum(limited_sandbox.stats.requests.values()) == 1  # lead_crm's only
    with pytest.raises(SystemExit) as exited:
        main(["no_such_api"])
    assert exited.value.code == 2


def test_the_hourly_sensor_is_off_by_default_and_requests_the_check(instance: dg.DagsterInstance):
    sensor = definitions().resolve_sensor_def("connection_check_hourly")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 3600
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert len(tick.run_requests) == 1 and sensor.job_name == "connection_check"
