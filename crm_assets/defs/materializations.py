"""What a source's load step yields: a materialization per loaded resource (its table, rows,
pages, the source's budget, and what its complete read returned beside the previous one's),
and the rows each backfill window brought."""

from collections.abc import Iterator

import dagster as dg
import dlt
from dlt.sources import DltSource

from crm_assets.config import SourceConfig
from crm_assets.defs.translator import CrmDltTranslator
from crm_assets.defs.windows import Window, WindowRowCounter
from crm_assets.extract.http_stats import HttpStats
from crm_assets.load.materialization import LoadedSchema, run_metadata, table_metadata
from crm_assets.load.read_volume import (
    latest_materialization_metadata,
    read_volume_metadata,
)
from crm_assets.load.steps import LoadOutcome
from crm_assets.request_budget import RequestBudget


def count_rows_by_window(
    source: SourceConfig, dlt_source: DltSource, window: Window
) -> dict[str, WindowRowCounter]:
    """A counter per windowed resource with a cursor, as its last map step."""
    counters = {}
    for resource in source.windowed_resources():
        if resource.endpoint.incremental and resource.name in dlt_source.resources:
            counters[resource.name] = WindowRowCounter(window, resource.endpoint.incremental.cursor_path)
            dlt_source.resources[resource.name].add_map(counters[resource.name])
    return counters


def materializations(
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
            table |= outcome.discards[resource_name].metadata(
                loaded, outcome.rows[resource_name].loaded or 0
            )
        fetched = http_stats.metadata(resource_name)
        lines.append(
            f"{keys[resource_name].to_user_string()}: {table['rows_loaded'].value} rows loaded from "
            f"{fetched['pages_fetched']} pages; {table['dagster/table_name']} holds "
            f"{outcome.rows[resource_name].rows} rows"
            + (f" of {source.account_name}" if source.account else "")
        )
        if window:
            counter = window_counts.get(resource_name)
            table |= window.metadata(counter.counts if counter else None)
        else:
            complete = full_refresh or source.reads_completely(source.resource(resource_name))
            rows_read = loaded.rows_read.get(resource_name, 0) if complete else None
            table |= read_volume_metadata(rows_read, previous[keys[resource_name]])
        if absent and absent.held:
            context.log.warning(f"{source.label}/{absent.log_line(resource_name)}")
        results.append(dg.MaterializeResult(
            asset_key=keys[resource_name],
            metadata={**table, **fetched, **shared},
        ))
    context.log.info(f"{source.label}: {len(lines)} tables loaded\n" + "\n".join(lines))
    yield from results
