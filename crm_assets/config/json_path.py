"""JSONPath values of a config (data selectors, cursors, totals), parsed as dlt parses them."""

from __future__ import annotations

from typing import Annotated

from jsonpath_ng import JSONPath
from jsonpath_ng.ext.parser import ExtendedJsonPathParser
from pydantic import AfterValidator

# The JSONPath dialect dlt uses (jsonpath_ng.ext). Its `parse()` builds a new LALR parser per
# call (~1.5 ms); one parser serves every path of every config.
_JSON_PATH_PARSER = ExtendedJsonPathParser()


def parse_json_path(path: str) -> JSONPath:
    return _JSON_PATH_PARSER.parse(path)


def _valid_json_path(path: str | None) -> str | None:
    if path is not None:
        try:
            parse_json_path(path)
        except Exception:
            raise ValueError(f"{path!r} is not a valid JSONPath") from None
    return path


JsonPath = Annotated[str, AfterValidator(_valid_json_path)]
