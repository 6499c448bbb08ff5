"""A stage counts only if DuckDB holds the rows the floor fetched, table by table (every table of
the sources' datasets, no `_dlt*` and no nested `__` tables); the pages the sandbox served during
the stage are printed beside the floor's."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def duckdb_counts(duckdb_path: Path, sources: list[str]) -> dict[str, int]:
    """Rows per `<source>.<table>`."""
    from crm_assets.demo import dataset_row_counts

    if not duckdb_path.exists():
        return {}
    return {f"{source}.{table}": rows for source in sources
            for table, rows in dataset_row_counts(duckdb_path, source).items()}


def verify(stage: str, counts: dict[str, int], expected: dict[str, int]) -> dict[str, Any]:
    """Prints the check, per source and each mismatch; returns what the JSON keeps."""
    mismatches = {key: {"duckdb": counts.get(key), "floor": expected.get(key)}
                  for key in sorted(set(counts) | set(expected))
                  if counts.get(key) != expected.get(key)}
    total = sum(counts.get(key, 0) for key in expected)
    print(f"  row check after stage {stage}: {'MISMATCH' if mismatches else 'OK'} "
          f"({total} rows in DuckDB, {sum(expected.values())} fetched by the floor)")
    for source in sorted({key.split(".")[0] for key in [*counts, *expected]}):
        tables = [key for key in counts if key.split(".")[0] == source]
        floor_rows = sum(rows for key, rows in expected.items() if key.split(".")[0] == source)
        print(f"    {source:18} {len(tables):3} tables {sum(counts[t] for t in tables):>10} rows"
              f"   floor {floor_rows:>10}")
    for key, pair in list(mismatches.items())[:20]:
        print(f"    mismatch {key}: duckdb={pair['duckdb']} floor={pair['floor']}")
    return {"valid": not mismatches, "rows": total, "counts": counts, "mismatches": mismatches}


def check_rows(stage: str, measured: dict[str, Any], floor: dict[str, Any], duckdb_path: Path,
               sources: list[str]) -> None:
    measured.update(verify(stage, duckdb_counts(duckdb_path, sources), floor["rows"]))
    print(f"    pages served during stage {stage}: {sum(measured['pages_served'].values())}"
          f" (floor {sum(floor['pages_served'].values())})", flush=True)
