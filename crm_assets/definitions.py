"""The code location: merges what the factories build from `configs/`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from crm_assets.config import load_source_configs
from crm_assets.connection_check.definitions import (
    connection_check_job,
    connection_check_sensor,
)
from crm_assets.defs.assets import build_source_assets
from crm_assets.defs.checks import build_source_checks
from crm_assets.defs.executors import executor_from_env
from crm_assets.defs.schedules import full_refresh_schedule, source_job, source_schedule
from crm_assets.defs.sensors import catch_up_sensor, run_failure_alert_sensor
from crm_assets.project_files import configs_dir as configured_configs_dir
from crm_assets.resources import (
    AlertWebhookResource,
    DestinationResource,
    PiiHashKeyResource,
    SourceApisResource,
)


def build_definitions(configs_dir: Path | None = None) -> dg.Definitions:
    configs_dir = configs_dir or configured_configs_dir()
    configs = load_source_configs(configs_dir)
    destination_name = DestinationResource.configured_name()
    pipelines_dir = DestinationResource.configured_pipelines_dir()
    check_connections = connection_check_job(configs)
    # What loads on its own: each source, or each account of a source that lists accounts.
    loads = [load for config in configs for load in config.account_loads()]
    return dg.Definitions(
        executor=executor_from_env(len(loads), destination_name),
        assets=[
            *(build_source_assets(load, destination_name, pipelines_dir) for load in loads),
            *(
                build_source_assets(load, destination_name, pipelines_dir, windows=True)
                for load in loads
                if load.windowed_resources()
            ),
        ],
        asset_checks=[build_source_checks(load) for load in loads],
        jobs=[*(source_job(config) for config in configs), check_connections],
        schedules=[
            *(source_schedule(config) for config in configs),
            *filter(None, (full_refresh_schedule(config) for config in configs)),
        ],
        sensors=[
            *(catch_up_sensor(config) for config in configs),
            run_failure_alert_sensor(configs),
            connection_check_sensor(check_connections),
        ],
        resources={
            "destination": DestinationResource.from_env(),
            "source_apis": SourceApisResource.from_env(configs),
            "pii": PiiHashKeyResource.from_env(),
            "alerts": AlertWebhookResource.from_env(),
        },
    )


defs = build_definitions()
