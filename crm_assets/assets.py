"""The asset factory: one `dlt_assets` multi-asset per source config."""

import inspect
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, dlt_assets

from crm_assets.config import SourceConfig
from crm_assets.resources import DestinationResource, SourceApiResource
from crm_assets.source_builder import placeholder_source
from crm_assets.translator import CrmDltTranslator


def api_resource_key(config: SourceConfig) -> str:
    return f"{config.name}_api"


def build_source_assets(config: SourceConfig, destination_name: str) -> dg.AssetsDefinition:
    """All resources of one source as one multi-asset; a run builds the real source from the
    source's API resource, so loading definitions needs no secret and sends no request."""
    api_key = api_resource_key(config)

    def load_source(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        destination: DestinationResource,
        **api: SourceApiResource,
    ) -> Iterator[Any]:
        dlt_source = api[api_key].build_source(config)
        with destination.write_lock():
            yield from dlt.run(
                context=context,
                dlt_source=dlt_source,
                dlt_pipeline=destination.pipeline(config.name),
                loader_file_format=destination.loader_file_format,
            )

    _declare_api_parameter(load_source, api_key)
    return dlt_assets(
        dlt_source=placeholder_source(config),
        dlt_pipeline=dlt.pipeline(
            pipeline_name=config.name, dataset_name=config.name, destination=destination_name
        ),
        name=config.name,
        dagster_dlt_translator=CrmDltTranslator(config),
        pool=f"crm_source/{config.name}",
    )(load_source)


def _declare_api_parameter(function: Any, api_key: str) -> None:
    """Dagster infers a step's resources from its parameters; each source needs its own key."""
    signature = inspect.signature(function)
    parameters = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    parameters.append(
        inspect.Parameter(api_key, inspect.Parameter.KEYWORD_ONLY, annotation=SourceApiResource)
    )
    function.__signature__ = signature.replace(parameters=parameters)
