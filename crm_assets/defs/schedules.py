"""One job per source and its schedules (the daily load; optionally a periodic full refresh),
cron and timezone from the source's config."""

from __future__ import annotations

import dagster as dg

from crm_assets.config import SourceConfig
from crm_assets.defs import names
from crm_assets.resources.env import env_value

AUTOMATION_STATUS_ENV = "CRM_AUTOMATION_DEFAULT_STATUS"


def automation_default_status() -> dg.DefaultScheduleStatus:
    """Schedules and catch-up sensors ship STOPPED unless CRM_AUTOMATION_DEFAULT_STATUS=RUNNING."""
    status = env_value(AUTOMATION_STATUS_ENV, "STOPPED").upper()
    return dg.DefaultScheduleStatus(status)


def source_job(config: SourceConfig):  # noqa: ANN201 (its class is not public)
    """Resolved against the assets by Definitions; schedules and sensors name it."""
    return dg.define_asset_job(
        name=names.of(config.name).job,
        selection=dg.AssetSelection.groups(names.of(config.name).group),
        description=f"Load every resource of {config.name}, then run its asset checks.",
        tags={names.SOURCE_TAG: config.name},
    )


def source_schedule(config: SourceConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=names.of(config.name).schedule,
        job_name=names.of(config.name).job,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        default_status=automation_default_status(),
        description=f"{config.name} at `{config.schedule.cron}` ({config.schedule.timezone}).",
    )


def full_refresh_schedule(config: SourceConfig) -> dg.ScheduleDefinition | None:
    """The source's periodic full refresh of the resources that cannot see deletions (an
    incremental cursor asks only for changes): their tables and cursors are dropped and read
    again, so records deleted upstream are gone. Resources read completely (which mark
    deletions or keep history) are not selected: a refresh would drop what they keep."""
    spec = config.full_refresh_schedule
    if spec is None:
        return None
    resources = [r.name for r in config.cannot_see_deletions()]
    keys = [
        names.asset_key(config.name, resource, load.account_name)
        for load in config.account_loads()
        for resource in resources
    ]
    listed = ", ".join(resources)

    @dg.schedule(
        name=names.of(config.name).full_refresh_schedule,
        job_name=names.of(config.name).job,
        cron_schedule=spec.cron,
        execution_timezone=spec.timezone,
        default_status=automation_default_status(),
        description=f"Full refresh of {config.name}'s incremental resources ({listed}) at "
        f"`{spec.cron}` ({spec.timezone}), so deletions upstream leave their tables.",
    )
    def full_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            asset_selection=keys,
            # Drops the selected tables and incremental cursors first, then loads everything.
            tags={names.SOURCE_TAG: config.name, names.FULL_REFRESH_TAG: "true"},
        )

    return full_refresh
