"""Sensors evaluated with Dagster's own contexts against a real instance."""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest

from crm_assets.config import SourceConfig
from crm_assets.sandbox.server import Sandbox
from crm_assets.defs.sensors import catch_up_sensor
from crm_assets_tests.helpers import alert_on_failed_run, definitions, materialize

LEAD_KEYS = {dg.AssetKey(["lead_crm", name]) for name in ("account", "contact", "lead", "opportunity")}


def test_catch_up_requests_exactly_the_stale_assets_at_most_once_per_window(
    configs: list[SourceConfig], instance: dg.DagsterInstance
):
    lead_crm = next(config for config in configs if config.name == "lead_crm")
    window = lead_crm.freshness_hours * 3600
    stale_key = dg.AssetKey(["lead_crm", "lead"])
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=stale_key))
    lead_loaded_at = time.time()
    time.sleep(1.0)
    for key in LEAD_KEYS - {stale_key}:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))

    def sensor_seen_at(now: float) -> dg.SensorDefinition:
        return catch_up_sensor(lead_crm, clock=lambda: now)

    fresh = sensor_seen_at(lead_loaded_at + 60).evaluate_tick(dg.build_sensor_context(instance=instance))
    assert not fresh.run_requests and "materialized within" in fresh.skip_message

    later = lead_loaded_at + window + 0.5  # `lead` is past the window, the others are not yet
    first = sensor_seen_at(later).evaluate_tick(dg.build_sensor_context(instance=instance))
    assert [set(request.asset_selection) for request in first.run_requests] == [{stale_key}]
    assert first.cursor == str(later)

    again = sensor_seen_at(later + 5).evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=first.cursor)
    )
    assert not again.run_requests and "requested 5 s ago" in again.skip_message

    next_window = sensor_seen_at(later + window + 1).evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=first.cursor)
    )
    assert [set(request.asset_selection) for request in next_window.run_requests] == [LEAD_KEYS]


def test_catch_up_requests_never_materialized_assets(instance: dg.DagsterInstance):
    sensor = definitions().resolve_sensor_def("lead_crm_catch_up")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert [set(request.asset_selection) for request in result.run_requests] == [LEAD_KEYS]


def test_run_failure_sensor_posts_source_assets_and_error_class_but_no_secret(
    sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, webhook
):
    secret = "wrong-key-7d2e1"
    monkeypatch.setenv("LEAD_CRM_API_KEY", secret)
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    assert not result.success
    alert_on_failed_run(instance, result, webhook.url)

    assert len(webhook) == 1
    report = webhook[0]
    assert report["sources"] == ["lead_crm"]
    assert set(report["assets"]) == {key.to_user_string() for key in LEAD_KEYS}
    assert report["error_classes"] == {"lead_crm": "HTTPError"}
    assert secret not in json.dumps(report)

    window = materialize(
        instance, 'key:"lead_crm/windows/lead"', raise_on_error=False, partition_key="2025-01-01"
    )
    assert not window.success
    alert_on_failed_run(instance, window, webhook.url)
    assert (webhook[1]["sources"], webhook[1]["assets"]) == (["lead_crm"], ["lead_crm/windows/lead"])
    assert webhook[1]["error_classes"] == {"lead_crm_windows": "HTTPError"}
