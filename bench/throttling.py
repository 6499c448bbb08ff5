"""What 429s cost, measured side by side in one sitting, through the CLI as a user runs it.

    .venv/bin/python bench/throttling.py                 # every scenario
    .venv/bin/python bench/throttling.py --only transient --latency-ms 100

Each run is `dagster asset materialize -m crm_assets.definitions` of a group (or of every
source's nightly assets) in a fresh DAGSTER_HOME and DuckDB file, against the sandbox served from
this process, answering after `--latency-ms`. Printed per run: wall seconds, the source's
fetching span (the sandbox's first request to last answer), whether every table holds exactly
the rows the API serves, requests, 429s by kind, the fewest requests in flight, the longest
stretch a request waited for the budget.

  transient  party_crm at its shipped 4000/h, 1,000 parties: no fault; 20 pages spread over
             the run answering one 429 (Retry-After: 1, no rate headers); the first 12 pages
             of people answering one each.
  matrix     every source at once, each API enforcing the source's configured rate, one burst
             429, one 503 and one connection reset per source: with the configured client
             budget and without any (`<SOURCE>_RATE_LIMIT=none`).
  smaller    an account allowing less than configured: lead_crm (10/1) against an API allowing
             5 per 2 s, party_crm (4000/h) against 20 per s; with and without X-RateLimit-*.

Over 150 lines: the three scenarios and the one run-and-print they share read best together.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crm_assets.config import CONFIGS_DIR, RateLimitSpec, load_source_configs  # noqa: E402
from crm_assets.sandbox.faults import Fault  # noqa: E402
from crm_assets.sandbox.server import Sandbox  # noqa: E402
from crm_assets.sandbox.traffic import Latency, Traffic  # noqa: E402
from crm_assets.sandbox.volume import Volume  # noqa: E402
from crm_assets_tests.helpers import expected_counts, table_counts  # noqa: E402
from harness.product import NIGHTLY_SELECTION, asset_key, source_names  # noqa: E402

CONFIGS = {config.name: config for config in load_source_configs(CONFIGS_DIR)}


def run(sandbox: Sandbox, work: Path, name: str, sources: list[str],
        env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """One CLI run of a source's group, or of every source's nightly assets; per source its
    figures (and whether its tables are exact)."""
    selection = f"group:{source_names(sources[0]).group}" if len(sources) == 1 else NIGHTLY_SELECTION
    home, duckdb_path = work / f"{name}_home", work / f"{name}.duckdb"
    home.mkdir()
    sandbox.reset_stats()
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crm_assets.definitions",
         "--select", selection], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, **sandbox.env(), **(env or {}), "DAGSTER_HOME": str(home),
             "CRM_DUCKDB_PATH": str(duckdb_path), "CRM_PIPELINES_DIR": str(work / f"{name}_dlt")})
    wall = time.monotonic() - started
    if finished.returncode:
        print(finished.stderr[-2000:])
    traffic = sandbox.stats_json()["sources"]
    figures = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for source in sources:
            # The source's figures are on each of its assets; read its first.
            first_asset = asset_key(source, CONFIGS[source].resources[0].name)
            event = instance.get_latest_materialization_event(first_asset)
            metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()} if event else {}
            expected = expected_counts(sandbox, CONFIGS[source])
            loaded = table_counts(duckdb_path, source)
            figures[source] = {
                "wall": wall, "span": traffic.get(source, {}).get("busy_seconds", 0.0),
                "exact": all(loaded.get(t, (0, 0)) == (n, n) for t, n in expected.items()),
                **{k.removeprefix("source_"): v for k, v in metadata.items() if k.startswith("source_")},
            }
    return figures


def show(label: str, figures: dict[str, Any], reference: dict[str, Any] | None = None) -> None:
    ratio = f"{figures['span'] / reference['span']:5.2f}x" if reference and reference["span"] else "     "
    print(
        f"  {label:34} wall {figures['wall']:6.1f} s  fetch {figures['span']:6.2f} s {ratio}  "
        f"{'exact' if figures['exact'] else 'NOT EXACT'}  requests {figures.get('requests', '?'):>5}  "
        f"429 burst/window {figures.get('answered_429_burst', '?')}/"
        f"{figures.get('answered_429_window', '?')}  "
        f"in flight >= {figures.get('lowest_requests_in_flight', '?')}  "
        f"budget >= {figures.get('lowest_budget_per_window', '?')}  "
        f"longest wait {figures.get('longest_wait_for_budget_seconds', '?')} s")


def transient(sandbox: Sandbox, work: Path, latency: Latency) -> None:
    print(f"transient: party_crm at 4000/h, 1,000 parties, {latency.ms:g} ms answers")
    sandbox.volume.overrides["party_crm.parties"] = 1000
    cases = {
        "no fault": [],
        "20 pages spread, one 429 each": [f"/parties/{p}/people" for p in range(50, 1001, 50)],
        "first 12 pages, one 429 each": [f"/parties/{p}/people" for p in range(1, 13)],
    }
    clean = None
    for label, paths in cases.items():
        sandbox.traffic = Traffic(latency)
        for path in paths:
            sandbox.add_fault(Fault(path=path, status=429, retry_after=1))
        figures = run(sandbox, work, f"transient{len(paths)}", ["party_crm"])
        show(label, figures["party_crm"], clean)
        clean = clean or figures["party_crm"]
        sandbox.faults.clear()
    sandbox.volume.overrides.clear()


def matrix(sandbox: Sandbox, work: Path, latency: Latency) -> None:
    print(f"matrix: every source at once, APIs enforcing the configured rates, {latency.ms:g} ms")
    limits = {name: config.rate_limit for name, config in CONFIGS.items() if config.rate_limit}
    pairs = {}
    for budget in ("configured", "none"):
        sandbox.traffic = Traffic(latency, limits)
        for name in CONFIGS:
            paths = [r.resource.endpoint.path for r in sandbox.routes[name] if r.kind == "list"]
            sandbox.add_fault(Fault(path=paths[0], status=429, retry_after=1))
            sandbox.add_fault(Fault(path=paths[1], status=503))
            sandbox.add_fault(Fault(path=paths[2], kind="reset"))
        env = {config.rate_limit_env: "none" for config in CONFIGS.values()} if budget == "none" else {}
        pairs[budget] = run(sandbox, work, f"matrix_{budget}", list(CONFIGS), env)
        sandbox.faults.clear()
    for name in CONFIGS:
        show(f"{name} without a client budget", pairs["none"][name])
        show(f"{name} with its configured budget", pairs["configured"][name], pairs["none"][name])


def smaller(sandbox: Sandbox, work: Path, latency: Latency) -> None:
    print(f"smaller: an account allowing less than configured, {latency.ms:g} ms")
    sandbox.volume.overrides.update({"lead_crm.account": 450, "lead_crm.contact": 450,
                                     "party_crm.parties": 300})
    for source, api in (("lead_crm", "5/2"), ("party_crm", "20/1")):
        for headers in (True, False):
            sandbox.traffic = Traffic(latency, {source: RateLimitSpec.parse(api)}, rate_headers=headers)
            figures = run(sandbox, work, f"smaller_{source}_{headers}", [source])
            served = sandbox.stats_json()["sources"][source]
            show(f"{source} API {api} {'with' if headers else 'without'} rate headers", figures[source])
            print(f"  {'':34} API saw: {served['requests']} requests, {served['throttled']} 429s, "
                  f"at most {served.get('max_in_any_window')} in any window, "
                  f"{served['accepted_rate']} answered/s")
    sandbox.volume.overrides.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["transient", "matrix", "smaller"])
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    latency = Latency(args.latency_ms)
    with tempfile.TemporaryDirectory() as work, Sandbox(list(CONFIGS.values()), volume=Volume(default=3)) as sandbox:
        for scenario in (transient, matrix, smaller):
            if args.only in (None, scenario.__name__):
                scenario(sandbox, Path(work), latency)


if __name__ == "__main__":
    main()
