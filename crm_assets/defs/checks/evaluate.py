"""The selected checks of one source, evaluated over one connection to its dataset."""

from collections.abc import Iterable, Iterator
from typing import Any

import dagster as dg
import dlt

from crm_assets.config import SourceConfig
from crm_assets.defs import names
from crm_assets.defs.checks.deletions_held import check_deletions_held
from crm_assets.defs.checks.has_rows import check_has_rows
from crm_assets.defs.checks.primary_key import check_primary_key
from crm_assets.defs.checks.reader import TableReader
from crm_assets.defs.checks.row_volume import check_row_volume
from crm_assets.defs.checks.schema_drift import check_schema_drift
from crm_assets.defs.checks.specs import (
    DELETIONS_HELD,
    HAS_ROWS,
    PRIMARY_KEY,
    ROW_VOLUME,
    SCHEMA_DRIFT,
)
from crm_assets.load.read_volume import latest_materialization_metadata

# The checks that read the asset's latest materialization, not only its table.
READ_MATERIALIZATION = {SCHEMA_DRIFT, ROW_VOLUME, DELETIONS_HELD}


def _discarded(latest: dict[str, Any]) -> list[str]:
    entry = latest.get("columns_discarded")
    return list(entry.value) if entry else []


def evaluate_checks(
    config: SourceConfig,
    pipeline: dlt.Pipeline,
    check_keys: Iterable[dg.AssetCheckKey],
    instance: dg.DagsterInstance,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of one source, over one connection to its dataset, after the
    run's loads (or alone); schema_drift, row_volume and deletions_held read each asset's
    latest materialization (what the contract kept out, the complete reads' rows, the absent
    rows held)."""
    check_keys = sorted(check_keys, key=str)
    if not check_keys:
        return
    latest = latest_materialization_metadata(
        instance, sorted({k.asset_key for k in check_keys if k.name in READ_MATERIALIZATION}, key=str)
    )
    with pipeline.sql_client() as client:
        reader = TableReader(client, pipeline)
        for check_key in check_keys:
            resource = config.resource(names.resource_of(check_key.asset_key))
            outcome = {
                PRIMARY_KEY: lambda: check_primary_key(reader, config, resource),
                HAS_ROWS: lambda: check_has_rows(reader, resource, config.account_name),
                SCHEMA_DRIFT: lambda: check_schema_drift(
                    reader, resource, _discarded(latest.get(check_key.asset_key, {}))
                ),
                ROW_VOLUME: lambda: check_row_volume(
                    latest.get(check_key.asset_key, {}), config.max_row_drop(resource)
                ),
                DELETIONS_HELD: lambda: check_deletions_held(
                    latest.get(check_key.asset_key, {}), resource.name
                ),
            }[check_key.name]()
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key, check_name=check_key.name, **outcome
            )
