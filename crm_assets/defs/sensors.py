"""Sensors: catch up stale sources, and report failed runs without leaking secrets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dagster as dg

from crm_assets.config import SourceConfig
from crm_assets.defs import names
from crm_assets.defs.schedules import automation_default_status
from crm_assets.load.error_chain import error_chain
from crm_assets.resources import AlertWebhookResource


def catch_up_sensor(
    config: SourceConfig,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    """Requests a run of exactly the source's assets older than its freshness window (a failed
    run, a daemon that was down), at most once per window; the cursor keeps the last request.
    `clock` lets tests look at the instance from a later time."""
    window = timedelta(hours=config.freshness_hours)
    window_text = f"{config.freshness_hours:g} hours"
    keys = [
        names.asset_key(config.name, resource.name, load.account_name)
        for load in config.account_loads()
        for resource in config.resources
    ]

    @dg.sensor(
        name=names.of(config.name).catch_up_sensor,
        job_name=names.of(config.name).job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus(automation_default_status().value),
        description=f"Re-loads {config.name} assets not materialized within {window_text}.",
    )
    def catch_up(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        now = clock()
        last_request = float(context.cursor) if context.cursor else None
        if last_request is not None and now - last_request < window.total_seconds():
            return dg.SkipReason(f"a catch-up run was requested {now - last_request:.0f} s ago")
        materialized_at = {
            record.asset_entry.asset_key: record.asset_entry.last_materialization.timestamp
            for record in context.instance.get_asset_records(keys)
            if record.asset_entry.last_materialization is not None
        }
        stale = [
            key
            for key in keys
            if key not in materialized_at or now - materialized_at[key] > window.total_seconds()
        ]
        if not stale:
            return dg.SkipReason(f"every {config.name} asset was materialized within {window_text}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    asset_selection=stale,
                    tags={names.SOURCE_TAG: config.name, names.TRIGGER_TAG: "catch_up"},
                )
            ],
            cursor=str(now),
        )

    return catch_up


def _error_class(event: dg.DagsterEvent) -> str | None:
    """What failed, never the message: our load failures name their cause's class in metadata;
    other errors give the innermost class of their chain."""
    data = event.event_specific_data
    failure_metadata = data.user_failure_data.metadata if data and data.user_failure_data else {}
    if "error_class" in failure_metadata:
        return failure_metadata["error_class"].value
    chain = list(error_chain(data.error if data else None))
    return chain[-1].cls_name if chain else None


def failure_report(
    context: dg.RunFailureSensorContext, loads: set[tuple[str, str | None]]
) -> dict[str, Any]:
    run = context.dagster_run
    steps = names.StepNames(loads)
    failed_steps = {event.step_key: _error_class(event) for event in context.get_step_failure_events()}
    failed_sources = sorted({steps.source(step) for step in failed_steps} - {None})
    failed_accounts = sorted({steps.label(step) for step in failed_steps} - {None} - set(failed_sources))
    assets = sorted(
        key.to_user_string()
        for key in (run.asset_selection or [])
        if names.source_of(key) in failed_sources
    )
    # A run of assets names them (all of a source's when it ran the whole job); a connection
    # check touches none.
    loaded = {
        steps.source(step) for step in failed_steps if steps.kind(step) != "connection_check"
    }
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "sources": failed_sources,
        **({"accounts": failed_accounts} if failed_accounts else {}),
        "assets": assets or [f"{source}/*" for source in failed_sources if source in loaded],
        "error_classes": failed_steps,
    }


def run_failure_alert_sensor(configs: list[SourceConfig]) -> dg.SensorDefinition:
    loads = {(load.name, load.account_name) for config in configs for load in config.account_loads()}

    @dg.run_failure_sensor(
        name=names.RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Logs each failed run (source, assets, error class) and posts it to the "
        "alert webhook when CRM_ALERT_WEBHOOK_URL is set.",
    )
    def alert_on_failure(context: dg.RunFailureSensorContext, alerts: AlertWebhookResource) -> None:
        report = failure_report(context, loads)
        context.log.error(
            f"crm run {report['run_id']} failed: sources {report['sources']}, "
            f"assets {report['assets']}, errors {report['error_classes']}"
        )
        alerts.post(report)

    return alert_on_failure
