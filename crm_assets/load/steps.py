"""A source's load, dlt's `pipeline.run` taken step by step so each step holds only what it
needs: the destination's connection for state restore and load, nothing while fetching."""

from __future__ import annotations

from dataclasses import dataclass

import dlt
from dlt.sources import DltSource

from crm_assets.config import SourceConfig
from crm_assets.load import dlt_hint_cache
from crm_assets.load.row_counts import RowCount, pipeline_row_counts
from crm_assets.request_budget import RequestBudget
from crm_assets.resources import DestinationResource
from crm_assets.table_rules.absent_rows import AbsentRows, AbsentRowsPlan
from crm_assets.table_rules.accounts import (
    delete_unrefreshed_rows,
    forget_cursors,
    refreshed_tables,
)
from crm_assets.table_rules.contract_enforcement import (
    DiscardCounter,
    contracts_for_run,
)


# Before any run resolves dlt's configuration (steps fork after this module is imported).
dlt_hint_cache.install()


@dataclass(frozen=True)
class LoadOutcome:
    """What a load left in each table: its rows now, the absent rows its complete read settled
    (or held), and the values its schema contract kept out."""

    rows: dict[str, RowCount]
    absent: dict[str, AbsentRows]
    discards: dict[str, DiscardCounter]


def run_in_steps(
    config: SourceConfig,
    pipeline: dlt.Pipeline,
    source: DltSource,
    destination: DestinationResource,
    budget: RequestBudget,
    full_refresh: bool,
    contracts: dict[str, dict[str, str]],
    absent_rows: AbsentRowsPlan,
) -> LoadOutcome:
    """dlt's `pipeline.run`, step by step, so that only the steps that connect to the
    destination take a turn at it (`exclusive_connection`): sources fetch at the same time,
    even into one DuckDB file. Like dagster-dlt, start from the state kept in the destination
    (local state may belong to an unfinished run or another machine); the schema contracts
    apply to the schema restored from there. Once the load has succeeded, the tables read
    completely mark deleted or retire the rows it did not return (`absent_rows`)."""
    pipeline.drop()
    with destination.exclusive_connection(pipeline):
        pipeline.sync_destination()
    discards = contracts_for_run(pipeline, source, contracts, full_refresh)
    account = config.account_name
    if full_refresh and account:
        forget_cursors(pipeline, source)
    pipeline.extract(
        source,
        # Twice the requests that may be in flight: a thread sleeping out a retry's backoff
        # (a 429's Retry-After) leaves its slot to a spare one instead of idling it.
        workers=2 * budget.max_concurrency,
        # An account's tables hold other accounts' rows: it refreshes its own (below).
        refresh="drop_resources" if full_refresh and not account else None,
        loader_file_format=destination.loader_file_format,
    )
    normalized = pipeline.normalize().row_counts
    with destination.exclusive_connection(pipeline), destination.load_credentials() as credentials:
        load_info = pipeline.load(credentials=credentials)
        load_info.raise_on_failed_jobs()
        # Any failed page, or answer that was not data, failed the extract above: this load
        # read every page of each of its resources.
        with pipeline.sql_client() as client:
            if full_refresh and account:
                delete_unrefreshed_rows(
                    client, pipeline.default_schema, refreshed_tables(config, source), account,
                    load_info.loads_ids,
                )
            settled = absent_rows.settle(
                client, source.selected_resources, normalized, load_info.loads_ids
            )
        rows = pipeline_row_counts(
            pipeline, list(source.selected_resources), load_info.loads_ids, account
        )
    return LoadOutcome(rows, settled, discards)
