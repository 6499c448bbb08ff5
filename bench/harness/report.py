"""The table printed at the end of a benchmark: a row a stage (seconds, rows, rows/s, peak RSS,
tree RSS, other CPU, a note) and the ratios between stages; both also go to the JSON."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def fmt(value: Any, spec: str) -> str:
    if value is None:
        width = re.match(r"\d*", spec).group(0)
        return "-".rjust(int(width) if width else 1)
    return format(value, spec)


def report(results: dict[str, Any], floor_rows: dict[str, int]) -> None:
    stages = results["stages"]
    rows_floor = sum(floor_rows.values())
    table: list[dict[str, Any]] = []

    def row(stage: str, label: str, seconds: float | None, rows: int | None,
            measured: dict[str, Any] | None, note: str = "") -> None:
        valid = bool(measured) and measured.get("returncode", 0) == 0 \
            and not measured.get("timed_out") and measured.get("valid", True)
        table.append({
            "stage": stage, "label": label, "seconds": seconds, "rows": rows, "valid": valid,
            "rows_per_s": rows / seconds if rows and seconds else None,
            "maxrss_mb": measured.get("maxrss_mb") if measured else None,
            "other_cpu_s": measured.get("other_cpu_s") if measured else None,
            "cpu_s": measured.get("cpu_s") if measured else None,
            "tree_rss_mb": measured.get("tree_rss_mb") if measured else None,
            "note": note,
        })

    s0, s1 = stages.get("0", {}), stages["1"]
    if s0.get("returncode") == 0:
        row("0", "sandbox serve_page+dumps (in-process)", s0["inner_s"], s0["rows_served"], s0,
            f"serve_page {s0['serve_page_s']:.2f}s, dumps {s0['dumps_s']:.2f}s; server CPU "
            f"during stage 1 {s1['sandbox_cpu_s']:.2f}s, server VmHWM "
            f"{results['sandbox']['hwm_mb']:.0f}MB")
    row("1", "floor: bare requests (fetch loop)", s1["inner_s"], rows_floor, s1,
        f"{s1['requests']} requests, {1000 * s1['inner_s'] / s1['requests']:.1f} ms each; "
        f"process wall {s1['wall_s']:.2f}s")
    s2 = stages.get("2")
    if s2:
        valid = s2.get("valid")
        row("2", "plain dlt (process wall)", s2["wall_s"], s2.get("rows"), s2,
            f"run {s2.get('inner_s', 0):.2f}s, import {s2.get('import_s', 0):.2f}s; "
            f"rows {'OK' if valid else 'INVALID'}")
    for stage, label in (("3i", "dagster asset materialize, instant API"),
                         ("3", "dagster asset materialize"), ("4", "dagster rematerialize"),
                         ("3x", "dagster materialize, --dagster-extra-config"),
                         ("4x", "dagster rematerialize, --dagster-extra-config")):
        s = stages.get(stage)
        if s:
            row(stage, label, s["wall_s"], s.get("rows"), s,
                f"rows {'OK' if s.get('valid') else 'INVALID'}"
                + (" TIMED OUT" if s.get("timed_out") else ""))
    s5 = stages.get("5")
    if s5:
        row("5", "dagster definitions validate (median 3)", s5["validate"]["wall_s"], None,
            s5["validate"], "walls " + "/".join(f"{w:.2f}" for w in s5["validate"]["walls_s"]))
        row("5i", "python -c 'import dagster, dlt' (median 3)", s5["import"]["wall_s"], None,
            s5["import"], "walls " + "/".join(f"{w:.2f}" for w in s5["import"]["walls_s"]))
        if "validate_empty" in s5:
            row("5e", "validate of an empty Definitions (median 3)",
                s5["validate_empty"]["wall_s"], None, s5["validate_empty"],
                "the CLI's own floor: walls "
                + "/".join(f"{w:.2f}" for w in s5["validate_empty"]["walls_s"]))
    results["table"] = table

    print("\n" + "=" * 118)
    print(f"records={results['args']['records']} selection={results['selection']!r} "
          f"sandbox: --sandbox-nodelay={results['args']['sandbox_nodelay']}, its code sets "
          f"disable_nagle_algorithm={results['args'].get('sandbox_code_disables_nagle')}; "
          f"code {(results.get('code') or {}).get('sha256', 'live')[:12]}"
          + "".join(f" + {Path(p).name}" for p in (results.get("code") or {}).get("patches", [])))
    print(f"{'stage':5} {'what':42} {'seconds':>8} {'rows':>9} {'rows/s':>9} "
          f"{'peakRSS MB':>10} {'treeRSS MB':>10} {'CPU s':>7} {'otherCPU s':>10}  note")
    for r in table:
        print(f"{r['stage']:5} {r['label']:42} {fmt(r['seconds'], '8.2f')} "
              f"{fmt(r['rows'], '9d')} {fmt(r['rows_per_s'], '9.0f')} "
              f"{fmt(r['maxrss_mb'], '10.0f')} {fmt(r['tree_rss_mb'], '10.0f')} "
              f"{fmt(r['cpu_s'], '7.1f')} {fmt(r['other_cpu_s'], '10.1f')}  {r['note']}")
    ratios: dict[str, float | None] = {}
    by_stage = {r["stage"]: r for r in table}

    def ratio(a: str, b: str) -> float | None:
        if (a in by_stage and b in by_stage and by_stage[b]["seconds"]
                and by_stage[a]["valid"] and by_stage[b]["valid"]):
            return by_stage[a]["seconds"] / by_stage[b]["seconds"]
        return None

    ratios["3/1 (end-to-end vs HTTP floor)"] = ratio("3", "1")
    ratios["3/2 (Dagster overhead)"] = ratio("3", "2")
    ratios["4/3 (rerun vs first run)"] = ratio("4", "3")
    ratios["2/1 (plain dlt vs floor)"] = ratio("2", "1")
    if "3x" in by_stage:
        ratios["3x/2 (Dagster overhead, extra config)"] = ratio("3x", "2")
        ratios["3x/1 (end-to-end, extra config)"] = ratio("3x", "1")
    s2 = stages.get("2") or {}
    if s2.get("inner_s") and by_stage.get("1", {}).get("seconds"):
        ratios["2run/1 (dlt pipeline.run only vs floor)"] = s2["inner_s"] / by_stage["1"]["seconds"]
    ratios["5 (validate / import dagster+dlt)"] = ratio("5", "5i")
    ratios["5e (empty-Definitions validate / import dagster+dlt)"] = ratio("5e", "5i")
    results["ratios"] = ratios
    print("ratios: " + "; ".join(f"{k} = {fmt(v, '.2f')}" for k, v in ratios.items()))
    print("peakRSS = ru_maxrss from wait4 (largest single process of the stage's tree); "
          "treeRSS = sampled sum over the tree (0.2 s); CPU = the stage's CPU seconds (its "
          "whole tree, forked steps included); otherCPU = CPU seconds used meanwhile "
          "by processes outside the benchmark (load on the shared machine)")
