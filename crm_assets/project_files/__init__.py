"""Where the code location reads its own files from: the source configs (`configs/*.yaml`), the
Celery settings (`celery.yaml`) and dlt's settings (`.dlt/config.toml`).

One layout, two places:
- installed from the wheel (`pip install .`, the user-code image): the copies the build put in
  the package, `crm_assets/_project/` (pyproject.toml maps that package onto the checkout's
  top level and ships those three files only);
- from a checkout (`pip install -e .`, `make`, PYTHONPATH): the checkout's own files, beside
  `crm_assets/`.

An environment variable points a deployment at its own copy, over either of them:
`CRM_CONFIGS_DIR` (a directory of `<source>.yaml` files) and `CRM_CELERY_YAML` (a file). dlt's
settings are layered by dlt itself (`crm_assets.project_files.dlt_settings`): env vars such as
`NORMALIZE__WORKERS=2` over `./.dlt/config.toml` (or `$DLT_PROJECT_DIR/.dlt/`) over
`DLT_SETTINGS_DIR` below over `~/.dlt/config.toml`.

`python -m crm_assets.project_files` prints what this install reads.

Nothing here imports more than the standard library: dlt loads `crm_assets.project_files.dlt_settings` (which
imports this) in every process of the environment, before anything else of ours.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIGS_ENV = "CRM_CONFIGS_DIR"
CELERY_YAML_ENV = "CRM_CELERY_YAML"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # crm_assets/
_PACKAGED = _PACKAGE_DIR / "_project"
# The wheel's copy where there is one (never in a checkout: nothing creates the directory
# there), else the checkout crm_assets/ was imported from.
PROJECT_DIR = _PACKAGED if _PACKAGED.is_dir() else _PACKAGE_DIR.parent

# The shipped copies, without the env overrides.
CONFIGS_DIR = PROJECT_DIR / "configs"
CELERY_YAML = PROJECT_DIR / "celery.yaml"
DLT_SETTINGS_DIR = PROJECT_DIR / ".dlt"


def configs_dir() -> Path:
    """`$CRM_CONFIGS_DIR`, else the shipped configs."""
    return Path(os.environ.get(CONFIGS_ENV) or CONFIGS_DIR)


def celery_yaml() -> Path:
    """`$CRM_CELERY_YAML`, else the shipped celery.yaml."""
    return Path(os.environ.get(CELERY_YAML_ENV) or CELERY_YAML)


def main() -> None:
    """One line per file: what this install reads, and which variable chose it."""

    def origin(variable: str) -> str:
        return f"  (${variable})" if os.environ.get(variable) else ""

    print(f"configs  {configs_dir()}{origin(CONFIGS_ENV)}")
    print(f"celery   {celery_yaml()}{origin(CELERY_YAML_ENV)}")
    print(f"dlt      {DLT_SETTINGS_DIR / 'config.toml'}  (under env vars and ./.dlt/config.toml)")
