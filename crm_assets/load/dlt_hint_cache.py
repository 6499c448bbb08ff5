"""dlt's type-hint introspection, remembered: the same answer, computed once per hint.

dlt resolves its configuration ~190 times in a run (each REST client, the destination's spec
about 30 times, each file writer), and for every field and every place it looks (env vars,
secrets.toml, config.toml, under each section path) it asks `is_secret_hint(hint)` and
`extract_inner_hint(hint, ...)` again: pure functions of a type hint, taking `typing` apart each
time. Sampled in every source's nightly assets in-process (3 rows a resource), they held about
a fifth of the run's CPU; remembered, the run takes 6.9 s of CPU instead of 7.8 s. The fixed
costs of small nightly runs are mostly dlt's and Dagster's (docs/performance.md).

`install()` replaces the two functions in the dlt modules that call them, with versions that
remember each hint's answer and fall back to dlt's own for a hint that cannot be a dict key.
dlt is pinned below 1.32 (pyproject.toml); a dlt that moved them fails `install()` loudly, and
crm_assets_tests/test_dlt_hint_cache.py checks the answers are dlt's for every config field.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from dlt.common.configuration.specs import base_configuration

# Where dlt holds each function under its own name (`from ... import`), as of dlt 1.31.
CALLERS = {
    "dlt.common.configuration.specs.base_configuration": ("is_secret_hint", "extract_inner_hint"),
    "dlt.common.configuration.specs": ("extract_inner_hint",),
    "dlt.common.configuration": ("is_secret_hint",),
    "dlt.common.configuration.resolve": ("is_secret_hint", "extract_inner_hint"),
    "dlt.common.configuration.providers.environ": ("is_secret_hint",),
    "dlt.common.configuration.providers.vault": ("is_secret_hint",),
    "dlt.common.destination.client": ("extract_inner_hint",),
    "dlt.common.reflection.spec": ("is_secret_hint",),
    "dlt.pipeline.trace": ("is_secret_hint",),
}
ORIGINALS: dict[str, Callable[..., Any]] = {
    name: getattr(base_configuration, name) for name in ("is_secret_hint", "extract_inner_hint")
}


def _remembering(function: Callable[..., Any]) -> Callable[..., Any]:
    remembered = functools.lru_cache(maxsize=4096)(function)

    @functools.wraps(function)
    def answer(*args: Any, **kwargs: Any) -> Any:
        try:
            return remembered(*args, **kwargs)
        except TypeError:  # an unhashable hint (Annotated with a dict in it, say)
            return function(*args, **kwargs)

    return answer


FAST = {name: _remembering(function) for name, function in ORIGINALS.items()}


def install() -> None:
    """Idempotent. Each name in CALLERS must hold dlt's function or this module's."""
    for module_name, names in CALLERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            if getattr(module, name, None) not in (ORIGINALS[name], FAST[name]):
                raise RuntimeError(
                    f"{module_name}.{name} is not dlt's function any more (dlt changed?): "
                    "see crm_assets/load/dlt_hint_cache.py"
                )
            setattr(module, name, FAST[name])
