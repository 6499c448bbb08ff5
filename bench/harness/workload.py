"""What one benchmark loads: all sources spread over `--records`, or (single-resource mode) one
resource's collection at `--records` rows; what the sandbox is told, and what Dagster selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    single: bool
    sandbox_args: dict[str, Any]  # the sandbox's arguments as stage 0 rebuilds its Volume
    sandbox_cli: list[str]  # the same, as `python -m crm_assets.sandbox` takes them
    asset_selection: str  # `dagster asset materialize --select`
    sources: list[str]


def workload(records: int, source: str | None, resource: str | None,
             configs: list[Any]) -> Workload:
    """Raises LookupError when single-resource mode names a resource no config has."""
    if not resource:
        return Workload(False, {"records": records, "rows_per_resource": 10, "rows": {}},
                        ["--records", str(records)], "tag:crm/load=nightly",
                        [c.name for c in configs])
    config = next((c for c in configs if c.name == source), None)
    if config is None or resource not in [r.name for r in config.resources]:
        raise LookupError(f"{source}/{resource}")
    # The sandbox sizes a collection by the first resource reading its path; a child is sized
    # by its root parent.
    root = resource
    while config.resource(root).parent:
        root = config.resource(root).parent
    path = config.resource(root).endpoint.path
    collection = next(r.name for r in config.resources if r.endpoint.path == path)
    return Workload(
        True,
        {"records": None, "rows_per_resource": 0, "rows": {f"{source}.{collection}": records}},
        ["--rows", f"{source}.{collection}={records}", "--rows-per-resource", "0"],
        f"{source}/{resource}", [source])
