"""The real UI: dagster-webserver on 127.0.0.1 against workspace.yaml, its GraphQL API, and
headless Chromium (Debian's, driven by Playwright) rendering the asset graph and a checks tab."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import requests

from crm_assets.config import SourceConfig
from crm_assets.sandbox.ports import free_port
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import materialize, query

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCATION = "crm_assets.definitions"


@pytest.fixture(scope="module")
def webserver_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((REPO / "dagster.local.yaml").read_text())
    return home


@pytest.fixture(scope="module")
def webserver(webserver_home: Path) -> Iterator[str]:
    home = webserver_home
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1",
         "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, "dagster-webserver exited"
            assert time.monotonic() < deadline, "dagster-webserver did not answer in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def graphql(url: str, query: str) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body.get("errors")
    return body["data"]


def test_graphql_lists_assets_groups_lineage_checks_jobs_schedules_and_sensors(
    webserver: str, configs: list[SourceConfig]
):
    nodes = graphql(
        webserver,
        "{ assetNodes { assetKey { path } groupName dependencyKeys { path }"
        "  assetChecksOrError { ... on AssetChecks { checks { name } } } } }",
    )["assetNodes"]
    assert len(nodes) == 90 + 11
    windowed = [c for c in configs if c.windowed_resources()]
    assert {node["groupName"] for node in nodes} == {config.name for config in configs} | {
        f"{config.name}_windows" for config in windowed
    }
    by_key = {"/".join(node["assetKey"]["path"]): node for node in nodes}
    assert [dep["path"] for dep in by_key["party_crm/windows/employees"]["dependencyKeys"]] == [
        ["party_crm", "windows", "parties"]
    ]
    employees = by_key["party_crm/employees"]
    assert [dep["path"] for dep in employees["dependencyKeys"]] == [["party_crm", "parties"]]
    edges = sum(len(node["dependencyKeys"]) for node in nodes)
    assert edges == sum(1 for c in configs for r in [*c.resources, *c.windowed_resources()] if r.parent)
    assert {check["name"] for check in by_key["lead_crm/account"]["assetChecksOrError"]["checks"]} == {
        "primary_key_unique", "has_rows", "schema_drift", "row_volume",
    }

    repository = graphql(
        webserver,
        "{ repositoriesOrError { ... on RepositoryConnection { nodes {"
        "  jobs { name } schedules { name cronSchedule executionTimezone } sensors { name } } } } }",
    )["repositoriesOrError"]["nodes"][0]
    job_names = {job["name"] for job in repository["jobs"]}
    assert {f"{c.name}_job" for c in configs} <= job_names
    assert "connection_check" in job_names
    assert {(s["name"], s["cronSchedule"], s["executionTimezone"]) for s in repository["schedules"]} == {
        *((f"{c.name}_schedule", c.schedule.cron, c.schedule.timezone) for c in configs),
        *(
            (f"{c.name}_full_refresh_schedule", c.full_refresh_schedule.cron,
             c.full_refresh_schedule.timezone)
            for c in configs if c.full_refresh_schedule
        ),
    }
    assert {s["name"] for s in repository["sensors"]} == {
        *(f"{c.name}_catch_up" for c in configs), "crm_run_failure_alert",
        "connection_check_hourly",
    }


def _require_chromium() -> None:
    if not shutil.which(CHROMIUM) and not os.environ.get("CRM_REQUIRE_BROWSER"):
        pytest.skip(f"{CHROMIUM} is not installed (CI installs it and sets CRM_REQUIRE_BROWSER)")


def test_chromium_shows_the_loaded_tables_row_count_and_name_on_the_asset_page(
    webserver: str, webserver_home: Path, sandbox: Sandbox, duckdb_path: Path, tmp_path: Path
):
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    sandbox.volume.overrides["lead_crm.lead"] = 37
    # A run recorded in the instance the webserver reads (the UI is under test, not the CLI).
    with dg.DagsterInstance.from_config(str(webserver_home)) as instance:
        assert materialize(instance, "lead_crm/lead").success
    (table_rows,) = query(duckdb_path, "select count(*) from lead_crm.lead")[0]
    assert table_rows == 37

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.set_default_timeout(60_000)
        page.goto(f"{webserver}/assets/lead_crm/lead")
        expect(page.get_by_text("Row count", exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_text("lead_crm.lead", exact=True).first).to_be_visible(timeout=60_000)
        shown = re.search(r"Row count\s+([\d,]+)", page.inner_text("body"))
        page.screenshot(path=tmp_path / "lead_asset_page.png")
        browser.close()
    assert shown and int(shown.group(1).replace(",", "")) == table_rows


def test_chromium_renders_the_asset_graph_and_an_assets_checks_tab(webserver: str, tmp_path: Path):
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(f"{webserver}/locations/{LOCATION}/asset-groups/party_crm")
        expect(page.get_by_text("employees", exact=True).first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("parties", exact=True).first).to_be_visible(timeout=60_000)
        page.screenshot(path=tmp_path / "asset_graph.png")

        page.goto(f"{webserver}/assets/lead_crm/account?view=checks")
        for check in ("primary_key_unique", "has_rows", "schema_drift", "row_volume"):
            expect(page.get_by_text(check).first).to_be_visible(timeout=60_000)
        page.screenshot(path=tmp_path / "account_checks.png")
        browser.close()
    assert (tmp_path / "asset_graph.png").stat().st_size > 10_000
