"""The asset factory: one multi-asset per source config, an asset per dlt resource."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.sources import DltSource

from crm_assets.checks import evaluate_checks, source_check_specs
from crm_assets.config import SourceConfig
from crm_assets.http_stats import HttpStats
from crm_assets.load_steps import run_in_steps
from crm_assets.materialization import LoadedSchema, run_metadata, table_metadata
from crm_assets.load_failure import load_failure, violation_failure
from crm_assets.redaction import redacted_logs, secret_forms
from crm_assets.resources import DestinationResource, PiiHashKeyResource, SourceApiResource
from crm_assets.schedules import FULL_REFRESH_TAG
from crm_assets.source_builder import http_session, placeholder_source
from crm_assets.translator import CrmDltTranslator


class LoadConfig(dg.Config):
    full_refresh: bool = False


def api_resource_key(config: SourceConfig) -> str:
    return f"{config.name}_api"


def source_pool(source_name: str) -> str:
    """The pool a source's load step holds a slot of: one load per source at a time."""
    return f"crm_source/{source_name}"


def _selected(context: dg.AssetExecutionContext, source: DltSource) -> DltSource:
    """The dlt resources behind the selected assets (key `[source, resource]`)."""
    if not context.is_subset:
        return source
    return source.with_resources(*(key.path[-1] for key in context.selected_asset_keys))


def build_source_assets(source: SourceConfig, destination_name: str) -> dg.AssetsDefinition:
    """All resources of one source as one multi-asset; a run builds the real source from the
    source's API resource, so loading definitions needs no secret and sends no request."""
    api_key = api_resource_key(source)
    translator = CrmDltTranslator(source, destination_name)
    mark_deleted = [r.name for r in source.resources if source.marks_deleted(r)]
    contracts = {resource.name: source.schema_contract(resource) for resource in source.resources}

    def load_source(context: dg.AssetExecutionContext, config: LoadConfig) -> Iterator[Any]:
        destination: DestinationResource = context.resources.destination
        with destination.exclusive_pipeline(source.name) as pipeline:
            materialized = {}
            if context.selected_asset_keys:
                for result in load_selected(context, config, pipeline):
                    materialized[result.asset_key] = result.metadata
                    yield result
            # In the load's step: one step per source, and the checks see the load just made.
            # A new pipeline object: the load's holds credentials that were closed after it.
            # Evaluated in full before any result is yielded: Dagster writes two events per
            # result, and other sources' loads should not wait on those writes for the file.
            with destination.exclusive_connection():
                check_results = list(evaluate_checks(
                    source, destination.pipeline(source.name),
                    context.selected_asset_check_keys, context.instance, materialized,
                ))
            yield from check_results

    def load_selected(
        context: dg.AssetExecutionContext, config: LoadConfig, pipeline: dlt.Pipeline
    ) -> Iterator[dg.MaterializeResult]:
        destination: DestinationResource = context.resources.destination
        source_api: SourceApiResource = getattr(context.resources, api_key)
        base_url = source_api.validated_base_url(source)
        budget = source_api.request_budget(source)
        http_stats = HttpStats(source, base_url)
        session = http_session(
            source, base_url, budget.max_concurrency, observers=[budget, http_stats]
        )
        secrets = secret_forms(source_api.secret_values(source))
        pii_hash_key = None
        if source.hashes_pii:
            pii: PiiHashKeyResource = context.resources.pii
            pii_hash_key = pii.validated_key()
            secrets.append(pii_hash_key)
        full_refresh = (
            config.full_refresh or context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        )
        dlt_source = _selected(context, source_api.build_source(source, session, pii_hash_key))
        with redacted_logs(secrets):
            try:
                rows_in_tables, discards = run_in_steps(
                    pipeline, dlt_source, destination, budget, full_refresh, contracts,
                    mark_deleted,
                )
            except Exception as error:
                # The chain holds URLs with query strings and headers (and a contract's
                # violation, the offending row's keys): report, don't attach.
                raise violation_failure(source.name, contracts, error) or load_failure(
                    source.name, error, secrets, http_stats.last_response
                ) from None
        shared = {**run_metadata(pipeline), **budget.metadata()}
        loaded = LoadedSchema.of(pipeline)
        results, lines = [], []
        for resource_name in dlt_source.selected_resources:
            table = table_metadata(
                loaded, resource_name, rows_in_tables[resource_name],
                source.pii_policy(source.resource(resource_name)),
            )
            if resource_name in discards:
                table |= discards[resource_name].metadata(loaded)
            fetched = http_stats.metadata(resource_name)
            lines.append(
                f"{source.name}/{resource_name}: {table['rows_loaded'].value} rows loaded from "
                f"{fetched['pages_fetched']} pages; {table['dagster/table_name']} holds "
                f"{rows_in_tables[resource_name].rows} rows"
            )
            results.append(dg.MaterializeResult(
                asset_key=translator.asset_key(resource_name),
                metadata={**table, **fetched, **shared},
            ))
        # One log event per source, not per resource: each event is a write to Dagster's
        # event log, and a step already writes an output and a materialization per resource.
        context.log.info(f"{source.name}: {len(lines)} tables loaded\n" + "\n".join(lines))
        yield from results

    # dagster-dlt's `dlt_assets` is this multi_asset plus its own objects (source, pipeline,
    # translator) in every asset's metadata, for a `DagsterDltResource.run` this factory does not
    # use (it runs dlt step by step); the UI would list them as unserializable. No dlt pipeline
    # either: it would create a working directory each time the code location loads.
    return dg.multi_asset(
        name=source.name,
        specs=[
            translator.get_asset_spec(
                DltResourceTranslatorData(resource=resource, pipeline=None)
            )
            for resource in placeholder_source(source).selected_resources.values()
        ],
        check_specs=source_check_specs(source),
        can_subset=True,
        pool=source_pool(source.name),
        # Each source has its own API resource key, so it cannot be a typed parameter (and
        # Dagster takes resources from the decorator or from parameters, not both).
        required_resource_keys={api_key, "destination", *(["pii"] if source.hashes_pii else [])},
    )(load_source)
