"""A real PostgreSQL server for the tests: found on 127.0.0.1:5432, or started, or a loud skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2

from crm_assets_tests.services import unavailable

HOST, PORT, USER = "127.0.0.1", 5432, os.environ.get("CRM_TEST_PG_USER", "root")
ADMIN_DSN = f"host={HOST} port={PORT} user={USER} password=unused dbname=postgres"


def _reachable() -> bool:
    try:
        psycopg2.connect(ADMIN_DSN, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _try_start() -> None:
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                capture_output=True, check=False,
            )
        for _ in range(20):
            if _reachable():
                return
            time.sleep(0.5)


def require_postgres() -> None:
    if _reachable():
        return
    _try_start()
    if _reachable():
        return
    unavailable(
        "POSTGRES",
        f"PostgreSQL is neither reachable on {HOST}:{PORT} as {USER} nor startable here",
        "CRM_REQUIRE_POSTGRES",
    )


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new empty database; yields its URL (with the password dlt insists on) and drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'create database "{name}"')
    try:
        yield f"postgresql://{USER}:unused@{HOST}:{PORT}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
