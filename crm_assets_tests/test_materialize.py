"""Every source materializes against the sandbox over HTTP into DuckDB, with exact row counts."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from crm_assets.config import CONFIGS_DIR, SourceConfig
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import (
    assert_tables_exact,
    definitions,
    list_resources,
    materialize,
    page_size,
    query,
    table_counts,
)


def boundary_volumes(sandbox: Sandbox, configs: list[SourceConfig]) -> dict[str, int]:
    """Per source, list resources get 0, 1, a page minus one, exactly a page, a page plus one."""
    overrides = {}
    for config in configs:
        for index, resource in enumerate(list_resources(config, sandbox)):
            size = page_size(sandbox, config.name, resource)
            boundaries = [0, 1, size - 1, size, size + 1]
            if index < len(boundaries):
                overrides[f"{config.name}.{resource}"] = boundaries[index]
    return overrides


@pytest.mark.usefixtures("budget_not_under_test")
@pytest.mark.slow
def test_every_source_loads_exact_rows_and_reruns_merge_without_duplicates(
    sandbox: Sandbox, configs: list[SourceConfig], duckdb_path: Path, instance: dg.DagsterInstance
):
    sandbox.volume.overrides.update(boundary_volumes(sandbox, configs))
    sandbox.volume.overrides["party_crm.parties"] = 7  # children: 0, 1 or 2 people per party

    for run in (1, 2):
        # Loads only: the checks' own tests run them (test_checks.py, on Postgres too).
        result = materialize(instance, checks=False)
        assert result.success
        for config in configs:
            assert_tables_exact(sandbox, config, duckdb_path, f"after run {run}")

    materialized = {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
    }
    assert len(materialized) == 90


@pytest.mark.usefixtures("budget_not_under_test")
def test_pages_are_really_fetched_over_http(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance
):
    sandbox.volume.overrides.update(boundary_volumes(sandbox, configs))
    assert materialize(instance, "group:deal_crm or group:party_crm or group:lead_crm").success
    for source in ("deal_crm", "party_crm", "lead_crm"):
        config = next(c for c in configs if c.name == source)
        for resource in list_resources(config, sandbox):
            rows = sandbox.volume.rows(source, resource)
            size = page_size(sandbox, source, resource)
            route = sandbox.route(source, resource)
            # Link headers stop at the last page; page and offset APIs send no total, so the
            # paginator stops at the first empty page.
            if route.paginator["type"] == "header_link":
                pages = max(1, math.ceil(rows / size))
            else:
                pages = math.ceil(rows / size) + 1
            assert sandbox.stats.pages[route.key] == pages, route.key
            assert sandbox.stats.rows[route.key] == rows, route.key


def test_nested_objects_lists_and_late_fields_land_in_columns_and_child_tables(
    sandbox: Sandbox, duckdb_path: Path, instance: dg.DagsterInstance
):
    sandbox.volume.overrides["lead_crm.lead"] = 230  # field `archived_reason` starts at id 150
    assert materialize(instance, "lead_crm/lead").success
    assert query(duckdb_path, "select count(*), count(archived_reason) from lead_crm.lead") == [
        (230, 81)
    ]
    assert query(duckdb_path, "select count(*) from lead_crm.lead where owner__email is null") == [
        (0,)
    ]
    labels = sum(record_id % 3 for record_id in range(1, 231))
    assert query(duckdb_path, "select count(*) from lead_crm.lead__labels") == [(labels,)]


def test_entity_paths_keep_rows_that_share_an_id_apart(
    sandbox: Sandbox, duckdb_path: Path, instance: dg.DagsterInstance
):
    sandbox.volume.overrides["party_crm.tags"] = 4
    assert materialize(instance, "party_crm/tags").success
    rows = query(
        duckdb_path, "select entity, count(*) from party_crm.tags group by entity order by entity"
    )
    assert rows == [("kases", 4), ("opportunities", 4), ("parties", 4)]


def test_child_asset_alone_fetches_its_parent_but_loads_only_itself(
    sandbox: Sandbox, duckdb_path: Path, instance: dg.DagsterInstance
):
    sandbox.volume.overrides["party_crm.parties"] = 5
    assert materialize(instance, "party_crm/employees").success
    assert set(table_counts(duckdb_path, "party_crm")) == {"employees"}
    assert query(duckdb_path, "select count(*), count(distinct _parties_id) from party_crm.employees") == [
        (1 + 2 + 0 + 1 + 2, 4)
    ]
    assert sandbox.stats.requests["party_crm.employees"] == 5


def test_a_run_of_some_assets_builds_only_their_resources_and_ancestors(configs: list[SourceConfig]):
    """dlt resolves a client's config for each REST resource it builds (~20 ms each): a run
    of one asset of a 17-resource source builds that one, and a child its parent."""
    [party_crm] = [config for config in configs if config.name == "party_crm"]
    assert [r.name for r in party_crm.loaded_resources(False, only=["employees"])] == [
        "parties", "employees"
    ]
    assert [r.name for r in party_crm.loaded_resources(False, only=["tasks"])] == ["tasks"]
    assert party_crm.loaded_resources(False) == party_crm.resources


def test_transient_429_and_5xx_are_retried_without_losing_a_row(
    sandbox: Sandbox, duckdb_path: Path, instance: dg.DagsterInstance
):
    sandbox.volume.overrides["success_analytics.churn"] = 4500  # three pages of 2000
    sandbox.add_fault(Fault(path="/churn", kind="status", status=429, times=2, retry_after=0.2))
    sandbox.add_fault(Fault(path="/churn", kind="status", status=503, times=1))
    assert materialize(instance, "success_analytics/churn").success
    assert table_counts(duckdb_path, "success_analytics")["churn"] == (4500, 4500)
    assert sandbox.stats.statuses[429] == 2 and sandbox.stats.statuses[503] == 1


def test_wrong_credentials_fail_with_source_resource_and_status_but_no_secret(
    sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LEAD_CRM_API_KEY", "wrong-key-4f1c9")
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.event_specific_data.error
    # The resources fetch in parallel: whichever is refused first is named.
    assert re.match(
        r"dagster\._core\.definitions\.events\.Failure: lead_crm/(\w+): GET /lead_crm/v1/\1 "
        r"answered HTTP 401 Unauthorized \(HTTPError\)",
        error.message,
    ), error.message
    assert "wrong-key-4f1c9" not in error.to_string() and "api_key=" not in error.to_string()


def test_missing_secret_fails_its_step_before_any_request_naming_the_env_var(
    sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("DEAL_CRM_PASSWORD")
    result = materialize(instance, "group:deal_crm", raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert failure.step_key == "deal_crm"
    assert failure.event_specific_data.error.message.endswith(
        "deal_crm: DEAL_CRM_PASSWORD is not set; nothing was sent to its API\n"
    )
    assert sum(sandbox.stats.requests.values()) == 0


def test_a_sixth_config_file_adds_a_source_with_no_code_change(
    sandbox: Sandbox, tmp_path: Path, duckdb_path: Path, instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
):
    configs_dir = tmp_path / "configs"
    shutil.copytree(CONFIGS_DIR, configs_dir)
    (configs_dir / "ticket_desk.yaml").write_text(
        """
description: "Help desk with tickets and agents."
base_url: https://api.ticket-desk.example.com/api/
auth:
  type: api_key
  name: X-Api-Key
  location: header
  env: {api_key: TICKET_DESK_API_KEY}
page_size_param: size
schedule: {cron: "30 2 * * *"}
resource_defaults:
  primary_key: id
  write_disposition: merge
  endpoint:
    paginator: {type: page_number, page_param: p, base_page: 0}
resources:
  - name: tickets
    endpoint: {path: tickets, data_selector: results, params: {size: 20}}
  - name: agents
    endpoint: {path: agents, data_selector: results, params: {size: 20}}
"""
    )
    with Sandbox.from_configs_dir(configs_dir) as ticket_sandbox:
        ticket_sandbox.volume.overrides["ticket_desk.tickets"] = 41
        for name, value in ticket_sandbox.env().items():
            if name.startswith("TICKET_DESK_"):
                monkeypatch.setenv(name, value)
        assert len(definitions(configs_dir).resolve_asset_graph().get_all_asset_keys()) == 90 + 11 + 2
        assert materialize(instance, "group:ticket_desk", configs_dir=configs_dir).success
    assert table_counts(duckdb_path, "ticket_desk") == {"tickets": (41, 41), "agents": (10, 10)}


def test_a_base_url_without_scheme_fails_naming_its_env_var_before_any_request(
    sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LEAD_CRM_BASE_URL", "127.0.0.1:9/v1")
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "LEAD_CRM_BASE_URL: base URL '127.0.0.1:9/v1' must be absolute" in (
        failure.event_specific_data.error.message
    )
    assert sum(sandbox.stats.requests.values()) == 0
