"""Path placeholders: `{resources.<parent>.<field>}` makes a resource the child of another
(one request per parent row); `{key}` with `for_each: {key: [values]}` makes one request per
value."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Annotated

from pydantic import ConfigDict, Field, RootModel

from crm_assets.config.base import IDENTIFIER

PARENT_REFERENCE = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")
PATH_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def path_pattern(
    base_path: str, endpoint_path: str, segment: Callable[[str], str] = lambda _: "[^/]+"
) -> re.Pattern[str]:
    """A regex matching the URL paths an endpoint's requests take: each `{placeholder}` becomes
    `segment(placeholder)` (any one path segment by default)."""
    path = base_path.rstrip("/") + "/" + endpoint_path.lstrip("/")
    regex, position = "", 0
    for match in PATH_PLACEHOLDER.finditer(path):
        regex += re.escape(path[position : match.start()]) + segment(match.group(0))
        position = match.end()
    return re.compile(regex + re.escape(path[position:]) + "$")

ForEachKey = Annotated[str, Field(pattern=IDENTIFIER)]
ForEachValue = Annotated[str, Field(min_length=1, pattern=r"^[^/{}?#]+$")]


class ForEach(RootModel[dict[ForEachKey, Annotated[list[ForEachValue], Field(min_length=1)]]]):
    """`for_each: {key: [values]}` as written; `{key}` in the path takes each value in turn and
    `key` becomes a column. `check_path_placeholders` allows one key."""

    model_config = ConfigDict(frozen=True)

    @property
    def key(self) -> str:
        return next(iter(self.root))

    @property
    def values(self) -> list[str]:
        return self.root[self.key]


def check_path_placeholders(path: str, for_each_keys: Collection[str]) -> None:
    """Every placeholder of the path is bound, to one parent or one for_each key."""
    if len(for_each_keys) > 1:
        raise ValueError("for_each takes one path placeholder")
    if "{" in PATH_PLACEHOLDER.sub("", path) or "}" in PATH_PLACEHOLDER.sub("", path):
        raise ValueError(f"endpoint.path {path!r} has an unbalanced '{{' or '}}'")
    parents = {match.group(1) for match in PARENT_REFERENCE.finditer(path)}
    if len(parents) > 1 or (parents and for_each_keys):
        raise ValueError(
            f"endpoint.path {path!r} may name one parent resource or one for_each key, "
            "not several"
        )
    for placeholder in PATH_PLACEHOLDER.findall(path):
        if not (placeholder in for_each_keys or PARENT_REFERENCE.fullmatch("{" + placeholder + "}")):
            raise ValueError(
                f"path placeholder {{{placeholder}}} is neither resources.<parent>.<field> "
                "nor a for_each key"
            )
    for name in for_each_keys:
        if "{" + name + "}" not in path:
            raise ValueError(f"for_each key {name!r} does not appear in the path")


def parent_of(path: str) -> str | None:
    match = PARENT_REFERENCE.search(path)
    return match.group(1) if match else None
