"""Stage 5, code-location load: `dagster definitions validate -m crm_assets.definitions` against
`python -c "import dagster, dlt"`, and (5e) the same validate on an empty `Definitions()`, the
CLI's own cost (its instance and storage imports); median of 3 each."""

from __future__ import annotations

import sys

from harness.benchmark_run import BenchmarkRun


def run_code_location_load(run: BenchmarkRun, dagster_env: dict[str, str]) -> None:
    validate = run.median_wall(
        [sys.executable, "-m", "dagster", "definitions", "validate",
         "-m", "crm_assets.definitions"], dagster_env, "validate")
    imports = run.median_wall([sys.executable, "-c", "import dagster, dlt"], dagster_env,
                              "import")
    # The CLI's own floor: the same command on a code location with nothing in it.
    empty = run.work / "empty_definitions.py"
    empty.write_text("import dagster as dg\n\ndefs = dg.Definitions()\n")
    validate_empty = run.median_wall(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-f", str(empty)],
        dagster_env, "validate-empty")
    run.stages["5"] = {"validate": validate, "import": imports, "validate_empty": validate_empty,
                       "ratio": validate["wall_s"] / imports["wall_s"]}
