"""The code location: exact asset keys, groups, lineage and kinds, loaded with no secret set."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import SourceConfig
from crm_assets.definitions import build_definitions
from crm_assets.defs.names import NIGHTLY_SELECTION


def test_one_asset_per_resource_keyed_source_slash_resource_and_one_per_window(
    configs: list[SourceConfig],
):
    graph = build_definitions().resolve_asset_graph()
    nightly = {dg.AssetKey([c.name, r.name]) for c in configs for r in c.resources}
    windows = {dg.AssetKey([c.name, "windows", r.name]) for c in configs for r in c.windowed_resources()}
    assert (len(nightly), len(windows)) == (90, 11)
    # No phantom dlt_<source>_<resource> keys.
    assert set(graph.get_all_asset_keys()) == nightly | windows
    assert dg.AssetSelection.from_string(NIGHTLY_SELECTION).resolve(graph) == nightly


def test_windows_are_time_partitions_of_the_incremental_resources_and_their_children(
    configs: list[SourceConfig],
):
    graph = build_definitions().resolve_asset_graph()
    party_crm = next(config for config in configs if config.name == "party_crm")
    assert [r.name for r in party_crm.windowed_resources()] == [
        "parties", "tasks", "employees", "projects", "opportunities",
    ]
    employees = graph.get(dg.AssetKey(["party_crm", "windows", "employees"]))
    assert employees.parent_keys == {dg.AssetKey(["party_crm", "windows", "parties"])}
    assert employees.group_name == "party_crm_windows" and employees.tags["crm/load"] == "window"
    assert employees.partitions_def == dg.MonthlyPartitionsDefinition("2025-01-01", end_offset=1)
    assert employees.backfill_policy == dg.BackfillPolicy.single_run()
    assert employees.metadata["dagster/table_name"] == "party_crm.employees"
    users = graph.get(dg.AssetKey(["party_crm", "users"]))
    assert users.metadata["backfill_windows"].startswith("none: its API has no modification-time")
    assert graph.get(dg.AssetKey(["party_crm", "parties"])).metadata["backfill_windows"] == (
        "party_crm/windows/parties"
    )


def test_groups_kinds_and_lineage_follow_the_configs(configs: list[SourceConfig]):  # nightly
    graph = build_definitions().resolve_asset_graph()
    for config in configs:
        for resource in config.resources:
            node = graph.get(dg.AssetKey([config.name, resource.name]))
            assert node.group_name == config.name
            assert {"dlt", "duckdb"} <= set(node.kinds)
            expected_parents = {dg.AssetKey([config.name, resource.parent])} if resource.parent else set()
            assert node.parent_keys == expected_parents
    assert graph.get(dg.AssetKey(["party_crm", "employees"])).parent_keys == {
        dg.AssetKey(["party_crm", "parties"])
    }


def test_the_code_location_loads_with_no_secret_no_network_and_writes_no_file(tmp_path: Path):
    """A fresh interpreter with none of the env vars imports the definitions, from a working
    directory and a home of its own: nothing is written there, nor in the pipelines directory
    the pipeline references name (dlt.pipeline() would write state.json)."""
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network used while loading')\n"
        "socket.socket.connect = refuse\n"
        "from crm_assets.definitions import defs\n"
        "print(len(defs.resolve_asset_graph().get_all_asset_keys()))\n"
    )
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
        "CRM_PIPELINES_DIR": str(tmp_path / "pipelines"),
    }
    output = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
        check=True,
    )
    assert output.stdout.strip() == "101"
    assert sorted(tmp_path.rglob("*")) == [cwd, home]


def test_the_catalog_preview_says_what_each_asset_is_and_hides_no_unserializable_object():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    first_lines = {}
    for key in graph.get_all_asset_keys():
        spec = defs.resolve_assets_def(key).specs_by_key[key]
        first_lines[key] = spec.description.splitlines()[0]
        assert "`" not in spec.description, key
        assert not any(name.startswith("dagster_dlt/") for name in spec.metadata), key
    assert len(set(first_lines.values())) == len(first_lines) == 101
    assert first_lines[dg.AssetKey(["party_crm", "custom_fields"])].startswith("Custom fields: GET ")


def test_how_recently_each_asset_loaded_is_its_freshness_policy(configs: list[SourceConfig]):
    """What the dropped `loaded_recently` check said (the source's last load within
    `freshness_hours`), each asset's freshness policy shows on its page."""
    graph = build_definitions().resolve_asset_graph()
    for config in configs:
        window = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=config.freshness_hours))
        for resource in config.resources:
            assert graph.get(dg.AssetKey([config.name, resource.name])).freshness_policy == window


def test_the_catch_up_sensor_states_its_window_in_hours():
    sensor = build_definitions().resolve_sensor_def("lead_crm_catch_up")
    assert sensor.description == "Re-loads lead_crm assets not materialized within 26 hours."


def test_the_executor_is_chosen_by_configuration(monkeypatch: pytest.MonkeyPatch):
    assert build_definitions().resolve_job_def("lead_crm_job").executor_def.name == "multiprocess"

    monkeypatch.setenv("CRM_EXECUTOR", "celery")
    with pytest.raises(dg.DagsterInvariantViolationError, match="cannot share a DuckDB file"):
        build_definitions()
    monkeypatch.setenv("CRM_DESTINATION", "postgres")
    assert build_definitions().resolve_job_def("lead_crm_job").executor_def.name == "celery"

    monkeypatch.setenv("CRM_EXECUTOR", "kubernetes")
    with pytest.raises(dg.DagsterInvariantViolationError, match="CRM_EXECUTOR='kubernetes'"):
        build_definitions()
