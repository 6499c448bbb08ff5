"""The selected checks of one source, evaluated over one connection to its dataset."""

import json
from collections.abc import Iterable, Iterator

import dagster as dg
import dlt

from crm_assets.checks.has_rows import check_has_rows
from crm_assets.checks.primary_key import check_primary_key
from crm_assets.checks.reader import TableReader
from crm_assets.checks.schema_drift import check_schema_drift
from crm_assets.checks.specs import HAS_ROWS, PRIMARY_KEY, SCHEMA_DRIFT
from crm_assets.config import SourceConfig


def discarded_columns(
    instance: dg.DagsterInstance, assets: Iterable[dg.AssetKey]
) -> dict[dg.AssetKey, list[str]]:
    """What the schema contract kept out of each asset's latest materialization, read from
    the instance in one query."""
    discarded = {}
    for record in instance.get_asset_records(list(assets)):
        event = record.asset_entry.last_materialization
        materialization = event.asset_materialization if event else None
        entry = materialization.metadata.get("columns_discarded") if materialization else None
        discarded[record.asset_entry.asset_key] = json.loads(entry.value) if entry else []
    return discarded


def evaluate_checks(
    config: SourceConfig,
    pipeline: dlt.Pipeline,
    check_keys: Iterable[dg.AssetCheckKey],
    instance: dg.DagsterInstance,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of one source, over one connection to its dataset, after the
    run's loads (or alone); schema_drift reads what the contract kept out of each asset's
    latest materialization."""
    check_keys = sorted(check_keys, key=str)
    if not check_keys:
        return
    kept_out = discarded_columns(
        instance, {key.asset_key for key in check_keys if key.name == SCHEMA_DRIFT}
    )
    with pipeline.sql_client() as client:
        reader = TableReader(client, pipeline)
        for check_key in check_keys:
            resource = config.resource(check_key.asset_key.path[-1])
            outcome = {
                PRIMARY_KEY: lambda: check_primary_key(reader, config, resource),
                HAS_ROWS: lambda: check_has_rows(reader, resource),
                SCHEMA_DRIFT: lambda: check_schema_drift(
                    reader, resource, kept_out.get(check_key.asset_key, [])
                ),
            }[check_key.name]()
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key, check_name=check_key.name, **outcome
            )
