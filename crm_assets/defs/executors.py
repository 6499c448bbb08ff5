"""Where a run's steps execute, chosen by CRM_EXECUTOR: processes on this machine (default)
or `dagster-celery` workers on any number of machines (`celery`)."""

from __future__ import annotations

import dagster as dg
import yaml

from crm_assets.project_files import celery_yaml
from crm_assets.resources.env import env_value

EXECUTOR_ENV = "CRM_EXECUTOR"
# What `dagster-celery worker start -y celery.yaml` reads: the workers and the runs that send
# them steps take their broker and Celery settings from this one file, `$CRM_CELERY_YAML` over
# the shipped celery.yaml (the package's copy, or the checkout's: project_files).


# Imported once by the forkserver, before it forks a process per step: the code location, and
# what every step imports on top of it, which the code location leaves to run time: the SQL
# toolkit of Dagster's instance storage (each step opens its own instance) and the arrow
# library of dlt's parquet files. Imported in each step instead, they cost ~0.4 s of CPU a step.
STEP_PRELOAD_MODULES = ["crm_assets.definitions", "sqlalchemy", "alembic", "pyarrow"]


def source_steps_executor(sources: int) -> dg.ExecutorDefinition:
    """Every source's step at once: they wait on the APIs, not on the CPU (and on DuckDB they
    take turns only to restore state and to load). Forked from a server that has imported this
    code location once, a step starts in a fraction of a second instead of re-importing it."""
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": max(sources, 1),
            "start_method": {"forkserver": {"preload_modules": STEP_PRELOAD_MODULES}},
        }
    )


def celery_executor(destination_name: str) -> dg.ExecutorDefinition:
    """Steps as Celery tasks: a worker that dies mid-step leaves its task unacknowledged, and
    the broker hands it to another worker (celery.yaml: acks late)."""
    from dagster_celery import celery_executor as dagster_celery_executor

    if destination_name == "duckdb":
        raise dg.DagsterInvariantViolationError(
            f"{EXECUTOR_ENV}=celery runs steps on other machines, which cannot share a DuckDB "
            "file: set CRM_DESTINATION=postgres (or another database server)"
        )
    config = yaml.safe_load(celery_yaml().read_text())["execution"]["config"]
    return dagster_celery_executor.configured(config, name="celery")


def executor_from_env(sources: int, destination_name: str) -> dg.ExecutorDefinition:
    executor = env_value(EXECUTOR_ENV, "multiprocess").lower()
    if executor == "celery":
        return celery_executor(destination_name)
    if executor == "multiprocess":
        return source_steps_executor(sources)
    raise dg.DagsterInvariantViolationError(
        f"{EXECUTOR_ENV}={executor!r}: expected 'multiprocess' (the default) or 'celery'"
    )
