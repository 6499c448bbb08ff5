"""Config files: the five shipped ones load; a bad one fails once, naming the file, resource and key.

`INVALID` holds a row for every message the config package words itself, and for each kind of
pydantic error a file can cause; the rows break a copy of lead_crm.yaml. (The one message
missing is `RateLimitSpec.parse`'s, which reads env and CLI text, never a file: it is asserted
where the env var is named, in test_concurrency.py and test_sandbox.py.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from crm_assets.config import CONFIGS_DIR, ConfigError, SourceConfig, load_source_configs
from crm_assets.extract import build_source, placeholder_source

LEAD_CRM = yaml.safe_load((CONFIGS_DIR / "lead_crm.yaml").read_text())
TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages")


def test_the_five_sources_hold_the_seed_resources(configs: list[SourceConfig]):
    assert {config.name: len(config.resources) for config in configs} == {
        "party_crm": 16,
        "deal_crm": 17,
        "lead_crm": 4,
        "work_suite": 36,
        "success_analytics": 17,
    }


def build_real_source(config: SourceConfig):
    """dlt's REST source, as a run builds it (with stand-in secrets)."""
    secrets = {field: "x" for field in config.auth.env}
    return build_source(config, config.base_url, secrets, pii_hash_key="k" * 32)


def test_every_config_builds_a_dlt_source_shaped_like_the_definition_time_one(
    configs: list[SourceConfig],
):
    for config in configs:
        real, placeholder = build_real_source(config), placeholder_source(config)
        assert sorted(real.selected_resources) == sorted(r.name for r in config.resources)
        assert sorted(placeholder.selected_resources) == sorted(real.selected_resources)
        assert placeholder.name == real.name == config.name


def test_a_resource_without_a_data_selector_builds_and_leaves_finding_the_list_to_dlt(
    tmp_path: Path,
):
    """The selector is optional: a resource that names none (dlt finds the list) built a
    source only while every resource named one."""
    raw = yaml.safe_load(yaml.safe_dump(LEAD_CRM))
    del raw["resources"][0]["endpoint"]["data_selector"]
    (tmp_path / "lead_crm.yaml").write_text(yaml.safe_dump(raw))
    [config] = load_source_configs(tmp_path)
    assert config.resources[0].endpoint.data_selector is None
    source = build_real_source(config)
    assert sorted(source.selected_resources) == sorted(r.name for r in config.resources)


DELETE = "<deleted>"


def edited(edits: dict[str, Any]) -> dict:
    """A copy of lead_crm.yaml with each dotted path (`resources.1.endpoint.path`) set."""
    raw = yaml.safe_load(yaml.safe_dump(LEAD_CRM))
    for path, value in edits.items():
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        index = int(last) if isinstance(node, list) else last
        if value == DELETE:
            del node[index]
        else:
            node[index] = value
    return raw


@dataclass(frozen=True)
class Invalid:
    """A broken lead_crm.yaml (edits, or the file's bytes) and what its one error must hold:
    the rule's words, the resource (as the message names it; None for a source-level key) and
    the key (None when the file as a whole is wrong)."""

    message: str
    resource: str | None = None
    key: str | None = None
    edits: dict[str, Any] = field(default_factory=dict)
    text: bytes | None = None
    file: str | None = "lead_crm.yaml"  # None: no file at all in the configs folder


def _resource(name: str, path: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "endpoint": {"path": path}, **fields}


INVALID = [
    # The file as a whole (loader.py)
    Invalid("no *.yaml source configs found", file=None),
    Invalid("the file name is the source name and must match", file="Lead-CRM.yaml"),
    Invalid("not UTF-8 text (invalid start byte at byte 0)", text=b"\xff\xfe"),
    Invalid("not valid YAML", text=b"resources: [name: x\n"),
    Invalid("expected a mapping at the top level", text=b"- a\n- b\n"),
    Invalid("the source name is the file name, drop the key", key="key name",
            edits={"name": "lead_crm"}),
    # Source-level keys (source.py, auth.py, schedule.py; pydantic's own words)
    Invalid("must be absolute, starting with http:// or https://", key="key base_url",
            edits={"base_url": "api.example.com/v1"}),
    Invalid("auth type 'api_key' needs env vars for exactly ['api_key'], got ['token']",
            key="key auth", edits={"auth.env": {"token": "LEAD_CRM_API_KEY"}}),
    Invalid("auth type 'api_key' needs 'name' and 'location'", key="key auth",
            edits={"auth.location": DELETE}),
    Invalid("'name' and 'location' apply to auth type 'api_key' only", key="key auth",
            edits={"auth": {"type": "bearer", "name": "x", "env": {"token": "LEAD_CRM_TOKEN"}}}),
    Invalid("Input should be 'bearer', 'http_basic' or 'api_key'", key="key auth.type",
            edits={"auth.type": "basic"}),
    Invalid("String should match pattern", key="key auth.env.api_key",
            edits={"auth.env.api_key": "lead-key"}),
    Invalid("'every day' is not a valid five-field cron expression", key="key schedule.cron",
            edits={"schedule.cron": "every day"}),
    Invalid("is not a valid five-field cron", key="key full_refresh_schedule.cron",
            edits={"full_refresh_schedule.cron": "weekly"}),
    Invalid("unknown timezone 'Mars/Olympus'", key="key schedule.timezone",
            edits={"schedule.timezone": "Mars/Olympus"}),
    Invalid("Input should be greater than 0", key="key rate_limit.requests",
            edits={"rate_limit.requests": 0}),
    Invalid("Input should be a valid number", key="key rate_limit.per_seconds",
            edits={"rate_limit.per_seconds": "hourly"}),
    Invalid("Field required", key="key rate_limit.per_seconds",
            edits={"rate_limit": {"requests": 10}}),
    Invalid("greater than or equal to 1", key="key max_concurrency", edits={"max_concurrency": 0}),
    Invalid("less than or equal to 64", key="key max_concurrency", edits={"max_concurrency": 65}),
    Invalid("Input should be a valid integer", key="key max_concurrency",
            edits={"max_concurrency": "8"}),
    Invalid("Extra inputs are not permitted", key="key schema_contract",
            edits={"schema_contract": "freeze"}),
    Invalid("Input should be a valid boolean", key="key resource_defaults.mark_deleted",
            edits={"resource_defaults.mark_deleted": "often"}),
    Invalid("'frozen' is not a schema contract mode", key="key resource_defaults.schema_contract",
            edits={"resource_defaults.schema_contract": "frozen"}),
    Invalid("Input should be 'hash', 'drop' or 'keep'", key="key resource_defaults.pii.email",
            edits={"resource_defaults.pii": {"email": "encrypt"}}),
    Invalid("Input should be 'day', 'week' or 'month'", key="key backfill.grain",
            edits={"backfill.grain": "quarter"}),
    Invalid("Input should be a valid date", key="key backfill.start",
            edits={"backfill.start": "2025-13-01"}),
    Invalid("start 2999-01-01 is in the future: no window would exist", key="key backfill.start",
            edits={"backfill.start": "2999-01-01"}),
    Invalid("Field required", key="key backfill.start", edits={"backfill": {"grain": "day"}}),
    # A resource's keys (resource.py, endpoint.py, paginators.py, json_path.py, pydantic)
    Invalid("Extra inputs are not permitted", "resource 'account'", "key endpont",
            edits={"resources.0.endpont": {"path": "/x"}}),
    Invalid("Field required", "resource 'account'", "key endpoint",
            edits={"resources.0.endpoint": DELETE}),
    Invalid("String should match pattern", "resource 'Account'", "key name",
            edits={"resources.0.name": "Account"}),
    Invalid("Input should be a valid boolean", "resource 'account'", "key history",
            edits={"resources.0.history": "yes"}),
    Invalid("Input should be greater than 0", "resource 'contact'",
            "key endpoint.paginator.offset.limit",
            edits={"resources.1.endpoint.paginator": {"type": "offset", "limit": -5}}),
    Invalid("Input tag 'cursor_magic' found using 'type' does not match any of the expected tags",
            "resource 'lead'", "key endpoint.paginator",
            edits={"resources.2.endpoint.paginator": {"type": "cursor_magic"}}),
    Invalid("'$..[' is not a valid JSONPath", "resource 'account'", "key endpoint.data_selector",
            edits={"resources.0.endpoint.data_selector": "$..["}),
    Invalid("param 'q': '{' and '}' are not allowed", "resource 'account'", "key endpoint.params",
            edits={"resources.0.endpoint.params": {"q": "{x}"}}),
    Invalid("'evolve', 'freeze', 'discard_row' or 'discard_value'", "resource 'lead'",
            "key schema_contract.columns", edits={"resources.2.schema_contract": {"columns": "block"}}),
    Invalid("Extra inputs are not permitted", "resource 'lead'", "key schema_contract.rows",
            edits={"resources.2.schema_contract": {"rows": "freeze"}}),
    Invalid("'emails[0].value' is not `field`, `object.field` or `list[*].field`",
            "resource 'contact'", "key pii", edits={"resources.1.pii": {"emails[0].value": "hash"}}),
    Invalid("pii path 'phones[*]': drop the list itself ('phones')", "resource 'contact'",
            "key pii", edits={"resources.1.pii": {"phones[*]": "drop"}}),
    # Path placeholders (placeholders.py)
    Invalid("for_each takes one path placeholder", "resource 'account'", "for_each",
            edits={"resources.0": _resource("account", "/{a}/{b}", for_each={"a": ["x"], "b": ["y"]})}),
    Invalid("endpoint.path '/v1/account/{id' has an unbalanced '{' or '}'", "resource 'account'",
            "endpoint.path", edits={"resources.0.endpoint.path": "/v1/account/{id"}),
    Invalid("may name one parent resource or one for_each key, not several", "resource 'contact'",
            "endpoint.path",
            edits={"resources.1.endpoint.path": "/{resources.account.id}/{resources.lead.id}"}),
    # (names the placeholder, not the key endpoint.path)
    Invalid("path placeholder {entity} is neither resources.<parent>.<field> nor a for_each key",
            "resource 'contact'", "path placeholder",
            edits={"resources.1.endpoint.path": "/v1/{entity}/contact"}),
    Invalid("for_each key 'entity' does not appear in the path", "resource 'account'", "for_each",
            edits={"resources.0": _resource("account", "/v1/account", for_each={"entity": ["x"]})}),
    # One resource's rules (resource.py)
    Invalid("include_from_parent needs a path with {resources.<parent>.<field>}",
            "resource 'account'", "include_from_parent",
            edits={"resources.0.include_from_parent": ["id"]}),
    Invalid("history keeps versions by merging; drop write_disposition or use merge",
            "resource 'account'", "write_disposition",
            edits={"resources.0": _resource("account", "/a", history=True, write_disposition="append")}),
    Invalid("history already retires the rows a complete load no longer returns; drop mark_deleted",
            "resource 'account'", "mark_deleted",
            edits={"resources.0": _resource("account", "/a", history=True, mark_deleted=True)}),
    # Rules over the whole source (source_checks.py)
    Invalid("duplicate resource names ['account']", "['account']", "resource names",
            edits={"resources.3.name": "account"}),
    Invalid("resource name 'account_entity_values' is taken by the values of 'account''s for_each",
            "'account'", "for_each", edits={
                "resources.0": _resource("account", "/{entity}/a", for_each={"entity": ["x"]}),
                "resources.1.name": "account_entity_values"}),
    Invalid("parent 'accounts' in endpoint.path is not a resource of this source",
            "resource 'contact'", "endpoint.path",
            edits={"resources.1.endpoint.path": "/v1/account/{resources.accounts.id}/contacts"}),
    # (name the resources of the cycle, not the key endpoint.path)
    Invalid("resources account -> account form a cycle", "account -> account",
            edits={"resources.0.endpoint.path": "/v1/account/{resources.account.id}"}),
    Invalid("resources account -> contact -> account form a cycle", "account -> contact -> account",
            edits={"resources.0.endpoint.path": "/v1/account/{resources.contact.id}",
                   "resources.1.endpoint.path": "/v1/contact/{resources.account.id}"}),
    Invalid("history needs a primary key (the checks and the versions are keyed by it)",
            "resource 'account'", "history",
            edits={"resource_defaults.primary_key": DELETE, "resources.0.history": True}),
    Invalid("full_refresh_schedule would drop the history of this incremental resource",
            "resource 'lead'", "full_refresh_schedule", edits={"resources.2.history": True}),
    Invalid("mark_deleted needs a resource read completely on every run", "resource 'lead'",
            "mark_deleted", edits={"resources.2.mark_deleted": True}),
    Invalid("mark_deleted needs write_disposition merge (rows are kept and marked)",
            "resource 'account'", "mark_deleted",
            edits={"resources.0": _resource("account", "/a", mark_deleted=True, write_disposition="replace")}),
    Invalid("is the page size and must be a positive integer, got 0", "resource 'account'",
            "endpoint.params.limit",
            edits={"page_size_param": "limit", "resources.0.endpoint.params": {"limit": 0}}),
    Invalid("is the page size and must be a positive integer, got -1", None,
            "resource_defaults: endpoint.params.limit",
            edits={"page_size_param": "limit", "resource_defaults.endpoint": {"params": {"limit": -1}}}),
    Invalid("pii path 'id' is a primary key, an incremental cursor or a field a child resource "
            "reads; it cannot be hashed or dropped", "resource 'lead'", "pii",
            edits={"resources.2.pii": {"id": "hash"}}),
    Invalid("pii path 'updated_at' is a primary key, an incremental cursor", "resource 'lead'",
            "pii", edits={"resources.2.pii": {"updated_at": "drop"}}),
    Invalid("no resource has endpoint.incremental, so none can be loaded by window", None,
            "backfill", edits={"resources.2.endpoint.incremental": DELETE,
                               "resources.3.endpoint.incremental": DELETE,
                               "full_refresh_schedule": DELETE}),
    Invalid("endpoint.incremental.initial_value '1000' is not a date-time; windows are time "
            "ranges of the cursor", "resource 'lead'", "backfill",
            edits={"resources.2.endpoint.incremental.initial_value": "1000"}),
]


@pytest.mark.parametrize("row", INVALID, ids=lambda row: row.message[:48])
def test_an_invalid_config_fails_once_naming_file_resource_and_key(tmp_path: Path, row: Invalid):
    config_file = tmp_path / row.file if row.file else tmp_path
    if row.file:
        config_file.write_bytes(row.text or yaml.safe_dump(edited(row.edits)).encode())
    with pytest.raises(ConfigError) as raised:
        load_source_configs(tmp_path)
    error, message = raised.value, str(raised.value)
    assert message.startswith(f"{config_file}: ") and message.count(str(tmp_path)) == 1, message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert not any(marker in message for marker in TRACEBACK_MARKERS), message
    for fragment in (row.message, row.resource, row.key):
        assert fragment is None or fragment in message, (fragment, message)


def test_resource_policies_override_the_source_defaults_path_by_path_and_entity_by_entity(
    tmp_path: Path,
):
    raw = edited({"resource_defaults.schema_contract": "freeze"})
    raw["resources"][2]["schema_contract"] = {"columns": "discard_value"}
    raw["resources"][2]["pii"] = {"email": "keep", "notes": "drop"}
    (tmp_path / "lead_crm.yaml").write_text(yaml.safe_dump(raw))
    (config,) = load_source_configs(tmp_path)
    account, lead = config.resource("account"), config.resource("lead")
    assert config.schema_contract(account) == dict.fromkeys(["tables", "columns", "data_type"], "freeze")
    assert config.schema_contract(lead) == {
        "tables": "freeze", "columns": "discard_value", "data_type": "freeze"
    }
    assert config.pii_policy(lead) == {
        "phone": "hash", "emails[*].value": "hash", "owner.email": "hash", "notes": "drop"
    }
