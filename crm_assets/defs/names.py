"""Every name the project gives in Dagster: asset keys, groups, steps, pools, tags, jobs,
schedules and sensors. They are built here only; other modules ask for them, and a step is
mapped back to its source by looking it up (`StepNames`), never by taking a string apart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import dagster as dg

WINDOWS = "windows"

# Tags. Nightly and window assets are told apart by `crm/load`: `*` (and the UI's "Materialize
# all") takes the partitioned windows too, which need a partition, so every source's tables are
# `--select 'tag:crm/load=nightly'`.
LOAD_TAG = "crm/load"
NIGHTLY, WINDOW = "nightly", "window"
NIGHTLY_SELECTION = f"tag:{LOAD_TAG}={NIGHTLY}"
SOURCE_TAG = "crm/source"
ACCOUNT_TAG = "crm/account"
TRIGGER_TAG = "crm/trigger"
FULL_REFRESH_TAG = "crm/full_refresh"
CONFIRM_DELETIONS_TAG = "crm/confirm_deletions"
AUTH_TAG = "crm/auth"
PII_TAG = "crm/pii"

CONNECTION_CHECK_JOB = "connection_check"
CONNECTION_CHECK_SENSOR = "connection_check_hourly"
RUN_FAILURE_SENSOR = "crm_run_failure_alert"


def asset_key(source: str, resource: str, account: str | None = None) -> dg.AssetKey:
    """A nightly asset: `<source>/<resource>`; an account's: `<source>/<account>/<resource>`."""
    return dg.AssetKey([source, *([account] if account else []), resource])


def window_asset_key(source: str, resource: str, account: str | None = None) -> dg.AssetKey:
    """A backfill-window asset: `<source>/windows/<resource>`; an account's:
    `<source>/windows/<account>/<resource>` (so `key:<source>/<account>/*` holds no window)."""
    return dg.AssetKey([source, WINDOWS, *([account] if account else []), resource])


def resource_of(key: dg.AssetKey) -> str:
    """The dlt resource behind a nightly or window asset key."""
    return key.path[-1]


def source_of(key: dg.AssetKey) -> str:
    return key.path[0]


class SourceNames(NamedTuple):
    """Every name of one source's Dagster objects; for an account, its steps and pool are its
    own, and the group, job, schedules and sensor its source's."""

    group: str
    windows_group: str
    load_step: str
    windows_step: str
    checks_step: str
    connection_check_step: str
    # The pool a source's load and check steps hold a slot of: one at a time per source.
    pool: str
    job: str
    schedule: str
    full_refresh_schedule: str
    catch_up_sensor: str


def of(source: str, account: str | None = None) -> SourceNames:
    step = f"{source}__{account}" if account else source
    return SourceNames(
        group=source,
        windows_group=f"{source}_{WINDOWS}",
        load_step=step,
        windows_step=f"{step}_{WINDOWS}",
        checks_step=f"{step}_checks",
        connection_check_step=f"{step}_connection_check",
        pool=f"crm_source/{source}" + (f"/{account}" if account else ""),
        job=f"{source}_job",
        schedule=f"{source}_schedule",
        full_refresh_schedule=f"{source}_full_refresh_schedule",
        catch_up_sensor=f"{source}_catch_up",
    )


class StepNames:
    """Every step of the given (source, account) loads, by name: which source it serves (and
    account: `party_crm/eu`) and what it does."""

    def __init__(self, loads: Iterable[tuple[str, str | None]]) -> None:
        self.kinds: dict[str, tuple[str, str, str]] = {}
        for source, account in loads:
            named = of(source, account)
            label = f"{source}/{account}" if account else source
            self.kinds[named.load_step] = (source, label, "load")
            self.kinds[named.windows_step] = (source, label, "windows")
            self.kinds[named.checks_step] = (source, label, "checks")
            self.kinds[named.connection_check_step] = (source, label, "connection_check")

    def source(self, step: str) -> str | None:
        return self.kinds[step][0] if step in self.kinds else None

    def label(self, step: str) -> str | None:
        """The source, or `<source>/<account>`, the step loads or checks."""
        return self.kinds[step][1] if step in self.kinds else None

    def kind(self, step: str) -> str | None:
        return self.kinds[step][2] if step in self.kinds else None
