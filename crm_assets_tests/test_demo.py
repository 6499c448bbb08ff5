"""`make demo`'s program as a person sees it: a line per source, the full log in a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crm_assets.defs.checks import source_check_specs
from crm_assets.config import SourceConfig
from crm_assets_tests.helpers import unpaced_budgets


@pytest.mark.slow
def test_the_demo_shows_a_line_per_source_and_writes_the_full_log_to_a_file(
    tmp_path: Path, configs: list[SourceConfig]
):
    # Pacing is not under test here (test_throttling): the shipped 10 requests a second took
    # most of this test's minute.
    env = {
        **os.environ,
        **unpaced_budgets(configs),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "CRM_DUCKDB_PATH": str(tmp_path / "data" / "crm.duckdb"),
        "CRM_PIPELINES_DIR": str(tmp_path / "data" / "dlt_pipelines"),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "crm_assets.demo", "--records", "2000"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    shown = finished.stdout
    for config in configs:
        assert re.search(rf"\d s  {config.name} +started", shown), config.name
        assert re.search(rf"\d s  {config.name} +[\d,]+ rows loaded, [\d,]+ requests", shown)
        assert re.search(
            rf"\d s  {config.name}_checks +{len(source_check_specs(config))} checks passed, 0 failed",
            shown,
        ), config.name
    assert "DEBUG" not in shown and "materialized 90 assets" in shown
    log = tmp_path / "data" / "demo-run.log"
    assert f"the run's full log: {log}" in shown
    assert "RUN_SUCCESS" in log.read_text()
    # One INFO event per source says what each resource loaded, a line each.
    assert re.search(
        r"INFO .* lead_crm: 4 tables loaded\n(.+\n){0,3}lead_crm/lead: \d+ rows loaded from \d+ pages",
        log.read_text(),
    )
    assert len(shown.splitlines()) < 150
