"""The checks of each asset: their names, descriptions, and the one that blocks. How recently
an asset was loaded is its freshness policy's to show (`translator.py`)."""

import dagster as dg

from crm_assets.config import ResourceSpec, SourceConfig
from crm_assets.defs import names
from crm_assets.table_rules.history import VALID_FROM

PRIMARY_KEY = "primary_key_unique"
HAS_ROWS = "has_rows"
SCHEMA_DRIFT = "schema_drift"
ROW_VOLUME = "row_volume"
DELETIONS_HELD = "deletions_held"


def check_specs(config: SourceConfig, resource: ResourceSpec) -> list[dg.AssetCheckSpec]:
    asset = names.asset_key(config.name, resource.name, config.account_name)
    keys = ", ".join(config.primary_key(resource)) or "(none)"
    primary_key = f"Primary key ({keys}) is never null and never repeats in the table."
    if resource.history:
        primary_key = (
            f"Primary key ({keys}) is never null, repeats in no two current versions, and "
            f"({keys}, {VALID_FROM}) never repeats."
        )
    drop = config.max_row_drop(resource)
    specs = [
        dg.AssetCheckSpec(PRIMARY_KEY, asset=asset, blocking=True, description=primary_key),
        dg.AssetCheckSpec(
            HAS_ROWS, asset=asset,
            description="The table holds current rows"
            + (" (WARN only: this resource may be empty)." if resource.can_be_empty else "."),
        ),
        dg.AssetCheckSpec(
            SCHEMA_DRIFT, asset=asset,
            description="Columns added or removed since the previous load, or kept out of the "
            "last load by the schema contract (WARN).",
        ),
        dg.AssetCheckSpec(
            ROW_VOLUME, asset=asset,
            description=f"A complete read returns no more than {drop:.0%} fewer rows than the "
            "previous complete read (WARN).",
        ),
    ]
    if config.tracks_absent_rows(resource):
        specs.append(dg.AssetCheckSpec(
            DELETIONS_HELD, asset=asset,
            description="The rows missing from the latest complete read were marked "
            + ("retired" if resource.history else "deleted")
            + f"; none held back for being over {config.max_deleted_share(resource):.0%} of "
            "the table.",
        ))
    return specs


def source_check_specs(config: SourceConfig) -> list[dg.AssetCheckSpec]:
    return [spec for resource in config.resources for spec in check_specs(config, resource)]
