"""A stage is valid only if the rows in DuckDB equal the rows the floor fetched, table by table;
the pages the sandbox served during the stage are compared with the floor's too."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def duckdb_counts(duckdb_path: Path, sources: list[str]) -> dict[str, int]:
    """Rows per `<source>.<table>`: every table of the datasets, no `_dlt*`, no nested `__`.
    The benchmark's one row-count query."""
    from crm_assets.demo import dataset_row_counts

    if not duckdb_path.exists():
        return {}
    return {
        f"{source}.{table}": rows
        for source in sources
        for table, rows in dataset_row_counts(duckdb_path, source).items()
    }


def verify(stage: str, counts: dict[str, int], expected: dict[str, int]) -> dict[str, Any]:
    mismatches = {
        key: {"duckdb": counts.get(key), "floor": expected.get(key)}
        for key in sorted(set(counts) | set(expected))
        if counts.get(key) != expected.get(key)
    }
    total = sum(counts.get(key, 0) for key in expected)
    by_source: dict[str, list[int]] = {}
    for key, rows in counts.items():
        by_source.setdefault(key.split(".")[0], [0, 0, 0])
        by_source[key.split(".")[0]][0] += 1
        by_source[key.split(".")[0]][1] += rows
    for key, rows in expected.items():
        by_source.setdefault(key.split(".")[0], [0, 0, 0])[2] += rows
    print(f"  row check after stage {stage}: "
          f"{'OK' if not mismatches else 'MISMATCH'} ({total} rows in DuckDB, "
          f"{sum(expected.values())} fetched by the floor)")
    for source, (tables, rows, floor_rows) in sorted(by_source.items()):
        print(f"    {source:18} {tables:3} tables {rows:>10} rows   floor {floor_rows:>10}")
    if len(counts) <= 3:
        for key, rows in counts.items():
            print(f"    {key:40} {rows:>10}")
    for key, pair in list(mismatches.items())[:20]:
        print(f"    mismatch {key}: duckdb={pair['duckdb']} floor={pair['floor']}")
    return {"valid": not mismatches, "rows": total, "counts": counts, "mismatches": mismatches}


def pages_served(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {key: count - before["pages"].get(key, 0) for key, count in after["pages"].items()
            if count - before["pages"].get(key, 0)}
