"""What counts as data: a 2xx answer whose body has the shape its resource declares.

dlt reads a data selector that finds nothing as an empty page, and an empty page as the end of
the list; an error envelope (`{"error": {...}}` with HTTP 200, as some APIs and gateways send)
would end a read in silence, and what the read missed would look deleted. So an answer is data
only when the selector's path is there and holds a list (an empty one is data), and every row
under a wildcard has the rest of the path. An answer that is not data is a failed request: the
session retries it like a 5xx and, once the retries are spent, raises `NotDataAnswer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import orjson
import requests

from crm_assets.config import SourceConfig, parse_json_path
from crm_assets.config.placeholders import path_pattern

SIMPLE_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.([A-Za-z0-9_\-]+|\*))*$")
BODY_SHOWN = 200


class NotDataAnswer(requests.RequestException):
    """A 2xx answer that is not data. Its text names the request's path and why; the body's
    start and the full URL stay attributes, for a message that masks the secrets in them."""

    def __init__(self, resource: str | None, response: requests.Response, reason: str) -> None:
        self.resource = resource
        self.reason = reason
        self.url = response.url
        self.body_start = response.content[:BODY_SHOWN].decode("utf-8", "replace")
        super().__init__(
            f"GET {urlparse(response.url).path} answered HTTP {response.status_code} that is "
            f"not data: {reason}",
            response=response,
        )


@dataclass(frozen=True)
class DeclaredShape:
    """One resource's answers: where its rows sit and how its list says that more follow."""

    resource: str
    pattern: re.Pattern[str]
    # The keys down to the list of rows, then the keys inside each row down to the record;
    # None where there is no selector (dlt finds the list) or it is not a plain dotted path
    # (then dlt's own match must find something).
    to_list: tuple[str, ...] | None
    in_row: tuple[str, ...]
    selector: Any
    one_record_allowed: bool
    links_next_key: str | None

    def not_data(self, document: Any, response: requests.Response) -> str | None:
        """Why the parsed answer is not this resource's data, or None where it is."""
        if self.to_list is None:
            if self.selector is not None and not self.selector.find(document):
                return "the data selector finds nothing"
            return None
        found = document
        for depth, key in enumerate(self.to_list):
            if not isinstance(found, dict) or key not in found:
                where = ".".join(self.to_list[: depth + 1])
                return f"`{where}` is missing"
            found = found[key]
        if isinstance(found, dict) and self.one_record_allowed and not self.in_row:
            return None
        if not isinstance(found, list):
            return f"`{'.'.join(self.to_list) or '$'}` holds {type(found).__name__}, not a list"
        for row in found:
            for key in self.in_row:
                if not isinstance(row, dict) or key not in row:
                    return f"a row of `{'.'.join(self.to_list)}` lacks `{'.'.join(self.in_row)}`"
                row = row[key]
        if not found and self.links_next_key and response.links.get(self.links_next_key):
            return "an empty page that links a next one"
        return None


def _declared_shape(config: SourceConfig, base_path: str, resource: Any) -> DeclaredShape:
    selector = resource.endpoint.data_selector
    paginator = config.paginator(resource)
    to_list: tuple[str, ...] | None = None
    in_row: tuple[str, ...] = ()
    dotted = (selector or "").removeprefix("$").removeprefix(".").replace("[*]", ".*")
    if SIMPLE_PATH.match(dotted):
        steps = tuple(dotted.split("."))
        star = steps.index("*") if "*" in steps else len(steps)
        to_list, in_row = steps[:star], tuple(s for s in steps[star + 1 :] if s != "*")
    return DeclaredShape(
        resource=resource.name,
        pattern=path_pattern(base_path, resource.endpoint.path),
        to_list=to_list,
        in_row=in_row,
        selector=parse_json_path(selector) if selector else None,
        one_record_allowed=paginator is None or paginator.type == "single_page",
        links_next_key=getattr(paginator, "links_next_key", None),
    )


class AnswerShapes:
    """Judges each 2xx answer of one source against the shape its resource declares."""

    def __init__(self, config: SourceConfig, base_url: str) -> None:
        base_path = urlparse(base_url).path
        self._shapes = [_declared_shape(config, base_path, r) for r in config.resources]

    def resource_at(self, url: str) -> DeclaredShape | None:
        path = urlparse(url).path
        return next((shape for shape in self._shapes if shape.pattern.search(path)), None)

    def check(self, response: requests.Response) -> NotDataAnswer | None:
        """The answer's failure where it is not data. The body is parsed here, once: dlt's
        `response.json()` gets this document instead of parsing the body again."""
        shape = self.resource_at(response.url)
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses and the json module reads: integers past 64 bits
                document = _stdlib_json(response)
            except ValueError:
                return NotDataAnswer(shape and shape.resource, response, "the body is not JSON")
        response.json = _parsed(document)  # type: ignore[method-assign]
        reason = shape.not_data(document, response) if shape else None
        return NotDataAnswer(shape.resource, response, reason) if reason else None


def _stdlib_json(response: requests.Response) -> Any:
    return requests.Response.json(response)


def _parsed(document: Any) -> Callable[..., Any]:
    return lambda **_: document
