"""Properties of config loading, over inputs nobody writes by hand (`test_config.py` asserts
each message):

- any file gives exactly one clean `ConfigError` (it starts with the file's path, chains no
  cause and holds no traceback text) or a config that dlt builds a source from; no other
  exception escapes;
- a loaded config, serialized back to YAML in any layout, loads equal to itself.

A failing example shows the file it wrote (hypothesis `note`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from crm_assets.config import CONFIGS_DIR, ConfigError, SourceConfig, load_source_config
from crm_assets_tests.test_config import TRACEBACK_MARKERS, build_real_source

RAW: dict[str, dict[str, Any]] = {
    path.stem: yaml.safe_load(path.read_text()) for path in sorted(CONFIGS_DIR.glob("*.yaml"))
}
# Smaller copies (building a source costs ~20-100 ms); party_crm keeps a parent/child pair
# (parties -> employees), a single_page and a for_each.
_KEEP = {"party_crm": ["users", "parties", "employees", "site", "tags"]}
SMALL = {
    stem: {
        **raw,
        "resources": [r for r in raw["resources"] if r["name"] in _KEEP[stem]]
        if stem in _KEEP
        else raw["resources"][:4],
    }
    for stem, raw in RAW.items()
}

# No shrinking: a failing example is reported as found (its file is in the notes), which keeps
# a failing run within seconds; shrinking a 4000-digit or 3000-deep file takes minutes.
FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _no_traceback_text(text: str) -> bool:
    return not any(marker in text for marker in TRACEBACK_MARKERS)


JUNK_TEXT = (
    st.text(alphabet=st.sampled_from(list("{}[]$.*:/?#@%&=-_ aBz09\n\té")), max_size=12)
    | st.text(max_size=12)
).filter(_no_traceback_text)
# Values that have broken parsers before: empty strings, lone braces, JSONPath and format syntax.
TRICKY = st.sampled_from(
    ["", " ", "{", "}", "{x}", "{{", "[[", "$..[", "a.b", "{resources.x.id}", 0, -1, 1.5, True]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | JUNK_TEXT | TRICKY
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(JUNK_TEXT | st.integers(), inner, max_size=3),
    max_leaves=6,
)
YAMLISH_TEXT = st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"%@`#?\n\t aZ1.")), max_size=40)
LEAD_TEXT = (CONFIGS_DIR / "lead_crm.yaml").read_text()
ODD_YAML = st.one_of(
    # Deep nesting: the YAML parser recurses once per level.
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 3000).map(lambda depth: "a: " + "[" * depth + "]" * depth + "\n"),
    # Integers longer than Python's int-to-str limit (4300 digits); a float cannot hold 400.
    st.integers(400, 6000).map(lambda digits: LEAD_TEXT + "freshness_hours: " + "7" * digits),
    # YAML sets, pairs and other tags that safe_load builds.
    st.sampled_from(["!!set {a, b}", "!!pairs [[a, 1]]", "!!omap [{a: 1}]", "!!binary aGk="]).map(
        lambda node: LEAD_TEXT.split("resources:")[0] + f"resources: {node}\n"
    ),
)


def write_config(factory: pytest.TempPathFactory, content: Any, stem: str = "lead_crm") -> Path:
    """A fresh file per example (hypothesis does not reset function-scoped fixtures)."""
    path = factory.mktemp("fuzz") / f"{stem}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(yaml.safe_dump(content, sort_keys=False))
    note(f"--- {path}\n{path.read_bytes().decode('utf-8', 'backslashreplace')}")
    return path


def assert_one_clean_error(error: ConfigError, path: Path) -> None:
    message = str(error)
    note(f"ConfigError: {message}")
    assert type(error) is ConfigError
    assert message.startswith(f"{path}: ") and message.count(str(path)) == 1, message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert _no_traceback_text(message), message


def load_and_build(path: Path) -> SourceConfig | None:
    """The config, built into dlt's REST source as a run builds it; or None after a clean
    ConfigError. Anything else escapes as it is."""
    try:
        config = load_source_config(path)
    except ConfigError as error:
        assert_one_clean_error(error, path)
        return None
    note("load_source_config accepted the file; building dlt's REST source from it")
    build_real_source(config)
    return config


@FUZZ
@given(
    document=st.binary(max_size=40)
    | (YAMLISH_TEXT | st.text(max_size=40)).filter(_no_traceback_text)
    | ODD_YAML
    | st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6).map(yaml.safe_dump)
)
def test_any_document_that_is_no_config_gives_one_clean_error(tmp_path_factory, document):
    path = write_config(tmp_path_factory, document)
    with pytest.raises(ConfigError) as raised:
        load_source_config(path)
    assert_one_clean_error(raised.value, path)


def _mappings(node: Any) -> list[dict]:
    """Every mapping in a parsed config, the document itself first."""
    if isinstance(node, dict):
        return [node, *(m for value in node.values() for m in _mappings(value))]
    if isinstance(node, list):
        return [m for value in node for m in _mappings(value)]
    return []


@settings(FUZZ, max_examples=120)
@given(data=st.data(), value=JUNK)
def test_junk_anywhere_in_a_config_gives_one_clean_error_or_a_config_that_builds(
    tmp_path_factory, data, value
):
    stem = data.draw(st.sampled_from(sorted(SMALL)), label="source")
    raw = copy.deepcopy(SMALL[stem])
    node = data.draw(st.sampled_from(_mappings(raw)), label="mapping")
    # existing keys twice as often as new ones
    existing = [st.sampled_from(sorted(node, key=str))] * 2 if node else []
    key = data.draw(st.one_of(*existing, JUNK_TEXT, st.integers(0, 3)), label="key")
    node[key] = value
    load_and_build(write_config(tmp_path_factory, raw, stem))


@settings(FUZZ, max_examples=15)
@given(
    stem=st.sampled_from(sorted(RAW)),
    from_model=st.booleans(),
    flow_style=st.sampled_from([None, True, False]),
    sort_keys=st.booleans(),
    indent=st.integers(2, 8),
    width=st.sampled_from([20, 80, 10_000]),
)
def test_a_config_serialized_in_any_layout_loads_equal(
    tmp_path_factory, stem, from_model, flow_style, sort_keys, indent, width
):
    original = load_source_config(CONFIGS_DIR / f"{stem}.yaml")
    # The shipped file re-laid out, or the loaded model written back (every default spelled).
    content = original.model_dump(mode="json", exclude={"name"}) if from_model else RAW[stem]
    dumped = yaml.safe_dump(
        content, default_flow_style=flow_style, sort_keys=sort_keys, indent=indent, width=width
    )
    assert load_source_config(write_config(tmp_path_factory, dumped, stem)) == original
