"""The time windows a source's incremental resources can be loaded for (Dagster partitions)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Literal

from pydantic import field_validator

from crm_assets.config.base import StrictModel


class BackfillSpec(StrictModel):
    """Windows of one `grain` (UTC), the first starting on `start`, the last holding today.
    A window loads the rows whose incremental cursor falls in it."""

    start: date
    grain: Literal["day", "week", "month"] = "month"

    @field_validator("start")
    @classmethod
    def _not_in_the_future(cls, start: date) -> date:
        if start > datetime.now(timezone.utc).date():
            raise ValueError(f"start {start.isoformat()} is in the future: no window would exist")
        return start
