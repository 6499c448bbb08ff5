"""Wall time of `dagster asset materialize --select '*'` on Celery with one worker vs two.

    .venv/bin/python bench/celery_workers.py --records 20000 --latency-ms 100 --workers 1 2

Each pass is a new deployment on this machine's RabbitMQ and Postgres (a fresh virtual host,
Dagster storage database and destination database), a fresh sandbox process with the given
latency, N `dagster-celery` workers as the README starts them, and the CLI run timed from launch
to exit. The APIs' budgets are off (`<SOURCE>_RATE_LIMIT=none`): the sandbox limits nothing, so
the figures compare workers, not plans.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from crm_assets.assets import source_pool  # noqa: E402
from crm_assets.config import load_source_configs  # noqa: E402
from crm_assets_tests.celery_cluster import (  # noqa: E402
    BIN, Cluster, finish, rabbitmq_vhost, steps_by_worker, storage_env,
)
from crm_assets_tests.helpers import table_counts  # noqa: E402
from crm_assets_tests.postgres import fresh_database  # noqa: E402
from harness.sandbox_process import SandboxProcess  # noqa: E402


def one_pass(workers: int, args: argparse.Namespace, work_dir: Path) -> dict:
    configs = load_source_configs(ROOT / "configs")
    sandbox = SandboxProcess(
        ["--records", str(args.records), "--latency-ms", str(args.latency_ms),
         "--jitter-ms", str(args.jitter_ms)],
        work_dir / "sandbox.log", ROOT,
    )
    try:
        with (
            fresh_database("bench_storage") as storage_url,
            fresh_database("bench_destination") as destination_url,
            rabbitmq_vhost() as broker_url,
        ):
            env = {
                **os.environ, **sandbox.env, **storage_env(storage_url),
                "CRM_EXECUTOR": "celery", "CRM_DESTINATION": "postgres",
                "CRM_POSTGRES_URL": destination_url,
                "CRM_CELERY_BROKER_URL": broker_url, "CRM_CELERY_BACKEND_URL": "rpc://",
                **{f"{c.name.upper()}_RATE_LIMIT": "none" for c in configs},
            }
            os.environ.update(storage_env(storage_url))
            cluster = Cluster(work_dir, env)
            try:
                launcher = cluster.machine("launcher")
                for config in configs:
                    subprocess.run(
                        [str(BIN / "dagster"), "instance", "concurrency", "set",
                         source_pool(config.name), "1"],
                        env=launcher.env, cwd=launcher.root, check=True, capture_output=True,
                    )
                cluster.start_workers(*(f"w{n}" for n in range(1, workers + 1)))
                started = time.perf_counter()
                code, output = finish(launcher.materialize("tag:crm/load=nightly"), timeout=3600)
                wall = time.perf_counter() - started
                if code != 0:
                    raise RuntimeError(f"run failed with {workers} worker(s):\n{output[-3000:]}")
                instance = cluster.instance()
                [run] = instance.get_runs()
                per_worker: dict[str, int] = {}
                for _, worker in steps_by_worker(instance, run.run_id):
                    per_worker[worker] = per_worker.get(worker, 0) + 1
                rows = sum(
                    rows
                    for config in configs
                    for rows, _ in table_counts(destination_url, config.name).values()
                )
                instance.dispose()
            finally:
                cluster.stop()
    finally:
        sandbox.stop()
    return {"workers": workers, "wall": wall, "rows": rows, "steps": per_worker}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--jitter-ms", type=float, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    results = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix=f"celery_bench_{workers}_") as work_dir:
            result = one_pass(workers, args, Path(work_dir))
        results.append(result)
        print(f"{workers} worker(s): {result['wall']:.1f} s, {result['rows']:,} rows, "
              f"steps per worker {result['steps']}", flush=True)

    print(f"\n`*` on Celery, {args.records:,} records, {args.latency_ms:g} ms latency "
          f"(+ up to {args.jitter_ms:g} ms), {os.cpu_count()} cores")
    print("| workers | wall s | rows in the destination | vs 1 worker |")
    print("|---|---|---|---|")
    first = results[0]["wall"]
    for result in results:
        print(f"| {result['workers']} | {result['wall']:.1f} | {result['rows']:,} | "
              f"{first / result['wall']:.2f}x |")


if __name__ == "__main__":
    main()
