"""The asset factory: one `dlt_assets` multi-asset per source config."""

import inspect
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource

from crm_assets.config import SourceConfig
from crm_assets.http_stats import HttpStats
from crm_assets.redaction import load_failure, redacted_logs, secret_forms
from crm_assets.request_budget import RequestBudget
from crm_assets.resources import DestinationResource, SourceApiResource
from crm_assets.source_builder import http_session, placeholder_source
from crm_assets.translator import CrmDltTranslator


# A run tagged crm/full_refresh=true, or configured with full_refresh, drops the selected
# resources' tables and incremental cursors first, then loads everything again.
FULL_REFRESH_TAG = "crm/full_refresh"


class LoadConfig(dg.Config):
    full_refresh: bool = False


def api_resource_key(config: SourceConfig) -> str:
    return f"{config.name}_api"


def _run_metadata(pipeline: dlt.Pipeline) -> dict[str, Any]:
    trace = pipeline.last_trace
    load_ids = trace.last_load_info.loads_ids if trace and trace.last_load_info else []
    return {
        "load_id": ",".join(load_ids),
        "duration_seconds": round((trace.finished_at - trace.started_at).total_seconds(), 3),
    }


def _row_counts(pipeline: dlt.Pipeline, tables: list[str]) -> dict[str, int]:
    """Rows now in each destination table; 0 where dlt made no table (no row ever came)."""
    existing = set(pipeline.default_schema.data_table_names()) if pipeline.default_schema_name else set()
    counts = dict.fromkeys(tables, 0)
    with pipeline.sql_client() as client:
        for table in tables:
            if table in existing:
                query = f"select count(*) from {client.make_qualified_table_name(table)}"
                counts[table] = client.execute_sql(query)[0][0]
    return counts


def _selected(context: dg.AssetExecutionContext, source: DltSource) -> DltSource:
    """The dlt resources behind the selected assets (key `[source, resource]`)."""
    if not context.is_subset:
        return source
    return source.with_resources(*(key.path[-1] for key in context.selected_asset_keys))


def run_in_steps(
    pipeline: dlt.Pipeline,
    source: DltSource,
    destination: DestinationResource,
    budget: RequestBudget,
    full_refresh: bool,
) -> tuple[LoadInfo, dict[str, int]]:
    """dlt's `pipeline.run`, step by step, so that only the steps that connect to the
    destination take a turn at it (`exclusive_connection`): sources fetch at the same time,
    even into one DuckDB file. Like dagster-dlt, start from the state kept in the destination
    (local state may belong to an unfinished run or another machine)."""
    pipeline.drop()
    with destination.exclusive_connection():
        pipeline.sync_destination()
    pipeline.extract(
        source,
        workers=budget.max_concurrency,
        refresh="drop_resources" if full_refresh else None,
        loader_file_format=destination.loader_file_format,
    )
    pipeline.normalize()
    with destination.exclusive_connection():
        load_info = pipeline.load()
        load_info.raise_on_failed_jobs()
        return load_info, _row_counts(pipeline, list(source.selected_resources))


def build_source_assets(source: SourceConfig, destination_name: str) -> dg.AssetsDefinition:
    """All resources of one source as one multi-asset; a run builds the real source from the
    source's API resource, so loading definitions needs no secret and sends no request."""
    api_key = api_resource_key(source)
    translator = CrmDltTranslator(source)

    def load_source(
        context: dg.AssetExecutionContext,
        config: LoadConfig,
        dlt: DagsterDltResource,
        destination: DestinationResource,
        **api: SourceApiResource,
    ) -> Iterator[Any]:
        source_api = api[api_key]
        base_url = source_api.validated_base_url(source)
        budget = source_api.request_budget(source)
        http_stats = HttpStats(source, base_url)
        session = budget.instrument(
            http_stats.instrument(http_session(source, base_url, budget.max_concurrency))
        )
        secrets = secret_forms(source_api.secret_values(source))
        full_refresh = (
            config.full_refresh or context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        )
        dlt_source = _selected(context, source_api.build_source(source, session))
        with destination.exclusive_pipeline(source.name) as pipeline, redacted_logs(secrets):
            try:
                load_info, row_counts = run_in_steps(
                    pipeline, dlt_source, destination, budget, full_refresh
                )
            except Exception as error:
                # The chain holds URLs with query strings and headers: report, don't attach.
                raise load_failure(
                    source.name, error, secrets, http_stats.last_response
                ) from None
        run_metadata = {**_run_metadata(pipeline), **budget.metadata()}
        for resource_name, resource in dlt_source.selected_resources.items():
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey([source.name, resource_name]),
                metadata={
                    **dlt.extract_resource_metadata(context, resource, load_info, pipeline),
                    "dagster/row_count": dg.MetadataValue.int(row_counts[resource_name]),
                    **http_stats.metadata(resource_name),
                    **run_metadata,
                },
            )

    _declare_api_parameter(load_source, api_key)
    return dlt_assets(
        dlt_source=placeholder_source(source),
        dlt_pipeline=dlt.pipeline(
            pipeline_name=source.name, dataset_name=source.name, destination=destination_name
        ),
        name=source.name,
        dagster_dlt_translator=translator,
        pool=f"crm_source/{source.name}",
    )(load_source)


def _declare_api_parameter(function: Any, api_key: str) -> None:
    """Dagster infers a step's resources from its parameters; each source needs its own key."""
    signature = inspect.signature(function)
    parameters = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    parameters.append(
        inspect.Parameter(api_key, inspect.Parameter.KEYWORD_ONLY, annotation=SourceApiResource)
    )
    function.__signature__ = signature.replace(parameters=parameters)
