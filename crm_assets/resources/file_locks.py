"""Locks on files: one process at a time in a source's dlt working directory or a DuckDB file
(across the processes of one machine; pools do it across machines), and waiting, a bounded
time, for a DuckDB file another program holds (a notebook, the DuckDB CLI)."""

from __future__ import annotations

import fcntl
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from crm_assets.load.error_chain import error_chain

# DuckDB's words when another process holds the file: "Conflicting lock is held in <program>
# (PID <n>)" where it can tell.
CONFLICTING_LOCK = re.compile(
    r'Could not set lock on file "[^"]*"(?:: (Conflicting lock is held in .*? \(PID \d+\)))?'
)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released by the OS if the process dies
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def duckdb_lock_holder(error: BaseException) -> str | None:
    """What DuckDB says holds its file, where `error` (or its cause) is that lock conflict."""
    for wrapped in error_chain(error):
        match = CONFLICTING_LOCK.search(str(wrapped))
        if match:
            return match.group(1) or "DuckDB does not say which"
    return None


def wait_for_duckdb_file(duckdb_file: Path, wait_seconds: int) -> None:
    """Until DuckDB lets this process open the file, at most `wait_seconds`; says once what it
    waits for. Nothing is written before the file is ours."""
    deadline = time.monotonic() + wait_seconds
    pause, told = 0.1, False
    while True:
        try:
            duckdb.connect(str(duckdb_file)).close()
            return
        except duckdb.IOException as error:
            holder = duckdb_lock_holder(error)
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise file_held(duckdb_file, holder, wait_seconds) from None
            if not told:
                dg.get_dagster_logger().warning(
                    f"waiting up to {wait_seconds} s for {duckdb_file}: {holder}"
                )
                told = True
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 2.0)


def file_held(duckdb_file: Path, holder: str, waited_seconds: int) -> dg.Failure:
    return dg.Failure(
        f"{duckdb_file} is held by another process ({holder}); waited {waited_seconds} s, "
        "wrote nothing. Close that connection, or read the file read-only between runs or from "
        "a copy; CRM_DUCKDB_WAIT_SECONDS waits longer"
    )
