"""Reads `configs/<source>.yaml` files; a file that cannot be used fails once, with one
`ConfigError` naming the file, the resource and the key."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crm_assets.config.base import IDENTIFIER
from crm_assets.config.source import SourceConfig

# The shipped configs: the installed package's copy, or the checkout's configs/. The code
# location and the CLIs read `CRM_CONFIGS_DIR` over them (project_files.configs_dir).
from crm_assets.project_files import CONFIGS_DIR  # noqa: F401 (crm_assets.config exports it)

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, resource and key."""


def _describe_location(raw: dict[str, Any], location: Iterable[str | int]) -> str:
    """`('resources', 3, 'endpoint', 'path')` -> `resource 'employees', key endpoint.path`."""
    parts = list(location)
    if len(parts) >= 2 and parts[0] == "resources" and isinstance(parts[1], int):
        resources = raw.get("resources")
        resources = resources if isinstance(resources, list) else []
        entry = resources[parts[1]] if parts[1] < len(resources) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"resource {name!r}" if name else f"resources[{parts[1]}]"
        key = ".".join(str(part) for part in parts[2:])
        return f"{label}, key {key}" if key else label
    return "key " + ".".join(str(part) for part in parts) if parts else "top level"


def load_source_config(path: Path) -> SourceConfig:
    """Read and validate one config file; the file stem is the source name."""
    if not re.match(IDENTIFIER, path.stem):
        raise ConfigError(
            f"{path}: the file name is the source name and must match {IDENTIFIER} "
            "(lowercase letters, digits, underscores)"
        )
    try:
        raw = yaml.load(path.read_bytes().decode("utf-8"), Loader=_YamlLoader)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        # ValueError: integers past Python's digit limit; RecursionError: absurd nesting.
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if "name" in raw:
        raise ConfigError(f"{path}: key name: the source name is the file name, drop the key")
    if "account" in raw:
        raise ConfigError(f"{path}: key account: list the source's accounts under `accounts`")
    try:
        return SourceConfig.model_validate({"name": path.stem, **raw})
    except ValidationError as error:
        problems = [
            f"{_describe_location(raw, issue['loc'])}: {issue['msg'].removeprefix('Value error, ')}"
            for issue in error.errors(include_url=False)
        ]
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None


def load_source_configs(configs_dir: Path) -> list[SourceConfig]:
    paths = sorted(configs_dir.glob("*.yaml"))
    if not paths:
        raise ConfigError(f"{configs_dir}: no *.yaml source configs found")
    return [load_source_config(path) for path in paths]
