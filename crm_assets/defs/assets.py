"""The asset factory: each source config's dlt resources as Dagster assets, through
dagster-dlt's `@dlt_assets`. Its checks stand beside it (`checks/definitions.py`)."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import dlt_assets
from dagster_dlt.constants import META_KEY_PIPELINE, META_KEY_SOURCE, META_KEY_TRANSLATOR
from dlt.sources import DltSource

from crm_assets.table_rules.absent_rows import AbsentRowsPlan, confirmed_tables
from crm_assets.config import SourceConfig
from crm_assets.extract.http_stats import HttpStats
from crm_assets.load.failure import load_failure, violation_failure
from crm_assets.load.steps import LoadOutcome, run_in_steps
from crm_assets.load.materialization import LoadedSchema, run_metadata, table_metadata
from crm_assets.load.read_volume import latest_materialization_metadata, read_volume_metadata
from crm_assets.load.redaction import redacted_logs, secret_forms
from crm_assets.request_budget import RequestBudget
from crm_assets.resources import DestinationResource, PiiHashKeyResource, SourceApisResource
from crm_assets.defs import names
from crm_assets.extract import build_source, http_session, placeholder_source, pipeline_reference
from crm_assets.defs.translator import CrmDltTranslator, WindowDltTranslator
from crm_assets.defs.windows import Window, WindowRowCounter, window_partitions

# What `dlt_assets` puts in every spec for dagster-dlt's `DagsterDltResource.run`, which these
# assets do not use (they run dlt step by step): the asset page would list them as objects.
DLT_OBJECT_KEYS = (META_KEY_SOURCE, META_KEY_PIPELINE, META_KEY_TRANSLATOR)


class LoadConfig(dg.Config):
    full_refresh: bool = False
    # Tables (resource names, or "*") whose rows absent from this complete read are marked
    # deleted or retired even past their max_deleted_share (`table_rules/absent_rows.py`).
    confirm_deletions: list[str] = []


def _without_dlt_object_keys(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in DLT_OBJECT_KEYS}


def without_dlt_objects(assets: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """`assets` without dagster-dlt's objects in any asset's metadata. Dagster's public
    `map_asset_specs` cannot take them off: `multi_asset` copies each spec's metadata onto its
    op output, and AssetsDefinition merges the output's back under the spec's (dagster 1.13,
    `AssetsDefinition.__init__`). So the definition is rebuilt with its public constructor
    from the same op, its outputs and specs without them."""
    op = assets.op
    outs = {
        out.name: dg.Out(
            dagster_type=out.dagster_type,
            description=out.description,
            is_required=out.is_required,
            io_manager_key=out.io_manager_key,
            metadata=_without_dlt_object_keys(out.metadata),
            code_version=out.code_version,
        )
        for out in op.output_defs
    }
    return dg.AssetsDefinition(
        keys_by_input_name=assets.node_keys_by_input_name,
        keys_by_output_name=assets.node_keys_by_output_name,
        node_def=op.with_replaced_properties(name=op.name, outs=outs),
        can_subset=assets.can_subset,
        specs=[
            spec.replace_attributes(metadata=_without_dlt_object_keys(spec.metadata))
            for spec in assets.specs
        ],
        backfill_policy=assets.backfill_policy,
    )


def _selected(context: dg.AssetExecutionContext, source: DltSource) -> DltSource:
    """The dlt resources behind the selected assets (key `[source, (windows,) resource]`)."""
    if not context.is_subset:
        return source
    return source.with_resources(*(names.resource_of(key) for key in context.selected_asset_keys))


def build_source_assets(
    source: SourceConfig, destination_name: str, pipelines_dir: Path, windows: bool = False
) -> dg.AssetsDefinition:
    """All resources of one source, one asset each; with `windows`, its windowed resources
    as time-partitioned backfill assets (`windows.py`). The code location holds the source's
    shape and a reference to its pipeline; a run builds the real source from its API's
    settings, so loading definitions needs no secret, sends no request and writes no file.
    Both kinds share the source's pool: one load of a source at a time, inside its budget,
    on one dlt pipeline."""
    translator = (WindowDltTranslator if windows else CrmDltTranslator)(source, destination_name)
    contracts = {resource.name: source.schema_contract(resource) for resource in source.resources}

    @dlt_assets(
        dlt_source=placeholder_source(source, windows),
        dlt_pipeline=pipeline_reference(source.name, pipelines_dir),
        name=names.windows_step(source.name) if windows else names.load_step(source.name),
        dagster_dlt_translator=translator,
        partitions_def=window_partitions(source.backfill) if windows else None,
        pool=names.pool(source.name),
    )
    def load_source(
        context: dg.AssetExecutionContext,
        config: LoadConfig,
        destination: DestinationResource,
        source_apis: SourceApisResource,
        pii: PiiHashKeyResource,
    ) -> Iterator[dg.MaterializeResult]:
        # Everything the run reads from the environment, before any request: a missing secret
        # or a bad override fails this source's step alone, naming its variable.
        api = source_apis.api(source)
        base_url = api.validated_base_url(source)
        secrets = api.secrets(source)
        budget = api.request_budget(source)
        pii_hash_key = pii.validated_key(source) if source.hashes_pii else None
        window = Window.of(context) if windows else None
        full_refresh = (
            config.full_refresh or context.run.tags.get(names.FULL_REFRESH_TAG, "").lower() == "true"
        )
        if window and full_refresh:
            raise dg.Failure(
                f"{source.name}: a backfill window merges into the tables; a full refresh is "
                "the nightly assets' (it would drop the tables and their cursors)"
            )
        http_stats = HttpStats(source, base_url)
        session = http_session(
            source, base_url, budget.max_concurrency, observers=[budget, http_stats]
        )
        dlt_source = build_source(source, base_url, secrets, session, pii_hash_key, window)
        window_counts = _count_rows_by_window(source, dlt_source, window) if window else {}
        absent_rows = AbsentRowsPlan.for_run(
            source, dlt_source, confirmed_tables(config.confirm_deletions, context.run.tags)
        )
        dlt_source = _selected(context, dlt_source)
        masks = secret_forms([*secrets.values(), pii_hash_key])
        with (
            destination.exclusive_pipeline(source.name) as pipeline,
            budget.carried_over(destination.sends_file(source.name)),
            redacted_logs(masks),
        ):
            try:
                outcome = run_in_steps(
                    pipeline, dlt_source, destination, budget, full_refresh, contracts,
                    absent_rows,
                )
            except dg.Failure:
                raise  # already says what failed (the destination held by another process)
            except Exception as error:
                # The chain holds URLs with query strings and headers (and a contract's
                # violation, the offending row's keys): report, don't attach.
                raise violation_failure(source.name, contracts, error) or load_failure(
                    source.name, error, masks
                ) from None
            yield from _materializations(
                context, source, translator, pipeline, dlt_source, budget, http_stats,
                outcome, window, window_counts, full_refresh,
            )

    return without_dlt_objects(load_source)


def _count_rows_by_window(
    source: SourceConfig, dlt_source: DltSource, window: Window
) -> dict[str, WindowRowCounter]:
    """A counter per windowed resource with a cursor, as its last map step."""
    counters = {}
    for resource in source.windowed_resources():
        if resource.endpoint.incremental:
            counters[resource.name] = WindowRowCounter(window, resource.endpoint.incremental.cursor_path)
            dlt_source.resources[resource.name].add_map(counters[resource.name])
    return counters


def _materializations(
    context: dg.AssetExecutionContext,
    source: SourceConfig,
    translator: CrmDltTranslator,
    pipeline: dlt.Pipeline,
    dlt_source: DltSource,
    budget: RequestBudget,
    http_stats: HttpStats,
    outcome: LoadOutcome,
    window: Window | None,
    window_counts: dict[str, WindowRowCounter],
    full_refresh: bool,
) -> Iterator[dg.MaterializeResult]:
    """A materialization per loaded resource: its table, rows, pages and the source's budget,
    and what its complete read returned beside the previous one's; one log line per source
    (each event is a write to Dagster's event log), and one per table whose absent rows were
    held."""
    shared = {**run_metadata(pipeline), **budget.metadata()}
    loaded = LoadedSchema.of(pipeline)
    keys = {name: translator.asset_key(name) for name in dlt_source.selected_resources}
    previous = {} if window else latest_materialization_metadata(context.instance, list(keys.values()))
    results, lines = [], []
    for resource_name in dlt_source.selected_resources:
        absent = outcome.absent.get(resource_name)
        table = table_metadata(
            loaded, resource_name, outcome.rows[resource_name], absent,
            source.pii_policy(source.resource(resource_name)),
        )
        if resource_name in outcome.discards:
            table |= outcome.discards[resource_name].metadata(loaded)
        fetched = http_stats.metadata(resource_name)
        lines.append(
            f"{keys[resource_name].to_user_string()}: {table['rows_loaded'].value} rows loaded from "
            f"{fetched['pages_fetched']} pages; {table['dagster/table_name']} holds "
            f"{outcome.rows[resource_name].rows} rows"
        )
        if window:
            counter = window_counts.get(resource_name)
            table |= window.metadata(counter.counts if counter else None)
        else:
            complete = full_refresh or source.reads_completely(source.resource(resource_name))
            rows_read = loaded.rows_read.get(resource_name, 0) if complete else None
            table |= read_volume_metadata(rows_read, previous[keys[resource_name]])
        if absent and absent.held:
            context.log.warning(f"{source.name}/{absent.log_line(resource_name)}")
        results.append(dg.MaterializeResult(
            asset_key=keys[resource_name],
            metadata={**table, **fetched, **shared},
        ))
    context.log.info(f"{source.name}: {len(lines)} tables loaded\n" + "\n".join(lines))
    yield from results
