"""dlt's settings travel with the package: a dlt plugin (pyproject.toml, entry point group `dlt`)
whose run context reads the package's `.dlt/config.toml` (`project_files.DLT_SETTINGS_DIR`)
wherever the process starts.

dlt's own run context reads `config.toml` from `./.dlt/` (or `$DLT_PROJECT_DIR/.dlt/`) and
`~/.dlt/` only, so a run started outside the checkout (an installed package, the user-code
image, a Celery worker's directory) silently took dlt's defaults. This context keeps dlt's
providers and their order, and adds the package's file as one more directory of the same
`config.toml` provider, which dlt merges:

    env vars (NORMALIZE__WORKERS=2, ...)
    > secrets.toml (./.dlt/, ~/.dlt/)
    > config.toml: ./.dlt/ (or $DLT_PROJECT_DIR/.dlt/) > the package's > ~/.dlt/

From the checkout `./.dlt/` is the package's file itself. dlt loads the plugin in every process
of an environment where crm_assets is installed, before its first setting is read, whether or
not the process imports crm_assets (`DLT_DISABLE_PLUGINS=true` turns plugins off). A dlt
workspace (`.dlt/.workspace`), or a context asked for by class, is left to dlt's own plugins.
"""

from __future__ import annotations

import os
from typing import Any

from dlt.common.configuration.plugins import hookimpl
from dlt.common.configuration.providers import (
    CONFIG_TOML,
    ConfigProvider,
    ConfigTomlProvider,
    SettingsTomlProvider,
)
from dlt.common.runtime.run_context import DOT_DLT, RunContext

from crm_assets.project_files import DLT_SETTINGS_DIR


class PackageConfigTomlProvider(ConfigTomlProvider):
    """dlt's `config.toml` provider over one more directory, between the run's and the global."""

    def __init__(self, settings_dir: str, global_dir: str | None = None) -> None:
        directories: list[str] = []
        for directory in (settings_dir, str(DLT_SETTINGS_DIR), global_dir):
            if directory and os.path.realpath(directory) not in map(os.path.realpath, directories):
                directories.append(directory)
        SettingsTomlProvider.__init__(
            self, CONFIG_TOML, False, CONFIG_TOML, directories, global_dir
        )

    @property
    def is_writable(self) -> bool:
        # dlt writes only to a provider of one file; this one merges several.
        return False


class PackageRunContext(RunContext):
    """dlt's default run context, its config.toml provider reading the package's file too."""

    def initial_providers(self) -> list[ConfigProvider]:
        return [
            PackageConfigTomlProvider(self.settings_dir, self.global_dir)
            if isinstance(provider, ConfigTomlProvider)
            else provider
            for provider in super().initial_providers()
        ]


@hookimpl(specname="plug_run_context")
def plug_run_context_impl(
    run_dir: str | None, runtime_kwargs: dict[str, Any] | None
) -> RunContext | None:
    if (runtime_kwargs or {}).get("_required"):
        return None
    if os.path.isfile(os.path.join(os.path.abspath(run_dir or "."), DOT_DLT, ".workspace")):
        return None
    return PackageRunContext(run_dir)
