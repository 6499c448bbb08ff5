"""The selected checks of one source, evaluated over one connection to its dataset."""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg
import dlt

from crm_assets.checks.has_rows import check_has_rows
from crm_assets.checks.loaded_recently import check_loaded_recently
from crm_assets.checks.primary_key import check_primary_key
from crm_assets.checks.reader import TableReader
from crm_assets.checks.schema_drift import check_schema_drift, discarded_columns
from crm_assets.checks.specs import HAS_ROWS, LOADED_RECENTLY, PRIMARY_KEY, SCHEMA_DRIFT
from crm_assets.config import SourceConfig


def evaluate_checks(
    config: SourceConfig,
    pipeline: dlt.Pipeline,
    check_keys: Iterable[dg.AssetCheckKey],
    instance: dg.DagsterInstance,
    materialized: Mapping[dg.AssetKey, Mapping[str, Any]],
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of one source, over one connection to its dataset. Run after the
    step's materializations (`materialized`: their metadata by asset); schema_drift reads what
    the contract kept out of each asset's latest one."""
    check_keys = sorted(check_keys, key=str)
    if not check_keys:
        return
    with pipeline.sql_client() as client:
        reader = TableReader(client, pipeline)
        for check_key in check_keys:
            resource = config.resource(check_key.asset_key.path[-1])
            outcome = {
                PRIMARY_KEY: lambda: check_primary_key(reader, config, resource),
                HAS_ROWS: lambda: check_has_rows(reader, resource),
                LOADED_RECENTLY: lambda: check_loaded_recently(reader, config),
                SCHEMA_DRIFT: lambda: check_schema_drift(
                    reader, resource,
                    discarded_columns(instance, check_key.asset_key, materialized),
                ),
            }[check_key.name]()
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key, check_name=check_key.name, **outcome
            )
