"""The table printed at the end of a benchmark: a row a stage (seconds, rows, rows/s, peak RSS,
tree RSS, CPU, other CPU, a note) and the ratios between stages; both go to the JSON too."""

from __future__ import annotations

from typing import Any

LEGEND = ("peakRSS = ru_maxrss from wait4 (largest single process of the stage's tree); "
          "treeRSS = sampled sum over the tree (0.2 s); CPU = the stage's CPU seconds (its "
          "whole tree, forked steps included); otherCPU = CPU seconds used meanwhile "
          "by processes outside the benchmark (load on the shared machine)")


def fmt(value: Any, spec: str) -> str:
    if value is None:
        width = "".join(c for c in spec.split(".")[0] if c.isdigit())
        return "-".rjust(int(width or 1))
    return format(value, spec)


def walls(measured: dict[str, Any]) -> str:
    return "walls " + "/".join(f"{wall:.2f}" for wall in measured["walls_s"])


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, float, int | None, dict, str]]:
    """(stage, what, seconds, rows, its measurement, note) of each stage that ran."""
    stages = results["stages"]
    s0, s1, s2, s5 = (stages.get(stage) for stage in ("0", "1", "2", "5"))
    rows = []
    if s0 and s0["returncode"] == 0:
        rows.append(("0", "sandbox serve_page+dumps (in-process)", s0["inner_s"],
                     s0["rows_served"], s0,
                     f"serve_page {s0['serve_page_s']:.2f}s, dumps {s0['dumps_s']:.2f}s; server "
                     f"CPU during stage 1 {s1['sandbox_cpu_s']:.2f}s, server VmHWM "
                     f"{results['sandbox']['hwm_mb']:.0f}MB"))
    rows.append(("1", "floor: bare requests (fetch loop)", s1["inner_s"], s1["rows_total"], s1,
                 f"{s1['requests']} requests, {1000 * s1['inner_s'] / s1['requests']:.1f} ms "
                 f"each; process wall {s1['wall_s']:.2f}s"))
    if s2:
        rows.append(("2", "plain dlt (process wall)", s2["wall_s"], s2.get("rows"), s2,
                     f"run {s2.get('inner_s', 0):.2f}s, import {s2.get('import_s', 0):.2f}s; "
                     f"rows {'OK' if s2.get('valid') else 'INVALID'}"))
    for stage, label in (("3", "dagster asset materialize"), ("4", "dagster rematerialize")):
        if measured := stages.get(stage):
            rows.append((stage, label, measured["wall_s"], measured.get("rows"), measured,
                         f"rows {'OK' if measured.get('valid') else 'INVALID'}"
                         + (" TIMED OUT" if measured["timed_out"] else "")))
    if s5:
        rows += [
            ("5", "dagster definitions validate (median 3)", s5["validate"]["wall_s"], None,
             s5["validate"], walls(s5["validate"])),
            ("5i", "python -c 'import dagster, dlt' (median 3)", s5["import"]["wall_s"], None,
             s5["import"], walls(s5["import"])),
            ("5e", "validate of an empty Definitions (median 3)", s5["validate_empty"]["wall_s"],
             None, s5["validate_empty"], "the CLI's own floor: " + walls(s5["validate_empty"]))]
    return rows


def report(results: dict[str, Any]) -> None:
    table = []
    for stage, label, seconds, rows, measured, note in table_rows(results):
        table.append({
            "stage": stage, "label": label, "seconds": seconds, "rows": rows, "note": note,
            "valid": measured.get("returncode") == 0 and not measured.get("timed_out")
            and measured.get("valid", True),
            "rows_per_s": rows / seconds if rows and seconds else None,
            **{key: measured.get(key) for key in ("maxrss_mb", "tree_rss_mb", "cpu_s",
                                                  "other_cpu_s")}})
    results["table"] = table
    print("\n" + "=" * 118)
    print(f"records={results['args']['records']} selection={results['selection']!r} "
          f"code {results['code']['sha256'][:12]}")
    print(f"{'stage':5} {'what':42} {'seconds':>8} {'rows':>9} {'rows/s':>9} "
          f"{'peakRSS MB':>10} {'treeRSS MB':>10} {'CPU s':>7} {'otherCPU s':>10}  note")
    for row in table:
        print(f"{row['stage']:5} {row['label']:42} {fmt(row['seconds'], '8.2f')} "
              f"{fmt(row['rows'], '9d')} {fmt(row['rows_per_s'], '9.0f')} "
              f"{fmt(row['maxrss_mb'], '10.0f')} {fmt(row['tree_rss_mb'], '10.0f')} "
              f"{fmt(row['cpu_s'], '7.1f')} {fmt(row['other_cpu_s'], '10.1f')}  {row['note']}")
    by_stage = {row["stage"]: row for row in table}

    def ratio(a: str, b: str) -> float | None:
        if a in by_stage and b in by_stage and by_stage[a]["valid"] and by_stage[b]["valid"]:
            return by_stage[a]["seconds"] / by_stage[b]["seconds"]
        return None

    s2 = results["stages"].get("2") or {}
    results["ratios"] = ratios = {
        "3/1 (end-to-end vs HTTP floor)": ratio("3", "1"),
        "3/2 (Dagster overhead)": ratio("3", "2"),
        "4/3 (rerun vs first run)": ratio("4", "3"),
        "2/1 (plain dlt vs floor)": ratio("2", "1"),
        "2run/1 (dlt pipeline.run only vs floor)":
            s2["inner_s"] / by_stage["1"]["seconds"] if s2.get("inner_s") else None,
        "5 (validate / import dagster+dlt)": ratio("5", "5i"),
        "5e (empty-Definitions validate / import dagster+dlt)": ratio("5e", "5i"),
    }
    print("ratios: " + "; ".join(f"{k} = {fmt(v, '.2f')}" for k, v in ratios.items()))
    print(LEGEND)
