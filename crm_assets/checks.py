"""Asset checks that query the loaded tables in the destination, through dlt's SQL client.

Per asset: primary key present and unique (ERROR, blocking; in a history table unique among
current versions, and unique with its valid-from among all), current rows present (ERROR, or
WARN where the resource may be empty), last successful load within the freshness window
(ERROR), and schema drift since the previous load (WARN, with the diff in metadata). They are
evaluated in the source's load step, right after the load (or alone, when only checks are
selected).
"""


import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import dagster as dg
import dlt

from crm_assets.config import ResourceSpec, SourceConfig
from crm_assets.deletions import current_condition
from crm_assets.history import VALID_FROM, VALID_TO

PRIMARY_KEY = "primary_key_unique"
HAS_ROWS = "has_rows"
LOADED_RECENTLY = "loaded_recently"
SCHEMA_DRIFT = "schema_drift"


def check_specs(config: SourceConfig, resource: ResourceSpec) -> list[dg.AssetCheckSpec]:
    asset = dg.AssetKey([config.name, resource.name])
    keys = ", ".join(config.primary_key(resource)) or "(none)"
    primary_key = f"Primary key ({keys}) is never null and never repeats in the table."
    if resource.history:
        primary_key = (
            f"Primary key ({keys}) is never null, repeats in no two current versions, and "
            f"({keys}, {VALID_FROM}) never repeats."
        )
    return [
        dg.AssetCheckSpec(PRIMARY_KEY, asset=asset, blocking=True, description=primary_key),
        dg.AssetCheckSpec(
            HAS_ROWS, asset=asset,
            description="The table holds current rows"
            + (" (WARN only: this resource may be empty)." if resource.can_be_empty else "."),
        ),
        dg.AssetCheckSpec(
            LOADED_RECENTLY, asset=asset,
            description=f"The source's last successful dlt load is at most "
            f"{config.freshness_hours:g} h old.",
        ),
        dg.AssetCheckSpec(
            SCHEMA_DRIFT, asset=asset,
            description="Columns added or removed since the previous load, or kept out of the "
            "last load by the schema contract (WARN).",
        ),
    ]


class _TableReader:
    """Reads what the checks need from one source's dataset, each thing once per check step."""

    def __init__(self, client: Any, pipeline: dlt.Pipeline) -> None:
        self.client = client
        self.schema_name = pipeline.pipeline_name
        self._schema_tables: dict[str, dict[str, Any] | None] = {}

    def qualified(self, table: str) -> str:
        return self.client.make_qualified_table_name(table)

    def exists(self, table: str) -> bool:
        return table in self.columns_by_table

    @cached_property
    def columns_by_table(self) -> dict[str, list[str]]:
        rows = self.client.execute_sql(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = %s order by ordinal_position",
            self.client.dataset_name,
        )
        columns: dict[str, list[str]] = {}
        for table, column in rows:
            columns.setdefault(table, []).append(column)
        return columns

    @cached_property
    def successful_loads(self) -> list[tuple[datetime, str]]:
        """(inserted_at, schema_version_hash) of the source's completed loads, newest first."""
        if not self.exists("_dlt_loads"):
            return []
        return self.client.execute_sql(
            f"select inserted_at, schema_version_hash from {self.qualified('_dlt_loads')} "
            "where schema_name = %s and status = 0 order by inserted_at desc",
            self.schema_name,
        )

    def schema_columns(self, version_hash: str, table: str) -> set[str] | None:
        if version_hash not in self._schema_tables:
            rows = self.client.execute_sql(
                f"select schema from {self.qualified('_dlt_version')} where version_hash = %s",
                version_hash,
            )
            self._schema_tables[version_hash] = (
                json.loads(rows[0][0]).get("tables", {}) if rows else None
            )
        tables = self._schema_tables[version_hash]
        if tables is None:
            return None
        return _data_columns(tables.get(table, {}).get("columns", {}))


def _data_columns(columns: Any) -> set[str]:
    return {name for name in columns if not name.startswith("_dlt")}


def _check_primary_key(
    reader: _TableReader, config: SourceConfig, resource: ResourceSpec
) -> dict[str, Any]:
    key = config.primary_key(resource)
    if not key:
        return dict(passed=False, description="The config declares no primary key.")
    if not reader.exists(resource.name):
        return dict(passed=True, description="No table yet: no rows to check.")
    missing = [column for column in key if column not in reader.columns_by_table[resource.name]]
    if missing:
        return dict(
            passed=False, description=f"Primary key column(s) {missing} are not in the table."
        )
    table = reader.qualified(resource.name)
    escaped = [reader.client.escape_column_name(column) for column in key]
    nulls = reader.client.execute_sql(
        f"select count(*) from {table} where " + " or ".join(f"{c} is null" for c in escaped)
    )[0][0]
    if resource.history:
        # Every version of a row shares its key: unique among the current versions, and
        # with the time each version began, unique among all.
        duplicates = _repeated(reader, table, escaped, where=f"{VALID_TO} is null")
        versions = _repeated(reader, table, [*escaped, VALID_FROM])
    else:
        duplicates, versions = _repeated(reader, table, escaped), []
    passed = nulls == 0 and not duplicates and not versions
    sample = [list(map(str, row[:-1])) for row in duplicates]
    version_sample = [list(map(str, row[:-1])) for row in versions]
    problems = f"{nulls} row(s) with a null key; {len(duplicates)}+ repeated key(s), e.g. {sample}"
    if resource.history:
        problems = problems.replace("repeated key(s)", "key(s) repeated among current versions")
        problems += f"; {len(versions)}+ versions repeating ({VALID_FROM}), e.g. {version_sample}"
    return dict(
        passed=passed,
        description=None if passed else problems,
        metadata={
            "null_keys": nulls,
            "repeated_keys_sample": json.dumps(sample),
            **({"repeated_versions_sample": json.dumps(version_sample)} if resource.history else {}),
        },
    )


def _repeated(reader: _TableReader, table: str, columns: list[str], where: str = "") -> list:
    listed = ", ".join(columns)
    return reader.client.execute_sql(
        f"select {listed}, count(*) from {table} {f'where {where}' if where else ''} "
        f"group by {listed} having count(*) > 1 order by count(*) desc limit 5"
    )


def _check_has_rows(reader: _TableReader, resource: ResourceSpec) -> dict[str, Any]:
    """Rows the API still has: a history table's current versions, rows not marked deleted."""
    rows = 0
    if reader.exists(resource.name):
        current = current_condition(reader.columns_by_table[resource.name])
        rows = reader.client.execute_sql(
            f"select count(*) from {reader.qualified(resource.name)}"
            + (f" where {current}" if current else "")
        )[0][0]
    return dict(
        passed=rows > 0,
        severity=dg.AssetCheckSeverity.WARN if resource.can_be_empty else dg.AssetCheckSeverity.ERROR,
        description=None if rows else "The table holds no current row or was never created.",
        metadata={"rows": rows},
    )


def _check_loaded_recently(reader: _TableReader, config: SourceConfig) -> dict[str, Any]:
    loads = reader.successful_loads
    if not loads:
        return dict(passed=False, description="No successful load recorded.")
    last_load = loads[0][0]
    if last_load.tzinfo is None:
        last_load = last_load.replace(tzinfo=timezone.utc)
    age_hours = (datetime.now(timezone.utc) - last_load).total_seconds() / 3600
    passed = age_hours <= config.freshness_hours
    return dict(
        passed=passed,
        description=None
        if passed
        else f"Last successful load {age_hours:.1f} h ago, window {config.freshness_hours:g} h.",
        metadata={"last_load_at": last_load.isoformat(), "age_hours": round(age_hours, 2)},
    )


def _discarded_columns(instance: dg.DagsterInstance, asset: dg.AssetKey) -> list[str]:
    """What the schema contract kept out of the asset's latest materialization."""
    event = instance.get_latest_materialization_event(asset)
    materialization = event.asset_materialization if event else None
    entry = materialization.metadata.get("columns_discarded") if materialization else None
    return json.loads(entry.value) if entry else []


def _check_schema_drift(
    reader: _TableReader, resource: ResourceSpec, discarded: list[str]
) -> dict[str, Any]:
    kept_out = f" The schema contract kept out of the last load: {discarded}." if discarded else ""
    if not reader.exists(resource.name):
        return dict(
            passed=not discarded,
            severity=dg.AssetCheckSeverity.WARN,
            description=kept_out.strip() or "No table yet.",
            metadata={"columns_discarded": json.dumps(discarded)},
        )
    loads = reader.successful_loads
    current = reader.schema_columns(loads[0][1], resource.name) if loads else None
    previous = reader.schema_columns(loads[1][1], resource.name) if len(loads) > 1 else None
    in_table = _data_columns(reader.columns_by_table[resource.name])
    added = sorted((current or set()) - previous) if previous else []
    removed = sorted(previous - (current or set())) if previous else []
    # A column dlt loaded that the table no longer has was dropped outside dlt.
    removed += sorted(column for column in (current or set()) - in_table if column not in removed)
    passed = not added and not removed and not discarded
    return dict(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if passed else f"Columns added: {added}; removed: {removed}.{kept_out}",
        metadata={
            "columns_added": json.dumps(added),
            "columns_removed": json.dumps(removed),
            "columns_discarded": json.dumps(discarded),
            "columns": len(in_table),
        },
    )


def source_check_specs(config: SourceConfig) -> list[dg.AssetCheckSpec]:
    return [spec for resource in config.resources for spec in check_specs(config, resource)]


def evaluate_checks(
    config: SourceConfig,
    pipeline: dlt.Pipeline,
    check_keys: Iterable[dg.AssetCheckKey],
    instance: dg.DagsterInstance,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of one source, over one connection to its dataset. Run after the
    step's materializations, which the instance has stored by then (schema_drift reads what the
    contract kept out of the latest one)."""
    check_keys = sorted(check_keys, key=str)
    if not check_keys:
        return
    with pipeline.sql_client() as client:
        reader = _TableReader(client, pipeline)
        for check_key in check_keys:
            resource = config.resource(check_key.asset_key.path[-1])
            outcome = {
                PRIMARY_KEY: lambda: _check_primary_key(reader, config, resource),
                HAS_ROWS: lambda: _check_has_rows(reader, resource),
                LOADED_RECENTLY: lambda: _check_loaded_recently(reader, config),
                SCHEMA_DRIFT: lambda: _check_schema_drift(
                    reader, resource, _discarded_columns(instance, check_key.asset_key)
                ),
            }[check_key.name]()
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key, check_name=check_key.name, **outcome
            )
