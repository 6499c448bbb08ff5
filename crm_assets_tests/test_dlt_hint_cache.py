"""The remembered type-hint answers (crm_assets/load/dlt_hint_cache.py) are dlt's own, for every
field of every dlt configuration a run resolves, and they are the ones dlt calls."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
from typing import Annotated

import dlt.destinations  # noqa: F401  (the destinations' configuration specs)
import dlt.sources.rest_api  # noqa: F401  (the REST client's)
import pytest
from dlt.common.configuration.providers import environ
from dlt.common.configuration.specs.base_configuration import BaseConfiguration, SecretSentinel

import crm_assets.definitions  # noqa: F401  (as the code location loads: installs the cache)
from crm_assets.load.dlt_hint_cache import CALLERS, FAST, ORIGINALS


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _field_hints() -> list:
    hints = []
    for spec in _subclasses(BaseConfiguration):
        if dataclasses.is_dataclass(spec):
            hints += [f.type for f in dataclasses.fields(spec) if not isinstance(f.type, str)]
    return hints


def test_every_config_fields_hint_gets_dlts_own_answer():
    hints = _field_hints()
    assert len(hints) > 200  # the destinations', the REST client's, the runtime's...
    for hint in hints:
        assert FAST["is_secret_hint"](hint) == ORIGINALS["is_secret_hint"](hint), hint
        for flags in itertools.product((False, True), repeat=3):
            assert FAST["extract_inner_hint"](hint, *flags) == ORIGINALS["extract_inner_hint"](
                hint, *flags
            ), (hint, flags)
    assert FAST["is_secret_hint"](Annotated[str, SecretSentinel]) is True
    assert FAST["is_secret_hint"](str) is False


def test_a_hint_that_cannot_be_remembered_is_answered_by_dlt():
    unhashable = Annotated[str, SecretSentinel, {"not": "hashable"}]
    with pytest.raises(TypeError):
        hash(unhashable)
    assert FAST["is_secret_hint"](unhashable) is True


def test_dlt_calls_the_remembered_functions():
    assert environ.is_secret_hint is FAST["is_secret_hint"]
    for module_name, names in CALLERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert getattr(module, name) is FAST[name], (module_name, name)
