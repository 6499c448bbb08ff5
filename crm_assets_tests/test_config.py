"""Config files: the five shipped ones load; a bad one fails naming the file, resource and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crm_assets.config import ConfigError, SourceConfig, load_source_config
from crm_assets.config import CONFIGS_DIR
from crm_assets.source_builder import build_source, placeholder_source

GOOD = yaml.safe_load((CONFIGS_DIR / "lead_crm.yaml").read_text())


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


def _mutate(path: str, value: object) -> dict:
    """A copy of lead_crm.yaml with the dotted path set (`resources.1.endpoint.path`)."""
    raw = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


class _Delete:
    def __repr__(self) -> str:  # a stable test id under pytest-xdist
        return "<deleted>"


_DELETE = _Delete()

INVALID_CONFIGS = [
    ("base_url", "api.example.com/v1", ["key base_url", "http://"]),
    ("resources.1.endpoint.paginator.limit", -5, ["resource 'contact'", "paginator.offset.limit"]),
    ("resources.2.endpoint.paginator.type", "cursor_magic", ["resource 'lead'", "paginator"]),
    ("auth.type", "basic", ["key auth.type", "'bearer', 'http_basic' or 'api_key'"]),
    ("auth.env", {"token": "LEAD_CRM_API_KEY"}, ["key auth", "api_key"]),
    ("resources.3.name", "account", ["duplicate resource names ['account']"]),
    ("resources.1.endpoint.path", "/v1/account/{resources.accounts.id}/contacts",
     ["resource 'contact'", "parent 'accounts'"]),
    ("resources.0.endpoint.path", "/v1/account/{resources.account.id}", ["account -> account form a cycle"]),
    ("resources.1.endpoint.path", "/v1/{entity}/contact", ["resource 'contact'", "{entity}"]),
    ("resources.0.endpont", {"path": "/x"}, ["resource 'account', key endpont", "Extra inputs"]),
    ("resources.0.endpoint", _DELETE, ["resource 'account', key endpoint", "Field required"]),
    ("schedule.cron", "every day", ["key schedule.cron", "five-field cron"]),
    ("schedule.timezone", "Mars/Olympus", ["key schedule.timezone", "unknown timezone"]),
    ("auth.env.api_key", "lead-key", ["key auth.env.api_key", "pattern"]),
    ("rate_limit.requests", 0, ["key rate_limit.requests", "greater than 0"]),
    ("rate_limit.per_seconds", "hourly", ["key rate_limit.per_seconds", "valid number"]),
    ("rate_limit", {"requests": 10}, ["key rate_limit.per_seconds", "Field required"]),
    ("max_concurrency", 0, ["key max_concurrency", "greater than or equal to 1"]),
    ("max_concurrency", 65, ["key max_concurrency", "less than or equal to 64"]),
    ("max_concurrency", "8", ["key max_concurrency", "valid integer"]),
    ("resources.2.mark_deleted", True,
     ["resource 'lead': mark_deleted needs a resource read completely", "full_refresh_schedule"]),
    ("resources.2.history", True,
     ["resource 'lead': full_refresh_schedule would drop the history"]),
    ("resources.0.history", "yes", ["resource 'account', key history", "valid boolean"]),
    ("resources.0", {"name": "account", "endpoint": {"path": "/a"}, "history": True,
                     "mark_deleted": True}, ["resource 'account'", "drop mark_deleted"]),
    ("resources.0", {"name": "account", "endpoint": {"path": "/a"}, "history": True,
                     "write_disposition": "append"}, ["resource 'account'", "history keeps versions"]),
    ("resources.0", {"name": "account", "endpoint": {"path": "/a"}, "mark_deleted": True,
                     "write_disposition": "replace"}, ["resource 'account'", "needs write_disposition merge"]),
    ("resource_defaults.mark_deleted", "often", ["key resource_defaults.mark_deleted", "valid boolean"]),
    ("full_refresh_schedule.cron", "weekly", ["key full_refresh_schedule.cron", "five-field cron"]),
    ("resource_defaults.pii", {"email": "encrypt"},
     ["key resource_defaults.pii.email", "'hash', 'drop' or 'keep'"]),
    ("resources.1.pii", {"emails[0].value": "hash"},
     ["resource 'contact', key pii", "'emails[0].value' is not `field`"]),
    ("resources.1.pii", {"phones[*]": "drop"}, ["resource 'contact', key pii", "drop the list itself"]),
    ("resources.2.pii", {"id": "hash"}, ["resource 'lead': pii path 'id' is a primary key"]),
    ("resources.2.pii", {"updated_at": "drop"},
     ["resource 'lead': pii path 'updated_at'", "incremental cursor"]),
    ("resource_defaults.schema_contract", "frozen",
     ["key resource_defaults.schema_contract", "'frozen' is not a schema contract mode"]),
    ("resources.2.schema_contract", {"columns": "block"},
     ["resource 'lead', key schema_contract.columns", "'evolve', 'freeze', 'discard_row' or 'discard_value'"]),
    ("resources.2.schema_contract", {"rows": "freeze"},
     ["resource 'lead', key schema_contract.rows", "Extra inputs"]),
    ("schema_contract", "freeze", ["key schema_contract", "Extra inputs"]),
]


@pytest.mark.parametrize(("path", "value", "fragments"), INVALID_CONFIGS, ids=lambda v: str(v)[:40])
def test_an_invalid_config_fails_once_naming_file_resource_and_key(
    tmp_path: Path, path: str, value: object, fragments: list[str]
):
    config_file = tmp_path / "lead_crm.yaml"
    config_file.write_text(yaml.safe_dump(_mutate(path, value)))
    with pytest.raises(ConfigError) as raised:
        load_source_config(config_file)
    message = str(raised.value)
    assert message.startswith(f"{config_file}: ")
    for fragment in fragments:
        assert fragment in message


def test_a_cycle_between_two_resources_is_named(tmp_path: Path):
    raw = _mutate("resources.0.endpoint.path", "/v1/account/{resources.contact.id}")
    raw["resources"][1]["endpoint"]["path"] = "/v1/contact/{resources.account.id}"
    config_file = tmp_path / "lead_crm.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"account -> contact -> account form a cycle"):
        load_source_config(config_file)


def test_resource_policies_override_the_source_defaults_path_by_path_and_entity_by_entity(
    tmp_path: Path,
):
    raw = _mutate("resource_defaults.schema_contract", "freeze")
    raw["resources"][2]["schema_contract"] = {"columns": "discard_value"}
    raw["resources"][2]["pii"] = {"email": "keep", "notes": "drop"}
    config_file = tmp_path / "lead_crm.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    config = load_source_config(config_file)
    account, lead = config.resource("account"), config.resource("lead")
    assert config.schema_contract(account) == dict.fromkeys(["tables", "columns", "data_type"], "freeze")
    assert config.schema_contract(lead) == {
        "tables": "freeze", "columns": "discard_value", "data_type": "freeze"
    }
    assert config.pii_policy(lead) == {
        "phone": "hash", "emails[*].value": "hash", "owner.email": "hash", "notes": "drop"
    }


def test_a_file_that_is_not_yaml_is_named(tmp_path: Path):
    config_file = tmp_path / "lead_crm.yaml"
    config_file.write_text("resources: [name: x\n")
    with pytest.raises(ConfigError, match=f"^{config_file}: not valid YAML"):
        load_source_config(config_file)
