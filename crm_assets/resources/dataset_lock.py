"""One load at a time into a dataset on a database server: the accounts of one source load
side by side, each in its own step, into one dataset, and dlt's merge passes every load
through the dataset's shared staging tables (truncated, filled, merged), and creates tables
and columns with statements that fail when two loads race to them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dlt


@contextmanager
def postgres_dataset_lock(pipeline: dlt.Pipeline) -> Iterator[None]:
    """A session-level advisory lock named after the pipeline's dataset, held on a connection
    of its own: across processes and machines, released by the server if the process dies."""
    with pipeline.sql_client() as client:
        key = f"crm_assets/{pipeline.dataset_name}"
        client.execute_sql("select pg_advisory_lock(hashtext(%s))", key)
        try:
            yield
        finally:
            client.execute_sql("select pg_advisory_unlock(hashtext(%s))", key)
