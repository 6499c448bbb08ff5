"""What the levers' variants landed in DuckDB (tables, column types, non-null counts) and the
closing table comparing them with the baseline and the floor."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from harness.report import fmt


def describe_tables(duckdb_path: Path, source: str) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        rows = connection.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name not like '\\_dlt%' escape '\\' "
            "order by table_name, ordinal_position", [source]).fetchall()
        tables: dict[str, Any] = {}
        for table, column, data_type in rows:
            tables.setdefault(table, {"columns": {}})["columns"][column] = data_type
        for table, info in tables.items():
            columns = list(info["columns"])
            counts = connection.execute(
                'select count(*), ' + ", ".join(f'count("{c}")' for c in columns)
                + f' from "{source}"."{table}"').fetchone()
            info["rows"] = counts[0]
            info["non_null"] = dict(zip(columns, counts[1:]))
    return tables


def report(results: dict[str, Any], expected: int) -> None:
    variants = results["variants"]
    ok = {}
    for name, variant in variants.items():
        measured = [r for r in variant["runs"] if r.get("valid") is not None]
        clean = [r for r in measured if not r.get("contaminated")]
        ok[name] = clean or measured
    base_runs = ok.get("baseline") or []
    base = statistics.median(r["run_s"] for r in base_runs) if base_runs else None
    floor = results["floor"]["inner_s"]
    print("\n" + "=" * 140)
    print(f"levers, {expected} rows; floor (bare requests) {floor:.2f} s = "
          f"{expected / floor:.0f} rows/s; times are medians of pipeline.run over the runs")
    print(f"{'variant':22} {'before s':>8} {'after s':>8} {'rows/s':>8} {'x base':>6} "
          f"{'/floor':>6} {'extract':>7} {'normal.':>7} {'load':>6} {'RSS MB':>6} "
          f"{'otherCPU':>8}  rows   "
          f"tables (columns)")
    for name, variant in variants.items():
        runs = ok[name]
        if not runs:
            print(f"{name:22} failed")
            continue
        run_s = statistics.median(r["run_s"] for r in runs)

        def step(key: str) -> float:
            return statistics.median(r["steps"].get(key, float("nan")) for r in runs)

        tables = runs[0]["tables"]
        shape = "; ".join(f"{t}({len(v['columns'])})" for t, v in tables.items())
        print(f"{name:22} {fmt(base, '8.2f')} {run_s:8.2f} {expected / run_s:8.0f} "
              f"{(base / run_s) if base else float('nan'):6.2f} {run_s / floor:6.1f} "
              f"{step('extract'):7.2f} {step('normalize'):7.2f} {step('load'):6.2f} "
              f"{max(r['maxrss_mb'] for r in runs):6.0f} "
              f"{max(r['other_cpu_s'] for r in runs):8.1f}  "
              f"{'OK' if all(r['valid'] for r in runs) else 'BAD':5}  {shape}")
        variant["median_run_s"] = run_s
    print("x base = baseline seconds / variant seconds (>1 is faster); /floor = variant / floor")
    base_tables = (ok.get("baseline") or [{}])[0].get("tables", {})
    for name, runs in ok.items():
        if not runs or "tables" not in runs[0]:
            continue
        for table, info in runs[0]["tables"].items():
            base = base_tables.get(table, {})
            if name != "baseline" and info["columns"] == base.get("columns") \
                    and info["non_null"] == base.get("non_null"):
                continue
            print(f"  {name}: {table} rows={info['rows']} columns (type, non-null): "
                  + ", ".join(f"{c} {t} {info['non_null'][c]}" for c, t in info["columns"].items()))
    print("  (variants not listed: same tables, column types and non-null counts as baseline)")
