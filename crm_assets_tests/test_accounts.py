"""Several accounts of one API (party_crm's `eu` and `us`), over real HTTP: each loads on its
own (assets, pipeline, cursors, budget, secret check) into the source's tables, its rows told
apart by `_crm_account`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from crm_assets.config import (
    CONFIGS_DIR,
    ConfigError,
    RateLimitSpec,
    SourceConfig,
    load_source_config,
    load_source_configs,
)
from crm_assets.defs import names
from crm_assets.defs.checks.specs import check_specs
from crm_assets.resources import AlertWebhookResource
from crm_assets.sandbox.api import expected_rows
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.routes import api_name
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency, Traffic
from crm_assets.sandbox.volume import Volume
from crm_assets.table_rules.deletions import DELETED_AT
from crm_assets.table_rules.history import VALID_TO
from crm_assets_tests.helpers import (
    definitions,
    materialization_metadata,
    materialize,
    query,
)
from crm_assets_tests.postgres import fresh_database, require_postgres

REPO = Path(__file__).resolve().parent.parent
ACCOUNTS = {
    "eu": {"name": "eu", "base_url": "https://eu.party-crm.example.com"},
    "us": {"name": "us", "rate_limit": {"requests": 5, "per_seconds": 1}},
}
# eu has 12 parties and us 8: ids 1-8 are in both accounts, as two records each.
ROWS = {"party_crm.users": 10, "party_crm.stages": 10, "party_crm.eu.parties": 12, "party_crm.us.parties": 8}


def _write_party_crm(directory: Path, **changes: object) -> Path:
    """configs/ holding party_crm alone, with `changes` to its YAML."""
    directory.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load((CONFIGS_DIR / "party_crm.yaml").read_text())
    raw.update(changes)
    (directory / "party_crm.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return directory


# One resource of each kind: a list that marks deletions, an incremental parent, its child, a
# for_each, a single object and a history.
KINDS = ("users", "parties", "employees", "tags", "site", "stages")


@pytest.fixture
def accounts_dir(tmp_path: Path) -> Path:
    raw = yaml.safe_load((CONFIGS_DIR / "party_crm.yaml").read_text())
    # Users mark what the API stops listing; stages keep history and retire it.
    defaults = {**raw["resource_defaults"], "mark_deleted": True}
    return _write_party_crm(
        tmp_path / "configs", accounts=list(ACCOUNTS.values()), resource_defaults=defaults,
        resources=[resource for resource in raw["resources"] if resource["name"] in KINDS],
    )


@pytest.fixture
def two_accounts(
    accounts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """A sandbox serving both accounts (a record a day from 2025-01-01), the env pointing the
    pipeline at it, and the code location reading `accounts_dir`."""
    volume = Volume(default=3, overrides=dict(ROWS), minutes_per_id=24 * 60)
    with Sandbox(load_source_configs(accounts_dir), volume=volume) as sandbox:
        for name, value in sandbox.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CRM_CONFIGS_DIR", str(accounts_dir))
        monkeypatch.setenv("CRM_DUCKDB_PATH", str(tmp_path / "crm.duckdb"))
        monkeypatch.setenv("CRM_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
        yield sandbox


def _loads(accounts_dir: Path) -> dict[str, SourceConfig]:
    [config] = load_source_configs(accounts_dir)
    return {load.account_name: load for load in config.account_loads()}


def _expected(sandbox: Sandbox, load: SourceConfig) -> dict[str, int]:
    """The rows each table should hold of the account: what its API serves."""
    api, volume = api_name(load), sandbox.volume
    expected = {}
    for resource in load.resources:
        parent_ids = None
        if resource.parent:
            parent = sandbox.route(api, resource.parent).collection
            parent_ids = iter(volume.listed(api, parent, range(1, volume.rows(api, parent) + 1)))
        expected[resource.name] = expected_rows(sandbox.route(api, resource.name), volume, parent_ids)
    return expected


def _account_counts(destination: Path | str, account: str, deleted: bool = False) -> dict[str, tuple[int, int]]:
    """(current rows, distinct primary keys) of the account in every party_crm table."""
    tables = [
        table for (table,) in query(
            destination,
            "select table_name from information_schema.tables where table_schema = 'party_crm' "
            "and table_name not like '\\_dlt%' escape '\\' and table_name not like '%\\_\\_%' escape '\\'",
        )
    ]
    counts = {}
    for table in tables:
        columns = {c for (c,) in query(
            destination,
            f"select column_name from information_schema.columns where table_schema = 'party_crm' "
            f"and table_name = '{table}'",
        )}
        key = "entity, id" if "entity" in columns else "id"
        current = [f"_crm_account = '{account}'"]
        if DELETED_AT in columns and not deleted:
            current.append(f"{DELETED_AT} is null")
        if VALID_TO in columns:
            current.append(f"{VALID_TO} is null")
        [(rows, keys)] = query(
            destination,
            f"select count(*), count(distinct ({key})) from party_crm.{table} where "
            + " and ".join(current),
        )
        counts[table] = (rows, keys)
    return counts


def _assert_account_exact(sandbox: Sandbox, load: SourceConfig, destination: Path | str) -> None:
    expected = _expected(sandbox, load)
    loaded = _account_counts(destination, load.account_name)
    assert {name: loaded.get(name, (0, 0)) for name in expected} == {
        name: (rows, rows) for name, rows in expected.items()
    }, load.label


@pytest.fixture
def postgres_destination(two_accounts: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    require_postgres()
    with fresh_database("crm_accounts") as url:
        monkeypatch.setenv("CRM_DESTINATION", "postgres")
        monkeypatch.setenv("CRM_POSTGRES_URL", url)
        yield url


def test_two_accounts_load_every_row_once_with_its_account_and_a_rerun_adds_nothing(
    two_accounts: Sandbox, accounts_dir: Path, postgres_destination: str
):
    """Into Postgres (the other tests load DuckDB), where the accounts' loads take turns at
    their shared dataset by an advisory lock."""
    destination = postgres_destination
    loads = _loads(accounts_dir)
    result = materialize(dg.DagsterInstance.ephemeral(), "group:party_crm", configs_dir=accounts_dir)

    for load in loads.values():
        _assert_account_exact(two_accounts, load, destination)
    # The same id in both accounts is two rows, each with its own account's record.
    assert query(
        destination,
        "select count(*) from (select id from party_crm.parties group by id "
        "having count(distinct _crm_account) = 2 and count(distinct name) = 2) as shared",
    ) == [(8,)]
    assert query(destination, "select count(*) from party_crm.parties") == [(20,)]
    metadata = materialization_metadata(result)
    assert {key: metadata[key]["dagster/row_count"] for key in metadata if key.endswith("/parties")} == {
        "party_crm/eu/parties": 12, "party_crm/us/parties": 8,
    }
    assert metadata["party_crm/us/parties"]["dagster/table_name"] == "party_crm.parties"
    failed = [
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations() if not e.passed
    ]
    assert failed == []
    assert len(list(result.get_asset_check_evaluations())) == sum(
        len(check_specs(load, resource)) for load in loads.values() for resource in load.resources
    )

    materialize(dg.DagsterInstance.ephemeral(), "group:party_crm", configs_dir=accounts_dir, checks=False)
    for load in loads.values():
        _assert_account_exact(two_accounts, load, destination)
    assert query(destination, "select count(*) from party_crm.parties") == [(20,)]


def test_an_incremental_rerun_of_one_account_asks_only_its_api_from_its_own_cursor(
    two_accounts: Sandbox, accounts_dir: Path
):
    instance = dg.DagsterInstance.ephemeral()
    materialize(instance, "group:party_crm", configs_dir=accounts_dir, checks=False)
    two_accounts.volume.revisions["party_crm.eu.parties"] = {3: 1}
    two_accounts.reset_stats()

    materialize(instance, "key:party_crm/eu/*", configs_dir=accounts_dir, checks=False)
    served = two_accounts.stats.rows
    assert not [key for key in two_accounts.stats.requests if key.startswith("party_crm.us.")]
    # From eu's cursor (party 12's day, less the 1-hour lag): party 12, and party 3's revision.
    assert served["party_crm.eu.parties"] == 2

    two_accounts.reset_stats()
    materialize(instance, "key:party_crm/us/*", configs_dir=accounts_dir, checks=False)
    # From us's own cursor (party 8's day): eu's would have returned none, none all 8.
    assert two_accounts.stats.rows["party_crm.us.parties"] == 1
    assert not [key for key in two_accounts.stats.requests if key.startswith("party_crm.eu.")]
    names_of_3 = dict(query(
        Path(os.environ["CRM_DUCKDB_PATH"]),
        "select _crm_account, name from party_crm.parties where id = 3",
    ))
    assert names_of_3 == {"eu": "parties 3 (rev 1) @eu", "us": "parties 3 @us"}


def test_one_accounts_unset_token_fails_that_account_alone_and_says_which(
    two_accounts: Sandbox, accounts_dir: Path, monkeypatch: pytest.MonkeyPatch, webhook: list
):
    monkeypatch.delenv("PARTY_CRM_US_BEARER_TOKEN")
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(
        instance, "group:party_crm", configs_dir=accounts_dir, raise_on_error=False, checks=False
    )
    assert not result.success
    failures = {
        event.step_key: event.event_specific_data.user_failure_data.description
        for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE
    }
    assert failures == {
        "party_crm__us": "party_crm/us: PARTY_CRM_US_BEARER_TOKEN is not set; nothing was sent "
        "to its API"
    }
    assert not [key for key in two_accounts.stats.requests if key.startswith("party_crm.us.")]
    _assert_account_exact(two_accounts, _loads(accounts_dir)["eu"], Path(os.environ["CRM_DUCKDB_PATH"]))
    materialized = {event.asset_key.path[1] for event in result.get_asset_materialization_events()}
    assert materialized == {"eu"}

    # The run-failure alert names the account.
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = definitions(accounts_dir).resolve_sensor_def(names.RUN_FAILURE_SENSOR)
    sensor(dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id), dagster_event=failure,
        resources={"alerts": AlertWebhookResource(url=webhook.url)},
    ).for_run_failure())
    [report] = webhook
    assert (report["sources"], report["accounts"]) == (["party_crm"], ["party_crm/us"])


def test_a_record_deleted_in_one_account_is_marked_or_retired_there_alone(
    two_accounts: Sandbox, accounts_dir: Path
):
    duckdb_path = Path(os.environ["CRM_DUCKDB_PATH"])
    instance = dg.DagsterInstance.ephemeral()
    materialize(instance, "group:party_crm", configs_dir=accounts_dir, checks=False)
    two_accounts.delete("party_crm.eu.users", [2])
    two_accounts.delete("party_crm.eu.stages", [4])

    result = materialize(instance, "group:party_crm", configs_dir=accounts_dir)
    assert query(
        duckdb_path, f"select _crm_account, id from party_crm.users where {DELETED_AT} is not null"
    ) == [("eu", 2)]
    assert query(
        duckdb_path, f"select _crm_account, id from party_crm.stages where {VALID_TO} is not null"
    ) == [("eu", 4)]
    for load in _loads(accounts_dir).values():
        _assert_account_exact(two_accounts, load, duckdb_path)
    metadata = materialization_metadata(result)
    assert metadata["party_crm/eu/users"]["rows_marked_deleted"] == 1
    assert metadata["party_crm/us/users"]["rows_marked_deleted"] == 0
    assert metadata["party_crm/eu/users"]["dagster/row_count"] == 10
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_a_full_refresh_of_one_account_drops_its_deleted_rows_and_keeps_the_others(
    two_accounts: Sandbox, accounts_dir: Path
):
    """Behind an incremental cursor a deletion is invisible; the weekly full refresh of one
    account brings it, without dropping the table the other account's rows are in."""
    duckdb_path = Path(os.environ["CRM_DUCKDB_PATH"])
    instance = dg.DagsterInstance.ephemeral()
    materialize(instance, "group:party_crm", configs_dir=accounts_dir, checks=False)
    two_accounts.delete("party_crm.eu.parties", [5])
    labels_of_5 = query(
        duckdb_path,
        "select count(*) from party_crm.parties__labels l join party_crm.parties p "
        "on l._dlt_root_id = p._dlt_id where p.id = 5 and p._crm_account = 'eu'",
    )
    assert labels_of_5 == [(2,)]
    two_accounts.reset_stats()

    materialize(
        instance, "key:party_crm/eu/*", configs_dir=accounts_dir, checks=False,
        tags={names.FULL_REFRESH_TAG: "true"},
    )
    assert two_accounts.stats.rows["party_crm.eu.parties"] == 11  # read whole again
    for load in _loads(accounts_dir).values():
        _assert_account_exact(two_accounts, load, duckdb_path)
    orphans = query(
        duckdb_path,
        "select count(*) from party_crm.parties__labels l left join party_crm.parties p "
        "on l._dlt_root_id = p._dlt_id where p._dlt_id is null",
    )
    assert orphans == [(0,)]
    assert query(duckdb_path, "select _crm_account, count(*) from party_crm.parties group by 1 order by 1") == [
        ("eu", 11), ("us", 8),
    ]


def _cli_materialize(args: list[str], home: Path) -> subprocess.Popen[str]:
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.local.yaml").read_text())
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crm_assets.definitions", *args],
        cwd=REPO, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.slow
def test_one_account_and_another_accounts_window_load_side_by_side_from_the_cli_inside_their_budgets(
    two_accounts: Sandbox, accounts_dir: Path, tmp_path: Path
):
    """Two CLI runs at once: eu's nightly assets, and a backfill of us's January window. Each
    account's API allows 5 requests a second, counted apart, as real APIs count per account."""
    limit = RateLimitSpec(requests=5, per_seconds=1)
    two_accounts.traffic = Traffic(Latency(ms=20), {"party_crm.eu": limit, "party_crm.us": limit})
    # Each account's first request is answered after 10 s: the two loads overlap whichever
    # process starts first, even seconds apart on a busy machine (with eu's alone slow, us's
    # short window once ended before eu's first request).
    for account in ("eu", "us"):
        two_accounts.add_fault(Fault(path=f"/party_crm.{account}/", kind="slow", delay=10))
    budget = {"requests": 5, "per_seconds": 1}
    path = accounts_dir / "party_crm.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["accounts"] = [{**ACCOUNTS["eu"], "rate_limit": budget}, ACCOUNTS["us"]]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    runs = [
        _cli_materialize(["--select", "key:party_crm/eu/*"], tmp_path / "eu"),
        _cli_materialize(
            ["--select", "key:party_crm/windows/us/*", "--partition", "2025-01-01"], tmp_path / "us"
        ),
    ]
    for run in runs:
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, output[-3000:]

    traffic = two_accounts.stats_json()["sources"]
    for api in ("party_crm.eu", "party_crm.us"):
        assert traffic[api]["throttled"] == 0 and traffic[api]["max_in_any_window"] <= 5, traffic[api]
    assert two_accounts.stats_json()["sources_fetching_at_once"] == 2
    duckdb_path = Path(os.environ["CRM_DUCKDB_PATH"])
    loads = _loads(accounts_dir)
    _assert_account_exact(two_accounts, loads["eu"], duckdb_path)
    us = _account_counts(duckdb_path, "us")
    windowed = {r.name for r in loads["us"].windowed_resources()}
    expected = _expected(two_accounts, loads["us"])
    # January holds all 8 of us's parties (one a day from the 1st); the window loads the
    # windowed resources only.
    assert {table for table, (rows, _) in us.items() if rows} == {
        name for name in windowed if expected[name]
    }
    assert us["parties"] == (8, 8)


def test_each_account_has_its_assets_steps_pool_and_tag_in_the_sources_group(accounts_dir: Path):
    defs = definitions(accounts_dir)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert "party_crm/eu/parties" in keys and "party_crm/windows/us/parties" in keys
    assert not {key for key in keys if key.count("/") == 1}  # no account-less asset
    spec = graph.get(dg.AssetKey(["party_crm", "us", "employees"]))
    assert spec.group_name == "party_crm"
    assert spec.tags[names.ACCOUNT_TAG] == "us"
    assert {dep.to_user_string() for dep in spec.parent_keys} == {"party_crm/us/parties"}
    assert names.of("party_crm", "us").load_step == "party_crm__us"
    assert names.of("party_crm", "us").pool == "crm_source/party_crm/us"
    job = defs.resolve_job_def("party_crm_job")
    assert {node.name for node in job.nodes} >= {
        "party_crm__eu", "party_crm__us", "party_crm__eu_checks", "party_crm__us_checks"
    }
    # The source's weekly full refresh and catch-up sensor cover every account.
    schedule = defs.resolve_schedule_def(names.of("party_crm").full_refresh_schedule)
    [request] = schedule.evaluate_tick(dg.build_schedule_context()).run_requests
    assert {key.to_user_string() for key in request.asset_selection} == {
        f"party_crm/{account}/{resource}" for account in ACCOUNTS for resource in ("parties", "employees")
    }
    sensor = defs.resolve_sensor_def(names.of("party_crm").catch_up_sensor)
    with dg.instance_for_test() as instance:
        [request] = sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).run_requests
    assert len(request.asset_selection) == 2 * len(KINDS)
    connection_check = defs.resolve_job_def(names.CONNECTION_CHECK_JOB)
    assert {node.name for node in connection_check.nodes} == {
        "party_crm__eu_connection_check", "party_crm__us_connection_check"
    }


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ([{"name": "eu"}, {"name": "eu"}], "accounts: 'eu' is listed twice"),
        ([{"name": "eu", "env": {"api_key": "X"}}], "env needs exactly ['token']"),
        (
            [{"name": "eu", "env": {"token": "SAME"}}, {"name": "us", "env": {"token": "SAME"}}],
            "'eu' and 'us' both read SAME",
        ),
        ([{"name": "windows"}], "taken by the backfill windows"),
        ([{"name": "eu", "base_url": "eu.example.com"}], "must be absolute"),
        ([{"name": "EU"}], "accounts.0.name"),
    ],
)
def test_a_bad_account_fails_the_file_naming_it(tmp_path: Path, accounts: list, message: str):
    path = _write_party_crm(tmp_path, accounts=accounts) / "party_crm.yaml"
    with pytest.raises(ConfigError, match="party_crm.yaml") as error:
        load_source_config(path)
    assert message in str(error.value)


def test_an_account_key_in_a_file_is_refused(tmp_path: Path):
    path = _write_party_crm(tmp_path, account={"name": "eu"}) / "party_crm.yaml"
    with pytest.raises(ConfigError, match="key account: list the source's accounts under `accounts`"):
        load_source_config(path)


def test_an_account_reads_its_own_env_vars_and_keys_its_rows(accounts_dir: Path):
    loads = _loads(accounts_dir)
    assert loads["eu"].auth.env == {"token": "PARTY_CRM_EU_BEARER_TOKEN"}
    assert loads["eu"].base_url_env == "PARTY_CRM_EU_BASE_URL"
    assert loads["us"].rate_limit_env == "PARTY_CRM_US_RATE_LIMIT"
    assert loads["eu"].base_url == "https://eu.party-crm.example.com"
    assert loads["us"].rate_limit == RateLimitSpec(requests=5, per_seconds=1)
    assert loads["eu"].rate_limit == RateLimitSpec(requests=4000, per_seconds=3600)
    tags = loads["eu"].resource("tags")
    assert loads["eu"].primary_key(tags) == ["_crm_account", "entity", "id"]
