"""Personal data under the shipped lead_crm policy: hashed or dropped before dlt writes anything.

lead_crm hashes `email`, `phone`, `emails[*].value` and `owner.email` everywhere and drops the
contact's `phone`. After a real run over HTTP, the raw values the sandbox served are in none of
the destination, dlt's working directory, DAGSTER_HOME or the logs; a person shared by two
resources has one hash; the dropped column does not exist; the asset page marks the columns.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from crm_assets.sandbox.records import person
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import (
    definitions,
    files_containing,
    materialization_metadata,
    materialize,
    query,
)

ROWS = 6  # lead and contact: persons 2..7 in both, so the same person in two resources


@pytest.fixture
def home_instance(tmp_path: Path) -> Iterator[tuple[dg.DagsterInstance, Path]]:
    """A real instance directory (event log, runs and compute logs on disk) to scan."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance, home


def _raw_values() -> list[str]:
    values = []
    for record_id in range(1, ROWS + 1):
        data = person(record_id)
        values += [data["email"], data["phone"], *(e["value"] for e in data["emails"])]
        values.append(f"owner{record_id % 17 + 1}@example.test")
    return sorted(set(values))


def _hmac(sandbox: Sandbox, value: str) -> str:
    return hmac.new(sandbox.pii_hash_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def _run_lead_crm(
    sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> dg.ExecuteInProcessResult:
    sandbox.volume.overrides.update({"lead_crm.lead": ROWS, "lead_crm.contact": ROWS})
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    # dlt gzips its working files: plain ones, so that the byte scan can see into them.
    monkeypatch.setenv("DATA_WRITER__DISABLE_COMPRESSION", "true")
    caplog.set_level(logging.DEBUG)
    result = materialize(instance, "group:lead_crm")
    assert result.success
    return result


def _assert_no_raw_value_anywhere(
    sandbox: Sandbox, tmp_path: Path, home: Path, logs: str, destination_text: bytes | None = None
) -> None:
    raw = _raw_values()
    assert len(raw) == 3 * ROWS + 6  # e-mail (also in the list), home e-mail, phone; owners
    (tmp_path / "captured.log").write_text(logs)
    places = [tmp_path]  # the DuckDB file, dlt's pipelines dir, DAGSTER_HOME, the logs
    assert home.is_relative_to(tmp_path) and any((home / "storage").iterdir())
    assert files_containing(raw, *places) == []
    if destination_text is not None:
        assert [value for value in raw if value.encode() in destination_text] == []
    # The scan sees what is there: the hashed form and non-personal text are found.
    hashed = _hmac(sandbox, person(3)["email"])
    assert files_containing([hashed], tmp_path / "dlt_pipelines") != []
    assert files_containing(["lead_crm/contact"], tmp_path / "captured.log") != []


def test_personal_data_is_hashed_or_dropped_before_it_touches_disk_and_marked_on_the_asset(
    sandbox: Sandbox, home_instance: tuple[dg.DagsterInstance, Path], duckdb_path: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
):
    instance, home = home_instance
    result = _run_lead_crm(sandbox, instance, monkeypatch, caplog)
    captured = capfd.readouterr()
    _assert_no_raw_value_anywhere(
        sandbox, tmp_path, home, captured.out + captured.err + caplog.text
    )
    assert files_containing([_hmac(sandbox, person(3)["email"])], duckdb_path) != []

    # One person, one hash: in two resources, in the nested e-mail list, and as the HMAC.
    lead = dict(query(duckdb_path, "select id, email from lead_crm.lead"))
    contact = dict(query(duckdb_path, "select id, email from lead_crm.contact"))
    assert lead == contact == {i: _hmac(sandbox, person(i)["email"]) for i in range(1, ROWS + 1)}
    nested = query(
        duckdb_path,
        "select c.id, e.value from lead_crm.contact__emails e join lead_crm.contact c "
        "on e._dlt_parent_id = c._dlt_id where e.type = 'work'",
    )
    assert dict(nested) == contact
    assert query(duckdb_path, "select phone from lead_crm.lead where id = 2") == [
        (_hmac(sandbox, person(2)["phone"]),)
    ]
    contact_columns = {
        name for (name,) in query(
            duckdb_path,
            "select column_name from information_schema.columns "
            "where table_schema = 'lead_crm' and table_name = 'contact'",
        )
    }
    assert "phone" not in contact_columns and {"email", "owner__email"} <= contact_columns

    # The asset page: hashed columns carry a `pii` tag, the policy lists the dropped one.
    shown = materialization_metadata(result)
    columns = {c.name: c for c in shown["lead_crm/lead"]["dagster/column_schema"].columns}
    marked = {name for name, column in columns.items() if column.tags.get("pii") == "hashed"}
    assert marked == {"email", "phone", "owner__email"}
    assert columns["email"].description == "pii: hashed (HMAC-SHA256)"
    assert shown["lead_crm/contact"]["pii_columns"] == {
        "contact.email": "hashed", "contact__emails.value": "hashed",
        "contact.owner__email": "hashed", "contact.phone": "dropped",
    }
    graph = definitions().resolve_asset_graph()
    assert graph.get(dg.AssetKey(["lead_crm", "contact"])).tags["crm/pii"] == "dropped-hashed"
    assert graph.get(dg.AssetKey(["lead_crm", "lead"])).tags["crm/pii"] == "hashed"
    assert "crm/pii" not in graph.get(dg.AssetKey(["deal_crm", "contacts"])).tags


def test_a_missing_hash_key_fails_before_any_request_naming_it_and_spares_other_sources(
    sandbox: Sandbox, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("CRM_PII_HASH_KEY")
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "lead_crm: CRM_PII_HASH_KEY is not set" in failure.event_specific_data.error.message
    assert sum(sandbox.stats.requests.values()) == 0
    # deal_crm hashes nothing: it needs no key.
    assert materialize(instance, 'key:"deal_crm/users"').success

    monkeypatch.setenv("CRM_PII_HASH_KEY", "too-short")
    sandbox.reset_stats()
    result = materialize(instance, "group:lead_crm", raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.event_specific_data.error.message
    assert "CRM_PII_HASH_KEY is shorter than 32 characters" in message
    assert "too-short" not in message
    assert sum(sandbox.stats.requests.values()) == 0


def test_personal_data_never_reaches_postgres_either(
    sandbox: Sandbox, postgres_url: str, home_instance: tuple[dg.DagsterInstance, Path],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
):
    instance, home = home_instance
    _run_lead_crm(sandbox, instance, monkeypatch, caplog)
    captured = capfd.readouterr()
    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'lead_crm%%'"
        )
        dump = b""
        for schema, table in cursor.fetchall():
            cursor.execute(f'select t::text from "{schema}"."{table}" t')
            dump += "\n".join(row for (row,) in cursor.fetchall()).encode()
        cursor.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'lead_crm' and table_name = 'contact'"
        )
        assert "phone" not in {name for (name,) in cursor.fetchall()}
        cursor.execute("select l.email = c.email from lead_crm.lead l join lead_crm.contact c using (id)")
        assert [same for (same,) in cursor.fetchall()] == [True] * ROWS
    assert _hmac(sandbox, person(3)["email"]).encode() in dump and b"contact 3" in dump
    _assert_no_raw_value_anywhere(
        sandbox, tmp_path, home, captured.out + captured.err + caplog.text, dump
    )
