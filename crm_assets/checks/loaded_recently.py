"""`loaded_recently`: the source's last successful dlt load is within its freshness window."""

from datetime import datetime, timezone
from typing import Any

from crm_assets.checks.reader import TableReader
from crm_assets.config import SourceConfig


def check_loaded_recently(reader: TableReader, config: SourceConfig) -> dict[str, Any]:
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
