"""Property-based fuzzing of config files: every malformed file fails with one clear ConfigError.

`test_config.py` holds a table of hand-picked invalid configs; these properties generate many
more, class by class, from the shipped configs. For every malformed file:

- `load_source_config` raises exactly one `ConfigError` (no chained cause), whose message starts
  with `"<path>: "`, names the key that is wrong (and the resource when the key is inside a
  resource) and holds no traceback text;
- no other exception type ever escapes, and a config that loads always builds:
  `load_and_build` builds dlt's REST source from it, as a run does, and converts nothing.

Each failing example shows the file it wrote (hypothesis `note`).
"""

from __future__ import annotations

import copy
import re
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from crm_assets.config import (
    SECRET_FIELDS_BY_AUTH,
    AuthSpec,
    ConfigError,
    Endpoint,
    EndpointDefaults,
    HeaderLinkPaginator,
    IncrementalSpec,
    OffsetPaginator,
    PageNumberPaginator,
    ResourceDefaults,
    ResourceSpec,
    RetryPolicy,
    ScheduleSpec,
    SinglePagePaginator,
    SourceConfig,
    load_source_config,
)
from crm_assets.config import CONFIGS_DIR
from crm_assets_tests.test_config import build_real_source

# ---------------------------------------------------------------------------------------------
# The shipped configs, and smaller copies of them (building a source costs ~20-100 ms each).

RAW: dict[str, dict[str, Any]] = {
    path.stem: yaml.safe_load(path.read_text()) for path in sorted(CONFIGS_DIR.glob("*.yaml"))
}
# party_crm keeps a parent/child pair (parties -> employees), a single_page and a for_each.
_KEEP = {"party_crm": ["users", "parties", "employees", "site", "tags"]}


def _small(stem: str) -> dict[str, Any]:
    raw = copy.deepcopy(RAW[stem])
    keep = _KEEP.get(stem)
    raw["resources"] = (
        [r for r in raw["resources"] if r["name"] in keep] if keep else raw["resources"][:4]
    )
    return raw


SMALL = {stem: _small(stem) for stem in RAW}
OFFSET_SOURCES = sorted(
    stem
    for stem, raw in RAW.items()
    if any((r["endpoint"].get("paginator") or {}).get("type") == "offset" for r in raw["resources"])
)
PAGE_SIZE_PARAM_SOURCES = sorted(stem for stem, raw in RAW.items() if raw.get("page_size_param"))
PAGINATOR_TYPES = {"header_link", "page_number", "offset", "single_page"}
PAGINATOR_MODELS = {
    "header_link": HeaderLinkPaginator,
    "page_number": PageNumberPaginator,
    "offset": OffsetPaginator,
    "single_page": SinglePagePaginator,
}
TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages")

# No shrinking: a failing example is reported as found (its file is in the notes), which keeps
# a failing run within the time budget; shrinking a 4000-digit or 3000-deep file takes minutes.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FAST = settings(FUZZ, max_examples=120)  # for properties that never build a source

# ---------------------------------------------------------------------------------------------
# Strategies


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
NON_MAPPING = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
# What `{resources.<parent>.<field>}` accepts (config.PARENT_REFERENCE).
REFERENCE_PART = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
PATH_TEXT = st.text(alphabet=string.ascii_lowercase + "/_-", max_size=10)


def _not_an_absolute_http_url(url: str) -> bool:
    try:
        parsed = urlparse(url)
    except ValueError:
        return True
    return parsed.scheme not in ("http", "https") or not parsed.netloc


BAD_BASE_URLS = (
    JUNK_TEXT
    | st.text(max_size=30).filter(_no_traceback_text)
    | st.builds(
        str.__add__,
        st.sampled_from(
            ["", "://", "http:", "http:/", "https://", "http:///", "ftp://", "file://", "//"]
        ),
        JUNK_TEXT | st.just("api.example.com/v1"),
    )
).filter(_not_an_absolute_http_url)

# ---------------------------------------------------------------------------------------------
# Helpers


def write_config(factory: pytest.TempPathFactory, content: Any, stem: str) -> Path:
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


def load_and_build(path: Path) -> SourceConfig:
    """Load, then build the dlt source; converts nothing: any exception escapes as it is."""
    config = load_source_config(path)
    note("load_source_config accepted the file; building dlt's REST source from it")
    build_real_source(config)
    return config


def check_config_error(
    error: ConfigError, path: Path, fragments: tuple[str, ...] = (), any_of: tuple[str, ...] = ()
) -> str:
    message = str(error)
    note(f"ConfigError: {message}")
    assert type(error) is ConfigError
    assert message.startswith(f"{path}: "), message
    assert message.count(str(path)) == 1, message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for marker in TRACEBACK_MARKERS:
        assert marker not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if any_of:
        assert any(f in message for f in any_of), f"none of {any_of!r} in {message!r}"
    return message


def expect_config_error(
    path: Path, fragments: tuple[str, ...] = (), any_of: tuple[str, ...] = ()
) -> str:
    """The file is malformed: it must fail with a ConfigError (anything else escapes)."""
    with pytest.raises(ConfigError) as raised:
        load_and_build(path)
    return check_config_error(raised.value, path, fragments, any_of)


def resource_label(raw: dict[str, Any], index: int) -> str:
    return f"resource {raw['resources'][index]['name']!r}"


def draw_source(data: st.DataObject, stems: list[str] | None = None) -> tuple[str, dict]:
    stem = data.draw(st.sampled_from(stems or sorted(SMALL)), label="source")
    return stem, copy.deepcopy(SMALL[stem])


def plain_resources(raw: dict[str, Any]) -> list[int]:
    """Resources with no for_each and no parent: their path can be rewritten freely."""
    return [
        i
        for i, r in enumerate(raw["resources"])
        if "for_each" not in r and "{" not in r["endpoint"]["path"]
    ]


def set_path(resource: dict[str, Any], path: str) -> None:
    resource["endpoint"]["path"] = path
    resource.pop("for_each", None)
    resource.pop("include_from_parent", None)


def fields_of(model: type) -> set[str]:
    return set(model.model_fields)


# ---------------------------------------------------------------------------------------------
# Base URL, page sizes, paginator and auth types


@FAST
@given(data=st.data(), url=BAD_BASE_URLS)
def test_a_base_url_without_scheme_or_host_is_named(tmp_path_factory, data, url):
    stem, raw = draw_source(data)
    raw["base_url"] = url
    expect_config_error(write_config(tmp_path_factory, raw, stem), ("key base_url",))


@FAST
@given(
    data=st.data(),
    limit=st.integers(max_value=0) | st.sampled_from([False, 0.0, -1.0]),
    in_defaults=st.booleans(),
)
def test_a_non_positive_offset_limit_is_named(tmp_path_factory, data, limit, in_defaults):
    stem, raw = draw_source(data, OFFSET_SOURCES)
    if in_defaults:
        raw.setdefault("resource_defaults", {})["endpoint"] = {
            "paginator": {"type": "offset", "limit": limit}
        }
        expected: tuple[str, ...] = ("key resource_defaults.endpoint.paginator.offset.limit",)
    else:
        offsets = [
            i
            for i, r in enumerate(raw["resources"])
            if (r["endpoint"].get("paginator") or {}).get("type") == "offset"
        ]
        index = data.draw(st.sampled_from(offsets), label="resource")
        raw["resources"][index]["endpoint"]["paginator"]["limit"] = limit
        expected = (resource_label(raw, index), "key endpoint.paginator.offset.limit")
    expect_config_error(write_config(tmp_path_factory, raw, stem), expected)


@FAST
@given(data=st.data(), size=st.integers(max_value=0) | st.just(False))
def test_a_non_positive_page_size_param_is_named(tmp_path_factory, data, size):
    stem, raw = draw_source(data, PAGE_SIZE_PARAM_SOURCES)
    param = raw["page_size_param"]
    index = data.draw(st.integers(0, len(raw["resources"]) - 1), label="resource")
    raw["resources"][index]["endpoint"].setdefault("params", {})[param] = size
    expect_config_error(
        write_config(tmp_path_factory, raw, stem),
        (resource_label(raw, index), f"endpoint.params.{param}"),
    )


@FAST
@given(data=st.data(), size=st.integers(max_value=0))
def test_a_non_positive_page_size_param_in_resource_defaults_is_named(tmp_path_factory, data, size):
    # dlt merges resource_defaults.endpoint.params into every resource (party_crm's `categories`
    # has no params of its own, so it would be asked for `perPage=<size>`).
    stem, raw = draw_source(data, PAGE_SIZE_PARAM_SOURCES)
    param = raw["page_size_param"]
    raw.setdefault("resource_defaults", {}).setdefault("endpoint", {})["params"] = {param: size}
    expect_config_error(
        write_config(tmp_path_factory, raw, stem),
        ("resource_defaults", f"endpoint.params.{param}"),
    )


NOT_A_WHOLE_NUMBER = (
    st.booleans()  # YAML's `yes`/`on`/`true`
    | st.floats().filter(lambda f: f != f or f in (float("inf"), float("-inf")) or f != int(f))
    | st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
)


@FAST
@given(data=st.data(), size=NOT_A_WHOLE_NUMBER, offset=st.booleans())
def test_a_page_size_that_is_not_a_whole_number_is_named(tmp_path_factory, data, size, offset):
    if offset:
        stem, raw = draw_source(data, OFFSET_SOURCES)
        index = next(
            i
            for i, r in enumerate(raw["resources"])
            if (r["endpoint"].get("paginator") or {}).get("type") == "offset"
        )
        raw["resources"][index]["endpoint"]["paginator"]["limit"] = size
        key = "endpoint.paginator.offset.limit"
    else:
        stem, raw = draw_source(data, PAGE_SIZE_PARAM_SOURCES)
        index = 0
        raw["resources"][index]["endpoint"].setdefault("params", {})[raw["page_size_param"]] = size
        key = f"endpoint.params.{raw['page_size_param']}"
    path = write_config(tmp_path_factory, raw, stem)
    expect_config_error(path, (resource_label(raw, index), key))


@FAST
@given(
    data=st.data(),
    kind=IDENTIFIER.filter(lambda t: t not in PAGINATOR_TYPES),
    in_defaults=st.booleans(),
)
def test_an_unknown_paginator_type_is_named(tmp_path_factory, data, kind, in_defaults):
    stem, raw = draw_source(data)
    if in_defaults:
        defaults = raw.setdefault("resource_defaults", {}).setdefault("endpoint", {})
        defaults["paginator"] = {**(defaults.get("paginator") or {}), "type": kind}
        expected: tuple[str, ...] = ("key resource_defaults.endpoint.paginator", f"'{kind}'")
    else:
        index = data.draw(st.integers(0, len(raw["resources"]) - 1), label="resource")
        endpoint = raw["resources"][index]["endpoint"]
        endpoint["paginator"] = {**(endpoint.get("paginator") or {}), "type": kind}
        expected = (resource_label(raw, index), "key endpoint.paginator", f"'{kind}'")
    expect_config_error(write_config(tmp_path_factory, raw, stem), (*expected, "'type'"))


@FAST
@given(
    data=st.data(),
    kind=(IDENTIFIER | JUNK).filter(
        lambda t: not (isinstance(t, str) and t in SECRET_FIELDS_BY_AUTH)
    ),
)
def test_an_unknown_auth_type_is_named(tmp_path_factory, data, kind):
    stem, raw = draw_source(data)
    raw["auth"]["type"] = kind
    expect_config_error(write_config(tmp_path_factory, raw, stem), ("key auth.type",))


ENV_VAR = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True)
BAD_ENV_VAR = (JUNK_TEXT | IDENTIFIER).filter(
    lambda s: re.fullmatch(r"[A-Z][A-Z0-9_]*", s) is None
)


@FAST
@given(
    data=st.data(),
    mutation=st.sampled_from(
        ["drop", "rename", "extra", "bad_var_name", "no_env", "env_junk", "other_type"]
    ),
)
def test_missing_or_misnamed_auth_env_entries_are_named(tmp_path_factory, data, mutation):
    stem, raw = draw_source(data)
    auth = raw["auth"]
    expected_fields = sorted(SECRET_FIELDS_BY_AUTH[auth["type"]])
    field = data.draw(st.sampled_from(expected_fields), label="field")
    fragments: tuple[str, ...]
    if mutation == "drop":
        del auth["env"][field]
        fragments = ("key auth: ", "needs env vars", *expected_fields)
    elif mutation == "rename":
        new = data.draw(IDENTIFIER.filter(lambda k: k not in expected_fields), label="new key")
        auth["env"][new] = auth["env"].pop(field)
        fragments = ("key auth: ", "needs env vars", *expected_fields, repr(new))
    elif mutation == "extra":
        new = data.draw(IDENTIFIER.filter(lambda k: k not in expected_fields), label="new key")
        auth["env"][new] = data.draw(ENV_VAR, label="env var")
        fragments = ("key auth: ", "needs env vars", *expected_fields, repr(new))
    elif mutation == "bad_var_name":
        auth["env"][field] = data.draw(BAD_ENV_VAR, label="env var")
        fragments = (f"key auth.env.{field}",)
    elif mutation == "no_env":
        del auth["env"]
        fragments = ("key auth.env", "Field required")
    elif mutation == "env_junk":
        auth["env"] = data.draw(JUNK.filter(lambda v: not isinstance(v, dict)), label="env")
        fragments = ("key auth.env",)
    else:  # a valid type whose secrets are not the ones given
        other = data.draw(st.sampled_from(sorted(set(SECRET_FIELDS_BY_AUTH) - {auth["type"]})))
        auth["type"] = other
        if other == "api_key":
            auth.update(name="key", location="header")
        else:
            auth.pop("name", None)
            auth.pop("location", None)
        fragments = ("key auth: ", "needs env vars", *sorted(SECRET_FIELDS_BY_AUTH[other]))
    expect_config_error(write_config(tmp_path_factory, raw, stem), fragments)


# ---------------------------------------------------------------------------------------------
# Resources: duplicates, missing parents, cycles


@FAST
@given(data=st.data(), append=st.booleans())
def test_duplicate_resource_names_are_named(tmp_path_factory, data, append):
    stem, raw = draw_source(data)
    resources = raw["resources"]
    i, j = data.draw(
        st.lists(st.integers(0, len(resources) - 1), min_size=2, max_size=2, unique=True),
        label="resources",
    )
    name = resources[i]["name"]
    if append:
        resources.insert(j, copy.deepcopy(resources[i]))
    else:
        resources[j]["name"] = name
    expect_config_error(
        write_config(tmp_path_factory, raw, stem), ("duplicate resource names", repr(name))
    )


@FAST
@given(
    data=st.data(),
    parent=REFERENCE_PART,
    field=REFERENCE_PART,
    prefix=PATH_TEXT,
    suffix=PATH_TEXT,
)
def test_a_child_of_a_missing_parent_is_named(
    tmp_path_factory, data, parent, field, prefix, suffix
):
    stem, raw = draw_source(data)
    names = [r["name"] for r in raw["resources"]]
    if parent in names:
        parent += "_missing"
    index = data.draw(st.integers(0, len(names) - 1), label="resource")
    set_path(raw["resources"][index], f"/{prefix}{{resources.{parent}.{field}}}{suffix}")
    expect_config_error(
        write_config(tmp_path_factory, raw, stem),
        (resource_label(raw, index), f"parent {parent!r}", "endpoint.path"),
    )


@FUZZ
@given(data=st.data(), parent=REFERENCE_PART, field=REFERENCE_PART)
def test_a_path_names_at_most_one_parent(tmp_path_factory, data, parent, field):
    # The first reference names an existing parent, the second another one: dlt takes one.
    stem, raw = draw_source(data)
    names = [r["name"] for r in raw["resources"]]
    if parent in names:
        parent += "_missing"
    roots = plain_resources(raw)
    existing, index = data.draw(
        st.lists(st.sampled_from(roots), min_size=2, max_size=2, unique=True), label="resources"
    )
    set_path(
        raw["resources"][index],
        f"/x/{{resources.{names[existing]}.id}}/y/{{resources.{parent}.{field}}}",
    )
    expect_config_error(
        write_config(tmp_path_factory, raw, stem),
        (resource_label(raw, index), "endpoint.path", "one parent resource"),
    )


@FAST
@given(data=st.data(), length=st.integers(1, 3), field=REFERENCE_PART)
def test_a_cycle_of_resources_is_named(tmp_path_factory, data, length, field):
    stem, raw = draw_source(data)
    cycle = data.draw(
        st.lists(
            st.sampled_from(plain_resources(raw)), min_size=length, max_size=length, unique=True
        ),
        label="cycle",
    )
    names = [raw["resources"][i]["name"] for i in cycle]
    for position, index in enumerate(cycle):
        parent = names[(position + 1) % length]
        set_path(raw["resources"][index], f"/{names[position]}/{{resources.{parent}.{field}}}")
    expect_config_error(
        write_config(tmp_path_factory, raw, stem), ("form a cycle", *(f"{n} -> " for n in names))
    )


# ---------------------------------------------------------------------------------------------
# Junk values and extra keys anywhere in the document


def _junk_location(data: st.DataObject, raw: dict[str, Any]) -> tuple[dict, Any, str, tuple, tuple]:
    """(mapping to change, key, where, required fragments, any-of fragments)."""
    where = data.draw(st.sampled_from(["top", "resource", "endpoint", "paginator"]), label="where")
    if where == "top":
        node, prefix, label = raw, (), None
    else:
        index = data.draw(st.integers(0, len(raw["resources"]) - 1), label="resource")
        resource = raw["resources"][index]
        label = resource_label(raw, index)
        if where == "resource":
            node = resource
        elif where == "endpoint":
            node = resource["endpoint"]
        elif resource["endpoint"].get("paginator"):
            node = resource["endpoint"]["paginator"]
        else:
            defaults = raw.setdefault("resource_defaults", {}).setdefault("endpoint", {})
            node = defaults.setdefault("paginator", {"type": "single_page"})
            label = "key resource_defaults.endpoint.paginator"
    key = data.draw(
        # existing keys twice as often as new ones
        st.one_of(
            existing := st.sampled_from(sorted(node)), existing, JUNK_TEXT, st.integers(0, 3)
        ),
        label="key",
    )
    required: tuple[str, ...] = (label,) if label else ()
    any_of: tuple[str, ...] = (str(key),)
    if where == "top" and key == "resources":
        any_of = ("resource",)
    elif where == "top" and key == "page_size_param":
        any_of = ("page_size_param", "endpoint.params.")
    elif where == "resource" and key == "name":
        # The resource is renamed: its label changes, and a clash or an orphaned child is
        # reported under the top level.
        required, any_of = (), ("key name", "duplicate resource names", "parent ")
    elif where == "resource" and key == "endpoint":
        any_of = ("endpoint", "path")
    elif where == "paginator":
        required = (*required, "paginator")
        if key == "type":
            any_of = ("type", "paginator")
    return node, key, where, required, any_of


@settings(FUZZ, max_examples=300)
@given(data=st.data(), value=JUNK)
def test_junk_at_a_random_key_fails_naming_the_key_or_builds(tmp_path_factory, data, value):
    stem, raw = draw_source(data)
    node, key, where, required, any_of = _junk_location(data, raw)
    node[key] = value
    path = write_config(tmp_path_factory, raw, stem)
    try:
        load_and_build(path)  # junk that happens to be valid must build
    except ConfigError as error:
        check_config_error(error, path, required, any_of)


def _extra_key_locations(raw: dict[str, Any]) -> list[tuple[str, Any, set[str], str | None, str]]:
    """(where, mapping, its allowed keys, resource label, key prefix in the message)."""
    locations: list[tuple[str, Any, set[str], str | None, str]] = [
        ("top", raw, fields_of(SourceConfig), None, "key "),
        ("auth", raw["auth"], fields_of(AuthSpec), None, "key auth."),
        ("retry", raw.setdefault("retry", {}), fields_of(RetryPolicy), None, "key retry."),
        ("schedule", raw["schedule"], fields_of(ScheduleSpec), None, "key schedule."),
    ]
    defaults = raw.setdefault("resource_defaults", {})
    locations.append(
        ("defaults", defaults, fields_of(ResourceDefaults), None, "key resource_defaults.")
    )
    defaults_endpoint = defaults.setdefault("endpoint", {})
    locations.append(
        (
            "defaults endpoint",
            defaults_endpoint,
            fields_of(EndpointDefaults),
            None,
            "key resource_defaults.endpoint.",
        )
    )
    if defaults_endpoint.get("paginator"):
        kind = defaults_endpoint["paginator"]["type"]
        locations.append(
            (
                "defaults paginator",
                defaults_endpoint["paginator"],
                fields_of(PAGINATOR_MODELS[kind]),
                None,
                f"key resource_defaults.endpoint.paginator.{kind}.",
            )
        )
    for index, resource in enumerate(raw["resources"]):
        label = resource_label(raw, index)
        endpoint = resource["endpoint"]
        locations.append(("resource", resource, fields_of(ResourceSpec), label, "key "))
        locations.append(("endpoint", endpoint, fields_of(Endpoint), label, "key endpoint."))
        if endpoint.get("paginator"):
            kind = endpoint["paginator"]["type"]
            locations.append(
                (
                    "paginator",
                    endpoint["paginator"],
                    fields_of(PAGINATOR_MODELS[kind]),
                    label,
                    f"key endpoint.paginator.{kind}.",
                )
            )
        if endpoint.get("incremental"):
            locations.append(
                (
                    "incremental",
                    endpoint["incremental"],
                    fields_of(IncrementalSpec),
                    label,
                    "key endpoint.incremental.",
                )
            )
    return locations


@FAST
@given(data=st.data(), value=JUNK)
def test_an_extra_key_anywhere_is_named(tmp_path_factory, data, value):
    stem, raw = draw_source(data)
    where, node, allowed, label, prefix = data.draw(
        st.sampled_from(_extra_key_locations(raw)), label="location"
    )
    # (an empty key is left out: the message then names no key, see the report)
    key = data.draw((IDENTIFIER | JUNK_TEXT).filter(lambda k: k and k not in allowed), label="key")
    node[key] = value
    expect_config_error(
        write_config(tmp_path_factory, raw, stem),
        (*((label,) if label else ()), f"{prefix}{key}: Extra inputs are not permitted"),
    )


# ---------------------------------------------------------------------------------------------
# Documents that are not a config mapping at all


@FAST
@given(
    document=NON_MAPPING.map(lambda value: yaml.safe_dump(value))
    | st.sampled_from(["", "\n", "# only a comment\n", "---\n", "--- []\n", "null\n", "~\n"])
)
def test_a_document_that_is_not_a_mapping_is_named(tmp_path_factory, document):
    path = write_config(tmp_path_factory, document, "lead_crm")
    expect_config_error(path, (f"{path}: expected a mapping at the top level",))


YAMLISH_TEXT = st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"%@`#?\n\t aZ1.")), max_size=40)


@FAST
@given(document=YAMLISH_TEXT | st.text(max_size=40))
def test_arbitrary_text_fails_with_a_config_error(tmp_path_factory, document):
    path = write_config(tmp_path_factory, document, "lead_crm")
    if any(marker in document for marker in TRACEBACK_MARKERS):
        return
    expect_config_error(path)


@FAST
@given(document=st.binary(max_size=40))
def test_arbitrary_bytes_fail_with_a_config_error(tmp_path_factory, document):
    path = write_config(tmp_path_factory, document, "lead_crm")
    expect_config_error(path)


LEAD_TEXT = (CONFIGS_DIR / "lead_crm.yaml").read_text()


@FAST
@given(
    document=st.one_of(
        # Deep nesting: the YAML parser recurses once per level.
        st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
        st.integers(1, 3000).map(lambda depth: "a: " + "[" * depth + "]" * depth + "\n"),
        # Integers longer than Python's int-to-str limit (4300 digits).
        st.integers(1, 6000).map(lambda digits: "freshness_hours: " + "9" * digits + "\n"),
        # (a float cannot hold 400 digits, so pydantic rejects the shorter ones)
        st.integers(400, 6000).map(lambda digits: LEAD_TEXT + "freshness_hours: " + "7" * digits),
        # YAML sets, pairs and other tags that safe_load builds.
        st.sampled_from(
            ["!!set {a, b}", "!!pairs [[a, 1]]", "!!omap [{a: 1}]", "!!binary aGk="]
        ).map(
            lambda node: LEAD_TEXT.split("resources:")[0] + f"resources: {node}\n"
        ),
    )
)
def test_structurally_odd_yaml_fails_with_a_config_error(tmp_path_factory, document):
    expect_config_error(write_config(tmp_path_factory, document, "lead_crm"))


# ---------------------------------------------------------------------------------------------
# Schedule


TIMEZONE_DIRECTORIES = ["America", "Europe", "Etc", "Asia", "US", "posix", "right", "zoneinfo"]


@FAST
@given(
    timezone=st.sampled_from(TIMEZONE_DIRECTORIES)
    | st.integers(200, 400).map(lambda n: "a" * n)
    | st.text(alphabet=string.ascii_letters + "/_-.+", max_size=20)
)
def test_an_unknown_timezone_is_named(tmp_path_factory, timezone):
    raw = copy.deepcopy(SMALL["lead_crm"])
    raw["schedule"]["timezone"] = timezone
    path = write_config(tmp_path_factory, raw, "lead_crm")
    try:
        load_and_build(path)  # a real zone ("UTC", "GB", "Etc/GMT") loads
    except ConfigError as error:
        check_config_error(error, path, ("key schedule.timezone",))


CRON_FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


@FAST
@given(
    data=st.data(),
    position=st.integers(0, 4),
    # No month or weekday name (jan, mon, ...) can be spelt from these letters.
    junk=st.text(alphabet="qvz!", min_size=1, max_size=4),
)
def test_a_five_field_cron_with_a_bad_field_is_named(tmp_path_factory, data, position, junk):
    # Dagster rejects these schedules when the code location loads; the config should instead.
    low, high = CRON_FIELD_RANGES[position]
    candidates = [str(high + 1), str(high + 40), junk] + ([str(low - 1)] if low > 0 else [])
    bad = data.draw(st.sampled_from(candidates), label="bad field")
    fields = ["0", "1", "*", "*", "*"]
    fields[position] = bad
    raw = copy.deepcopy(SMALL["lead_crm"])
    raw["schedule"]["cron"] = " ".join(fields)
    expect_config_error(write_config(tmp_path_factory, raw, "lead_crm"), ("key schedule.cron",))


# ---------------------------------------------------------------------------------------------
# Positive: the shipped configs round-trip


@settings(FUZZ, max_examples=15)
@given(
    stem=st.sampled_from(sorted(RAW)),
    flow_style=st.sampled_from([None, True, False]),
    sort_keys=st.booleans(),
    indent=st.integers(2, 8),
    width=st.sampled_from([20, 80, 10_000]),
)
def test_the_shipped_configs_round_trip(
    tmp_path_factory, stem, flow_style, sort_keys, indent, width
):
    original = load_source_config(CONFIGS_DIR / f"{stem}.yaml")
    dumped = yaml.safe_dump(
        RAW[stem], default_flow_style=flow_style, sort_keys=sort_keys, indent=indent, width=width
    )
    path = write_config(tmp_path_factory, dumped, stem)
    assert load_and_build(path) == original
