"""One job per source and its schedule, cron and timezone from the source's config."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # what define_asset_job returns; not re-exported
)

from crm_assets.config import SourceConfig

AUTOMATION_STATUS_ENV = "CRM_AUTOMATION_DEFAULT_STATUS"


def automation_default_status() -> dg.DefaultScheduleStatus:
    """Schedules and catch-up sensors ship STOPPED unless CRM_AUTOMATION_DEFAULT_STATUS=RUNNING."""
    status = (dg.EnvVar(AUTOMATION_STATUS_ENV).get_value() or "STOPPED").upper()
    return dg.DefaultScheduleStatus(status)


def source_job(config: SourceConfig) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=f"{config.name}_job",
        selection=dg.AssetSelection.groups(config.name),
        description=f"Load every resource of {config.name}, then run its asset checks.",
        tags={"crm/source": config.name},
    )


def source_schedule(config: SourceConfig, job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{config.name}_schedule",
        job=job,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        default_status=automation_default_status(),
        description=f"{config.name} at `{config.schedule.cron}` ({config.schedule.timezone}).",
    )
