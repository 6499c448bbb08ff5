"""A source's checks beside its assets: one `multi_asset_check`, one step per source, run
after the source's load in the same run, or on their own."""

from collections.abc import Iterator

import dagster as dg

from crm_assets.config import SourceConfig
from crm_assets.defs import names
from crm_assets.defs.checks.evaluate import evaluate_checks
from crm_assets.defs.checks.specs import source_check_specs
from crm_assets.resources import DestinationResource


def build_source_checks(source: SourceConfig) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=names.of(source.name, source.account_name).checks_step,
        specs=source_check_specs(source),
        can_subset=True,
        # The source's pool: checks read what its loads write, never half-way through one.
        pool=names.of(source.name, source.account_name).pool,
        description=f"Queries {source.label}'s tables in the destination.",
    )
    def check_source(
        context: dg.AssetCheckExecutionContext, destination: DestinationResource
    ) -> Iterator[dg.AssetCheckResult]:
        with destination.exclusive_pipeline(source.load_name, source.name) as pipeline:
            # Evaluated in full before any result is yielded: Dagster writes events per
            # result, and other sources' loads should not wait on those writes for the file.
            with destination.exclusive_connection(pipeline):
                results = list(evaluate_checks(
                    source, pipeline, context.selected_asset_check_keys, context.instance
                ))
        yield from results

    return check_source
