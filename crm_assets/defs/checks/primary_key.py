"""`primary_key_unique`: the key is never null and never repeats (in a history table: among
the current versions, and with each version's valid-from among all)."""

from typing import Any

import dagster as dg

from crm_assets.config import ResourceSpec, SourceConfig
from crm_assets.defs.checks.reader import TableReader
from crm_assets.table_rules.accounts import account_rows
from crm_assets.table_rules.history import VALID_FROM, VALID_TO


def check_primary_key(
    reader: TableReader, config: SourceConfig, resource: ResourceSpec
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
    scope = account_rows(config.account_name)
    nulls = reader.client.execute_sql(
        f"select count(*) from {table} where {scope[0]} and ("
        + " or ".join(f"{c} is null" for c in escaped) + ")",
        *scope[1],
    )[0][0]
    if resource.history:
        # Every version of a row shares its key: unique among the current versions, and
        # with the time each version began, unique among all.
        duplicates = _repeated(reader, table, escaped, scope, where=f"{VALID_TO} is null")
        versions = _repeated(reader, table, [*escaped, VALID_FROM], scope)
    else:
        duplicates, versions = _repeated(reader, table, escaped, scope), []
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
            "repeated_keys_sample": dg.MetadataValue.json(sample),
            **(
                {"repeated_versions_sample": dg.MetadataValue.json(version_sample)}
                if resource.history else {}
            ),
        },
    )


def _repeated(
    reader: TableReader,
    table: str,
    columns: list[str],
    scope: tuple[str, list[str]],
    where: str = "1 = 1",
) -> list:
    listed = ", ".join(columns)
    return reader.client.execute_sql(
        f"select {listed}, count(*) from {table} where {scope[0]} and {where} "
        f"group by {listed} having count(*) > 1 order by count(*) desc limit 5",
        *scope[1],
    )
