"""Personal data: which fields of a resource's rows are hashed or dropped before dlt sees them.

A policy maps a path in the API's rows to an action: `email`, `owner.email` (a nested object)
or `emails[*].value` (each element of a list; `phones[*]` for a list of plain values).
`hash` replaces the value by its keyed HMAC-SHA256 (hex): equal values stay equal across tables
and sources, and without the key they can be neither reversed nor brute-forced. `drop` removes
the key, so the column never exists. `keep` exempts a resource from a source-wide default.
The policy runs as a dlt map step on each resource, inside extract: dlt writes nothing of the
row before it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, Field

PiiAction = Literal["hash", "drop", "keep"]
HASH_KEY_ENV = "CRM_PII_HASH_KEY"
# HMAC with a key shorter than its 32-byte output is as guessable as the key.
MIN_HASH_KEY_LENGTH = 32

_SEGMENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_PATH = re.compile(rf"{_SEGMENT}(\[\*\])?(\.{_SEGMENT}(\[\*\])?)*")


def parse_path(path: str) -> list[tuple[str, bool]]:
    """`emails[*].value` -> [("emails", True), ("value", False)]: (key, each list element)."""
    return [(part.removesuffix("[*]"), part.endswith("[*]")) for part in path.split(".")]


def _valid_policy(policy: dict[str, PiiAction]) -> dict[str, PiiAction]:
    for path, action in policy.items():
        if not _PATH.fullmatch(path):
            raise ValueError(
                f"pii path {path!r} is not `field`, `object.field` or `list[*].field`"
            )
        if action == "drop" and path.endswith("[*]"):
            raise ValueError(f"pii path {path!r}: drop the list itself ({path[:-3]!r})")
    return policy


PiiPolicy = Annotated[
    dict[Annotated[str, Field(min_length=1)], PiiAction], AfterValidator(_valid_policy)
]


def effective_policy(
    defaults: Mapping[str, PiiAction], own: Mapping[str, PiiAction] | None
) -> dict[str, Literal["hash", "drop"]]:
    """The source's defaults overridden path by path by the resource's own; `keep` removes."""
    merged = {**defaults, **(own or {})}
    kept = {path: action for path, action in merged.items() if action != "keep"}
    return kept  # type: ignore[return-value]


def hasher(key: str) -> Callable[[Any], str]:
    """HMAC-SHA256 keyed with `key`: text as UTF-8, anything else as canonical JSON."""
    keyed = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def digest(value: Any) -> str:
        mac = keyed.copy()
        if isinstance(value, str):
            mac.update(value.encode())
        else:
            mac.update(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        return mac.hexdigest()

    return digest


def _apply(
    node: Any, steps: list[tuple[str, bool]], drop: bool, digest: Callable[[Any], str]
) -> None:
    if not isinstance(node, dict) or steps[0][0] not in node:
        return
    (key, each), rest = steps[0], steps[1:]
    value = node[key]
    if not rest and not each:
        if drop:
            del node[key]
        elif value is not None:
            node[key] = digest(value)
    elif each and isinstance(value, list):
        if rest:
            for element in value:
                _apply(element, rest, drop, digest)
        else:
            node[key] = [None if element is None else digest(element) for element in value]
    elif not each:
        _apply(value, rest, drop, digest)


def row_policy(
    policy: Mapping[str, Literal["hash", "drop"]], digest: Callable[[Any], str] | None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The map step applying the policy to one row, in place."""
    steps = [(parse_path(path), action == "drop") for path, action in policy.items()]
    if digest is None and any(not drop for _, drop in steps):
        raise ValueError("a hash policy needs a key")

    def apply_policy(row: dict[str, Any]) -> dict[str, Any]:
        for path, drop in steps:
            _apply(row, path, drop, digest)  # type: ignore[arg-type]
        return row

    return apply_policy


def landing_place(naming: Any, table: str, path: str) -> tuple[str, str]:
    """(table, column) where dlt puts a path's values: objects flatten into `a__b`, lists go to
    a nested table `<table>__<list>` (plain values in its `value` column)."""
    columns: list[str] = []
    for key, each in parse_path(path):
        columns.append(naming.normalize_identifier(key))
        if each:
            table, columns = naming.shorten_fragments(table, *columns), []
    return table, naming.shorten_fragments(*columns) if columns else "value"


PII_LABEL = {"hash": "hashed", "drop": "dropped"}


def describe_policy(policy: Mapping[str, str]) -> str:
    """`email: hashed; phone: dropped`, as the asset page shows it."""
    return "; ".join(f"{path}: {PII_LABEL[action]}" for path, action in sorted(policy.items()))
