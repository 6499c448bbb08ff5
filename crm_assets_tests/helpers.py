"""Running materializations and reading the destination, as a user would see them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from crm_assets.config import SourceConfig
from crm_assets.definitions import build_definitions
from crm_assets.table_rules.deletions import current_condition
from crm_assets.resources import AlertWebhookResource
from crm_assets.load.row_counts import connect, count_rows, data_tables, open_dataset
from crm_assets.sandbox.api import DEFAULT_PAGE_SIZE, expected_rows
from crm_assets.sandbox.server import Sandbox
from crm_assets.defs.names import NIGHTLY_SELECTION
from crm_assets.project_files import celery_yaml, configs_dir as configured_configs_dir


# Definitions as `build_definitions` made them, by what it read: the configs directory, the
# files it read there and the celery settings, and the environment (every variable, since the
# build reads many: secrets' presence, destination, pipelines directory, executor, overrides).
# The environment differs between tests (their tmp paths), so a test's several runs share one
# build; a test that changes a variable or a file gets a new one.
_BUILT: dict[tuple, _Built] = {}
_BUILT_KEPT = 4
# Pytest's own variable, which names the test and its phase; the build does not read it.
_NOT_READ_BY_THE_BUILD = frozenset({"PYTEST_CURRENT_TEST"})


class _Built:
    """A build and the jobs resolved from it (by selection)."""

    def __init__(self, defs: dg.Definitions) -> None:
        self.defs = defs
        self.jobs: dict[tuple, dg.JobDefinition] = {}


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(path.iterdir()) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(f"{file}\0".encode() + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _built(configs_dir: Path | None = None) -> _Built:
    directory = Path(configs_dir) if configs_dir else configured_configs_dir()
    env = frozenset(
        (name, value) for name, value in os.environ.items() if name not in _NOT_READ_BY_THE_BUILD
    )
    key = (str(configs_dir), str(directory.resolve()), _digest(directory, celery_yaml()), env)
    built = _BUILT.pop(key, None) or _Built(build_definitions(configs_dir))
    _BUILT[key] = built  # the most recently used last
    while len(_BUILT) > _BUILT_KEPT:
        _BUILT.pop(next(iter(_BUILT)))
    return built


def definitions(configs_dir: Path | None = None) -> dg.Definitions:
    """`build_definitions(configs_dir)`, built once per configuration (configs, settings files
    and environment): the same definitions a new build would give now."""
    return _built(configs_dir).defs


def materialize(
    instance: dg.DagsterInstance,
    selection: str = NIGHTLY_SELECTION,
    configs_dir: Path | None = None,
    raise_on_error: bool = True,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
    checks: bool = True,
    partition_key: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize an asset selection (Dagster's selection syntax) from freshly built defs,
    with the selected assets' checks unless `checks` is False."""
    built = _built(configs_dir)
    defs = built.defs
    if not checks:
        job = built.jobs.get(("loads_only", selection))
        if job is None:
            loads = dg.define_asset_job(
                "loads_only", selection=dg.AssetSelection.from_string(selection).without_checks()
            )
            job = dg.Definitions.merge(defs, dg.Definitions(jobs=[loads])).resolve_job_def("loads_only")
            built.jobs["loads_only", selection] = job
        return job.execute_in_process(
            instance=instance, raise_on_error=raise_on_error, tags=tags, run_config=run_config
        )
    keys = list(dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph()))
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    return job.execute_in_process(
        instance=instance, asset_selection=keys, raise_on_error=raise_on_error, tags=tags,
        run_config=run_config, partition_key=partition_key,
    )


# Far above anything a test sends: the budget still counts every request, it never waits.
UNPACED_BUDGET = "10000/1"


def unpaced_budgets(configs: list[SourceConfig]) -> dict[str, str]:
    """Every source's budget override (`<SOURCE>_RATE_LIMIT`) raised to UNPACED_BUDGET."""
    return {config.rate_limit_env: UNPACED_BUDGET for config in configs}


def table_counts(destination: Path | str, source: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct primary keys) of every table of the source's dataset, in a DuckDB file
    (a path) or a Postgres database (a URL): of its current rows where it keeps others (a
    history table's older versions, rows marked deleted)."""
    counts = {}
    with open_dataset(destination, source) as client:
        for table, columns in data_tables(client).items():
            key = "entity, id" if "entity" in columns else "id"
            current = current_condition(columns)
            [(keys,)] = client.execute_sql(
                f"select count(distinct ({key})) from {client.make_qualified_table_name(table)}"
                + (f" where {current}" if current else "")
            )
            counts[table] = (count_rows(client, table, columns).current_or_all, keys)
    return counts


def expected_counts(sandbox: Sandbox, config: SourceConfig) -> dict[str, int]:
    expected = {}
    for resource in config.resources:
        route = sandbox.route(config.name, resource.name)
        parent_ids = None
        if resource.parent:
            parent = sandbox.route(config.name, resource.parent).collection
            all_parents = range(1, sandbox.volume.rows(config.name, parent) + 1)
            parent_ids = iter(sandbox.volume.listed(config.name, parent, all_parents))
        expected[resource.name] = expected_rows(route, sandbox.volume, parent_ids)
    return expected


def assert_tables_exact(
    sandbox: Sandbox, config: SourceConfig, destination: Path | str, when: str = ""
) -> None:
    """Every table of the source holds the rows the API serves, each primary key once (dlt
    creates no table for a resource that never yielded a row)."""
    expected = expected_counts(sandbox, config)
    loaded = table_counts(destination, config.name)
    assert {name: loaded.get(name, (0, 0)) for name in expected} == {
        name: (rows, rows) for name, rows in expected.items()
    }, f"{config.name} {when}".strip()


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """What each materialization of the run recorded, by asset key (`lead_crm/lead`)."""
    return {
        event.asset_key.to_user_string(): {
            name: value.value for name, value in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def query(destination: Path | str, sql: str) -> list[tuple]:
    """Rows from a DuckDB file (a path) or a Postgres database (a URL)."""
    with connect(destination) as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return cursor.fetchall()


def page_size(sandbox: Sandbox, source: str, resource: str) -> int:
    route = sandbox.route(source, resource)
    if route.paginator["type"] == "offset":
        return route.paginator["limit"]
    # Without a page-size param the API answers pages of its default size.
    return route.config.params(route.resource).get(route.config.page_size_param, DEFAULT_PAGE_SIZE)


def list_resources(config: SourceConfig, sandbox: Sandbox) -> Iterable[str]:
    return [r.resource.name for r in sandbox.routes[config.name] if r.kind == "list"]


def run_checks(
    instance: dg.DagsterInstance, source: str, resources: Iterable[str] | None = None
) -> dict[tuple[str, str], object]:
    """Execute only the asset checks of a source (of some of its resources); evaluations by
    (resource, check name)."""
    result = execute_checks(instance, source, resources)
    return {
        (evaluation.asset_key.path[-1], evaluation.check_name): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


def execute_checks(
    instance: dg.DagsterInstance, source: str, resources: Iterable[str] | None = None
) -> dg.ExecuteInProcessResult:
    """A run of only the asset checks of a source (of some of its resources)."""
    built = _built()
    defs = built.defs
    keys = [
        k for k in defs.resolve_asset_graph().get_all_asset_keys()
        if k.path[0] == source and (resources is None or k.path[-1] in resources)
    ]
    job = built.jobs.get(("checks_only", tuple(keys)))
    if job is None:
        checks_job = dg.define_asset_job(
            "checks_only", selection=dg.AssetSelection.checks_for_assets(*keys)
        )
        job = dg.Definitions.merge(defs, dg.Definitions(jobs=[checks_job])).resolve_job_def("checks_only")
        built.jobs["checks_only", tuple(keys)] = job
    # A failed blocking check fails its step, as it would in a real run.
    return job.execute_in_process(instance=instance, raise_on_error=False)


def alert_on_failed_run(
    instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, webhook_url: str
) -> None:
    """Evaluate the run-failure alert sensor on a failed run, posting to `webhook_url`."""
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = definitions().resolve_sensor_def("crm_run_failure_alert")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
        resources={"alerts": AlertWebhookResource(url=webhook_url)},
    ).for_run_failure()
    sensor(context)


def execute(duckdb_path: Path, sql: str) -> None:
    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute(sql)


def files_containing(values: Iterable[str], *places: Path) -> list[str]:
    """`<value> in <file>` for every value found in the bytes of a file under the places."""
    found = []
    for place in places:
        for path in [place] if place.is_file() else sorted(place.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{value} in {path}" for value in values if value.encode() in data]
    return found
