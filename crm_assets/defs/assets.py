"""The asset factory: each source config's dlt resources as Dagster assets, through
dagster-dlt's `@dlt_assets`. Its checks stand beside it (`checks/definitions.py`)."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dlt import dlt_assets

from crm_assets.config import SourceConfig
from crm_assets.defs import names
from crm_assets.defs.dlt_objects import without_dlt_objects
from crm_assets.defs.materializations import count_rows_by_window, materializations
from crm_assets.defs.translator import CrmDltTranslator, WindowDltTranslator
from crm_assets.defs.windows import Window, window_partitions
from crm_assets.extract import (
    build_source,
    http_session,
    pipeline_reference,
    placeholder_source,
)
from crm_assets.extract.http_stats import HttpStats
from crm_assets.load.failure import load_failure, violation_failure
from crm_assets.load.redaction import redacted_logs, secret_forms
from crm_assets.load.steps import run_in_steps
from crm_assets.resources import (
    DestinationResource,
    PiiHashKeyResource,
    SourceApisResource,
)
from crm_assets.table_rules.absent_rows import AbsentRowsPlan, confirmed_tables


class LoadConfig(dg.Config):
    full_refresh: bool = False
    # Tables (resource names, or "*") whose rows absent from this complete read are marked
    # deleted or retired even past their max_deleted_share (`table_rules/absent_rows.py`).
    confirm_deletions: list[str] = []


def _selected_resources(context: dg.AssetExecutionContext) -> list[str] | None:
    """The dlt resources behind the selected assets (key `[source, (windows,) resource]`), or
    None when every asset of the step is selected."""
    if not context.is_subset:
        return None
    return [names.resource_of(key) for key in context.selected_asset_keys]


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
    step_names = names.of(source.name, source.account_name)
    contracts = {resource.name: source.schema_contract(resource) for resource in source.resources}

    @dlt_assets(
        dlt_source=placeholder_source(source, windows),
        dlt_pipeline=pipeline_reference(source, pipelines_dir),
        name=step_names.windows_step if windows else step_names.load_step,
        dagster_dlt_translator=translator,
        partitions_def=window_partitions(source.backfill) if windows else None,
        pool=step_names.pool,
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
                f"{source.label}: a backfill window merges into the tables; a full refresh is "
                "the nightly assets' (it would drop the tables and their cursors)"
            )
        http_stats = HttpStats(source, base_url)
        session = http_session(
            source, base_url, budget.max_concurrency, budget=budget, stats=http_stats
        )
        selected = _selected_resources(context)
        dlt_source = build_source(
            source, base_url, secrets, session, pii_hash_key, window, only=selected
        )
        window_counts = count_rows_by_window(source, dlt_source, window) if window else {}
        absent_rows = AbsentRowsPlan.for_run(
            source, dlt_source, confirmed_tables(config.confirm_deletions, context.run.tags)
        )
        if selected is not None:  # built with their ancestors, which load only through them
            dlt_source = dlt_source.with_resources(*selected)
        masks = secret_forms([*secrets.values(), pii_hash_key])
        with (
            destination.exclusive_pipeline(source.load_name, source.name) as pipeline,
            budget.carried_over(destination.sends_file(source.load_name)),
            redacted_logs(masks),
        ):
            try:
                outcome = run_in_steps(
                    source, pipeline, dlt_source, destination, budget, full_refresh, contracts,
                    absent_rows,
                )
            except dg.Failure:
                raise  # already says what failed (the destination held by another process)
            except Exception as error:
                # The chain holds URLs with query strings and headers (and a contract's
                # violation, the offending row's keys): report, don't attach.
                raise violation_failure(source.label, contracts, error) or load_failure(
                    source.label, error, masks
                ) from None
            yield from materializations(
                context, source, translator, pipeline, dlt_source, budget, http_stats,
                outcome, window, window_counts, full_refresh,
            )

    return without_dlt_objects(load_source)
