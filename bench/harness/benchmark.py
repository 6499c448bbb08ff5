"""One benchmark, one volume: snapshot the code, start the sandbox(es), run the stages in order
within the budget, then print the table and write the JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from harness.benchmark_run import BenchmarkRun, stage_env
from harness.code_location_load import run_code_location_load
from harness.code_under_test import ROOT, CodeUnderTest, set_pii_policies, snapshot_code
from harness.dagster_stages import run_dagster_stages
from harness.python_stages import run_floor, run_plain_dlt, run_serve, write_stage_context
from harness.report import report
from harness.sandbox_process import SandboxProcess
from harness.traffic_report import traffic_report
from harness.workload import workload


def slow_api_cli(args: argparse.Namespace) -> list[str]:
    """The sandbox arguments of a real API's latency and rate limits; none: no slow API."""
    return [
        *(["--latency-ms", f"{args.latency_ms:g}"] if args.latency_ms else []),
        *(["--jitter-ms", f"{args.jitter_ms:g}"] if args.jitter_ms else []),
        *(arg for rate in args.rate for arg in ("--rate", rate)),
    ]


def sandbox_disables_nagle(code: CodeUnderTest) -> bool:
    """Whether the sandbox's own code sets TCP_NODELAY, in whichever of its modules."""
    return any(re.search(r"^\s*disable_nagle_algorithm\s*=\s*True", path.read_text(), re.MULTILINE)
               for path in (code.dir / "crm_assets" / "sandbox").glob("*.py"))


def default_json_path(args: argparse.Namespace, single: bool) -> Path:
    suffix = (f"-{args.source}.{args.resource}" if single else "") \
        + ("-nodelay" if args.sandbox_nodelay else "") \
        + (f"-pii-{args.pii}" if args.pii != "shipped" else "")
    if slow_api_cli(args):
        suffix += "-latency" + f"{args.latency_ms:g}" + "".join(
            "-rate" + rate.replace("/", "per").replace("=", "") for rate in args.rate)
    return ROOT / "bench" / "results" / f"throughput-{args.records}{suffix}.json"


def run_benchmark(args: argparse.Namespace, script: Path, error: Callable[[str], NoReturn]) -> None:
    """`script` is run again for stages 0-2; `error` refuses arguments (argparse's)."""
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    code = CodeUnderTest(ROOT) if args.no_snapshot else snapshot_code(ROOT, work / "code",
                                                                      patches=args.patch)
    if args.pii != "shipped":
        set_pii_policies(code.configs_dir, args.pii)
    configs = code.load_configs()
    try:
        load = workload(args.records, args.source, args.resource, configs)
    except LookupError:
        error(f"no resource {args.source}/{args.resource} in {code.configs_dir}")
    json_path = args.json or default_json_path(args, load.single)

    print(f"work dir {work}; code {code.dir} "
          f"({code.snapshot['sha256'][:12] if code.snapshot else 'live tree'}); "
          f"python {platform.python_version()}; {os.cpu_count()} CPUs", flush=True)
    nagle_off_in_code = sandbox_disables_nagle(code)
    sandbox = SandboxProcess(load.sandbox_cli, work / "sandbox.log", code.dir,
                             nodelay=args.sandbox_nodelay)
    print(f"{sandbox.banner} (pid {sandbox.pid}; args {' '.join(load.sandbox_cli)}"
          f"{'; TCP_NODELAY' if args.sandbox_nodelay else ''})", flush=True)
    api_cli = slow_api_cli(args)
    slow_api = SandboxProcess([*load.sandbox_cli, *api_cli], work / "slow-api.log",
                              code.dir) if api_cli else None
    if slow_api:
        print(f"{slow_api.banner} (pid {slow_api.pid}; args {' '.join(api_cli)}): "
              "stage 3's API; stage 3i runs against the instant one", flush=True)
    results: dict[str, Any] = {
        "args": {"records": args.records, "source": args.source, "resource": args.resource,
                 "pii": args.pii,
                 "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, "rate": args.rate,
                 "sandbox_nodelay": args.sandbox_nodelay,
                 "sandbox_code_disables_nagle": nagle_off_in_code},
        "selection": load.asset_selection,
        "code": code.snapshot,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "stages": {},
    }
    run = BenchmarkRun(args, code, work, script, load, sandbox, slow_api, stage_env(sandbox),
                       results, started)
    try:
        run_stages(run, configs)
        results["sandbox"] = {"hwm_mb": sandbox.hwm_mb(), "cpu_s_total": sandbox.cpu_s()}
    finally:
        sandbox.stop()
        if slow_api:
            slow_api.stop()

    report(results, run.stages["1"]["rows"])
    if slow_api:
        traffic_report(results)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {json_path}")
    if args.keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def run_stages(run: BenchmarkRun, configs: list[Any]) -> None:
    """1 (the floor), 0, 2 (plain dlt), 3 and 4 (the Dagster CLI), 5 (code-location load); 2
    and 5 do not depend on the network: skipped against a slow API, and by --only-3-over-1."""
    ctx = write_stage_context(run, configs)
    floor = run_floor(run)
    run_serve(run)
    network_free_stages = not run.slow_api and not run.args.only_3_over_1
    if run.remaining() > 0 and network_free_stages:
        run_plain_dlt(run, ctx, floor)
    dagster_env = run_dagster_stages(run, configs, floor)
    if run.remaining() > 0 and network_free_stages:
        run_code_location_load(run, dagster_env)
