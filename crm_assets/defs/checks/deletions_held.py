"""`deletions_held`: the latest complete read did not return more of the table's current rows
than `max_deleted_share`, so none was marked deleted or retired (`table_rules/absent_rows.py`) until a run
confirms them."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from crm_assets.defs.names import CONFIRM_DELETIONS_TAG


def check_deletions_held(latest: Mapping[str, Any], table: str) -> dict[str, Any]:
    held = getattr(latest.get("rows_absent_held"), "value", 0) or 0
    absent = getattr(latest.get("rows_absent_from_read"), "value", 0) or 0
    share = getattr(latest.get("max_deleted_share"), "value", None)
    metadata = {"rows_absent_from_read": absent, "rows_absent_held": held}
    if share is not None:
        metadata["max_deleted_share"] = share
    return dict(
        passed=not held,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if not held else (
            f"{held} current rows were missing from the latest complete read, more than "
            f"max_deleted_share of the table; none was marked. If they are real deletions, "
            f"re-run with run config confirm_deletions: [{table}] or the tag "
            f"{CONFIRM_DELETIONS_TAG}={table}."
        ),
        metadata=metadata,
    )
