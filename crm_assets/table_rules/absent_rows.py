"""Rows a complete read did not return: marked deleted (`deletions.py`) or retired from a
history (`history.py`) once the load succeeded, unless they are more than the resource's
`max_deleted_share` of the table's current rows. A read that came up short (a page the API
answered empty in the middle of its list) is likelier than that many deletions at once, so
then none is touched, the materialization says so and the `deletions_held` check fails, until a
run confirms them (`confirm_deletions` in the run config, or the `crm/confirm_deletions` tag).

Only ever called after a load that read every page of the table, each page well-formed: an
answer that is not data fails the read before anything loads (`extract/answer_shape.py`).

Over 150 lines: the plan, the guard and the two ways of settling (marks by load id, retirements
by key) share one rule and are read together."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from crm_assets.config import SourceConfig
from crm_assets.defs.names import CONFIRM_DELETIONS_TAG
from crm_assets.table_rules.accounts import account_rows
from crm_assets.table_rules.deletions import DELETED_AT, LOAD_ID, load_time
from crm_assets.table_rules.history import VALID_TO, ReturnedKeys

# Keys per `update ... where key in (...)` statement.
KEYS_PER_STATEMENT = 500


@dataclass(frozen=True)
class AbsentRows:
    """A table's current rows the read did not return, against its current rows before, and
    how many of them this run marked or retired (all, or none when held)."""

    absent: int
    current: int
    settled: int
    max_share: float

    @property
    def held(self) -> int:
        return self.absent - self.settled

    def metadata(self) -> dict[str, Any]:
        return {
            "rows_absent_from_read": dg.MetadataValue.int(self.absent),
            "rows_absent_held": dg.MetadataValue.int(self.held),
            "max_deleted_share": dg.MetadataValue.float(self.max_share),
        }

    def log_line(self, table: str) -> str:
        return (
            f"{table}: {self.absent} of {self.current} current rows "
            f"({self.absent / self.current:.0%}) were not in this complete read, more than "
            f"max_deleted_share {self.max_share:.0%}; none was marked deleted or retired. If "
            f"they are real deletions, re-run with run config confirm_deletions: [{table}] "
            f"or the tag {CONFIRM_DELETIONS_TAG}={table}"
        )


@dataclass
class AbsentRowsPlan:
    """What a run settles after its load: the tables it tracks, the keys its reads returned
    (history tables) and the tables whose deletions it confirms."""

    config: SourceConfig
    confirmed: set[str]
    returned_keys: dict[str, ReturnedKeys]

    @classmethod
    def for_run(cls, config: SourceConfig, dlt_source: Any, confirmed: set[str]) -> AbsentRowsPlan:
        """The plan for the source's run, its history resources keeping their returned keys
        as their last map step."""
        returned_keys = {}
        for resource in config.resources:
            # A backfill window's source holds its windowed resources only.
            if resource.name not in dlt_source.resources:
                continue
            if resource.history and config.tracks_absent_rows(resource):
                returned_keys[resource.name] = ReturnedKeys(config.primary_key(resource))
                dlt_source.resources[resource.name].add_map(returned_keys[resource.name])
        return cls(config, confirmed, returned_keys)

    def settle(
        self, client: Any, tables: Collection[str], rows_read: dict[str, int], load_ids: list[str]
    ) -> dict[str, AbsentRows]:
        """Mark or retire what each tracked table's complete read did not return. A table
        whose read returned no row at all is likelier a broken API than every record deleted:
        it settles nothing."""
        settled = {}
        for table in tables:
            resource = self.config.resource(table)
            if not (self.config.tracks_absent_rows(resource) and rows_read.get(table)):
                continue
            share = self.config.max_deleted_share(resource)
            confirmed = "*" in self.confirmed or table in self.confirmed
            if table in self.returned_keys:
                returned = self.returned_keys[table]
                settled[table] = retire_absent(
                    client, table, returned.key_columns, returned.keys, load_ids, share, confirmed,
                    self.config.account_name,
                )
            else:
                settled[table] = mark_absent(
                    client, table, load_ids, share, confirmed, self.config.account_name
                )
        return settled


def confirmed_tables(configured: Collection[str], tags: dict[str, str]) -> set[str]:
    """Tables whose deletions this run confirms (`*`: all of them), from the run config's
    `confirm_deletions` and the `crm/confirm_deletions` tag (comma-separated)."""
    tagged = [name.strip() for name in tags.get(CONFIRM_DELETIONS_TAG, "").split(",") if name.strip()]
    return {*configured, *tagged}


def _within_share(absent: int, current: int, max_share: float, confirmed: bool) -> bool:
    return confirmed or absent <= max_share * current


def mark_absent(
    client: Any,
    table: str,
    load_ids: list[str],
    max_share: float,
    confirmed: bool,
    account: str | None = None,
) -> AbsentRows:
    """Mark the rows (of the account) the load did not write (a merge gives every returned row
    this run's `_dlt_load_id`), undone by the merge when a record comes back (its new version
    has no mark)."""
    qualified = client.make_qualified_table_name(table)
    not_written = f"{LOAD_ID} not in ({', '.join(['%s'] * len(load_ids))})"
    scope, scope_args = account_rows(account)
    [(current, absent)] = client.execute_sql(
        f"select count(*), count(*) filter (where {not_written}) "
        f"from {qualified} where {DELETED_AT} is null and {scope}",
        *load_ids,
        *scope_args,
    )
    if not absent or not _within_share(absent, current, max_share, confirmed):
        return AbsentRows(absent, current, 0, max_share)
    rows = client.execute_sql(
        f"update {qualified} set {DELETED_AT} = %s "
        f"where {DELETED_AT} is null and {not_written} and {scope} returning 1",
        load_time(load_ids),
        *load_ids,
        *scope_args,
    )
    return AbsentRows(absent, current, len(rows or []), max_share)


def retire_absent(
    client: Any,
    table: str,
    key_columns: list[str],
    returned: set[tuple[Any, ...]],
    load_ids: list[str],
    max_share: float,
    confirmed: bool,
    account: str | None = None,
) -> AbsentRows:
    """End the current version of every key (of the account) the read did not return, at the
    load's time (the time dlt gives the versions it retires and opens)."""
    qualified = client.make_qualified_table_name(table)
    keys = ", ".join(key_columns)
    scope, scope_args = account_rows(account)
    current_keys = [
        tuple(key)
        for key in client.execute_sql(
            f"select {keys} from {qualified} where {VALID_TO} is null and {scope}", *scope_args
        )
    ]
    absent = [key for key in current_keys if key not in returned]
    if not absent or not _within_share(len(absent), len(current_keys), max_share, confirmed):
        return AbsentRows(len(absent), len(current_keys), 0, max_share)
    retired = 0
    row = "(" + ", ".join(["%s"] * len(key_columns)) + ")"
    for chunk in _chunks(absent, KEYS_PER_STATEMENT):
        rows = client.execute_sql(
            f"update {qualified} set {VALID_TO} = %s where {VALID_TO} is null "
            f"and ({keys}) in ({', '.join([row] * len(chunk))}) returning 1",
            load_time(load_ids),
            *(value for key in chunk for value in key),
        )
        retired += len(rows or [])
    return AbsentRows(len(absent), len(current_keys), retired, max_share)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
