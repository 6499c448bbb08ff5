"""Stages 3 and 4, the Dagster CLI: `dagster asset materialize -m crm_assets.definitions --select
<sel>` into a fresh DAGSTER_HOME, DuckDB file and pipelines dir, then the same command again;
3i (the instant API, with a slow one), 3x and 4x (--dagster-extra-config) beside them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.benchmark_run import BenchmarkRun
from harness.measure import print_failure
from harness.row_check import duckdb_counts, verify


def dagster_stage_plan(run: BenchmarkRun,
                       configs: list[Any]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(stage, command, env) in the order they run; the first env is stage 3's."""
    args, work = run.args, run.work
    dagster_home = work / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("")
    # The client's budget is the emulated account's plan: the sandbox's rate where it has
    # one (as a user sets <SOURCE>_RATE_LIMIT for theirs), none where it answers unlimited.
    api_rates = {c.name: "none" for c in configs}
    for spec in args.rate:
        source, _, rate = spec.rpartition("=")
        api_rates.update({name: rate for name in ([source] if source else api_rates)})
    dagster_env = {
        **run.env,
        **{f"{name.upper()}_RATE_LIMIT": rate for name, rate in api_rates.items()},
        "DAGSTER_HOME": str(dagster_home),
        "CRM_DUCKDB_PATH": str(work / "dagster" / "crm.duckdb"),
        "CRM_PIPELINES_DIR": str(work / "dagster" / "pipelines"),
    }
    materialize = [sys.executable, "-m", "dagster", "asset", "materialize",
                   "-m", "crm_assets.definitions", "--select", run.workload.asset_selection]
    extra_env = {
        **dagster_env,
        "CRM_DUCKDB_PATH": str(work / "dagster_extra" / "crm.duckdb"),
        "CRM_PIPELINES_DIR": str(work / "dagster_extra" / "pipelines"),
    }
    plan = [("3", materialize, dagster_env)]
    if run.slow_api:
        instant_env = {
            **dagster_env,
            **{f"{name.upper()}_RATE_LIMIT": "none" for name in api_rates},
            "CRM_DUCKDB_PATH": str(work / "dagster_instant" / "crm.duckdb"),
            "CRM_PIPELINES_DIR": str(work / "dagster_instant" / "pipelines"),
        }
        dagster_env.update(run.slow_api.env)
        plan = [("3i", materialize, instant_env), ("3", materialize, dagster_env)]
    if run.workload.single or args.rerun:
        plan.append(("4", materialize, dagster_env))
    if args.dagster_extra_config:
        extra = [*materialize, "--config-json", args.dagster_extra_config]
        plan += [("3x", extra, extra_env), ("4x", extra, extra_env)]
        run.results["dagster_extra_config"] = args.dagster_extra_config
    return plan


def run_dagster_stages(run: BenchmarkRun, configs: list[Any],
                       floor: dict[str, Any]) -> dict[str, str]:
    """Each stage checked against the floor's rows and pages; returns stage 3's env."""
    floor_pages = sum(floor["pages_served"].values())
    plan = dagster_stage_plan(run, configs)
    for stage, command, stage_env in plan:
        if run.remaining() <= 0:
            break
        api = run.slow_api if run.slow_api and stage == "3" else run.sandbox
        api.reset()
        measured = run.measure(command, stage_env, run.work / f"dagster-{stage}.log",
                               timeout=max(run.remaining(), 1))
        api_stats = api.stats()
        measured["pages_served"] = dict(api_stats["pages"])
        if api is run.slow_api:
            measured["traffic"] = api_stats["sources"]
            measured["peak_sources_in_flight"] = api_stats["peak_sources_in_flight"]
            measured["sources_fetching_at_once"] = api_stats["sources_fetching_at_once"]
        run.stages[stage] = measured
        if measured["returncode"] != 0:
            print_failure(stage, measured)
            break
        measured.update(verify(stage, duckdb_counts(
            Path(stage_env["CRM_DUCKDB_PATH"]), run.workload.sources), floor["rows"]))
        print(f"    pages served during stage {stage}: "
              f"{sum(measured['pages_served'].values())} (floor {floor_pages})", flush=True)
    return next(env for stage, _, env in plan if stage == "3")
