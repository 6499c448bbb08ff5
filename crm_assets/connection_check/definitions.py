"""The connection check in Dagster: a job with one op per source (per account) (launch it, or select the
sources' ops), each reporting its result as metadata and failing when its API does not answer
as it should; and an hourly sensor running it, whose failed runs the run-failure alert posts
to the alert webhook."""

from collections.abc import Iterator

import dagster as dg

from crm_assets.config import SourceConfig
from crm_assets.connection_check.probe import check_connection
from crm_assets.defs import names
from crm_assets.defs.schedules import automation_default_status
from crm_assets.resources import SourceApisResource


class ConnectionCheckConfig(dg.Config):
    timeout_seconds: float = 10.0


def connection_check_op(source: SourceConfig) -> dg.OpDefinition:
    @dg.op(
        name=names.of(source.name, source.account_name).connection_check_step,
        out=dg.Out(dg.Nothing),
        description=f"One authenticated request to {source.label}: reachable, credentials "
        "accepted, latency, rate-limit headroom.",
    )
    def check(
        context: dg.OpExecutionContext, config: ConnectionCheckConfig, source_apis: SourceApisResource
    ) -> Iterator[dg.Output]:
        result = check_connection(source, source_apis.api(source), config.timeout_seconds)
        if not result.ok:
            # error_class is what the run-failure alert reports for the step.
            raise dg.Failure(
                description=result.line(), metadata={**result.metadata(), "error_class": result.status}
            )
        context.log.info(result.line())
        yield dg.Output(None, metadata=result.metadata())

    return check


def connection_check_job(configs: list[SourceConfig]) -> dg.JobDefinition:
    ops = [connection_check_op(load) for config in configs for load in config.account_loads()]

    # In one process: each op is one request, a process per op would cost more than it.
    @dg.job(
        name=names.CONNECTION_CHECK_JOB,
        executor_def=dg.in_process_executor,
        description="Whether each API answers and accepts its credentials; loads nothing.",
        tags={names.TRIGGER_TAG: "connection_check"},
    )
    def connection_check() -> None:
        for op in ops:
            op()

    return connection_check


def connection_check_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=names.CONNECTION_CHECK_SENSOR,
        job=job,
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus(automation_default_status().value),
        description="Runs the connection check every hour; a failed check alerts through the "
        "run-failure webhook.",
    )
    def hourly(context: dg.SensorEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest()

    return hourly
