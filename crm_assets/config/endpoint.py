"""Where a resource's rows are read: path, query params, paginator, incremental cursor."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from crm_assets.config.base import ParamName, StrictModel
from crm_assets.config.json_path import JsonPath
from crm_assets.config.paginators import Paginator

Scalar = str | int | float | bool


class IncrementalSpec(StrictModel):
    """Ask the API only for rows changed since the last load; dlt keeps the cursor in its state
    (restored from the destination). `lag_seconds` re-reads a window before the cursor, for
    writes that land late. `end_param`, where the API has one, bounds a backfill window's
    request at its end too (without it, dlt drops the rows past the end)."""

    cursor_path: JsonPath
    start_param: ParamName
    end_param: ParamName | None = None
    initial_value: str
    lag_seconds: Annotated[float, Field(ge=0)] = 0


def _no_placeholders(params: dict[str, Scalar]) -> dict[str, Scalar]:
    for key, value in params.items():
        if any(brace in f"{key}{value}" for brace in "{}"):
            raise ValueError(f"param {key!r}: '{{' and '}}' are not allowed (dlt reads them as placeholders)")
    return params


class EndpointDefaults(StrictModel):
    """What `resource_defaults.endpoint` may set: dlt merges `params` key by key into each
    resource's, and uses `paginator` where a resource names none."""

    params: Annotated[dict[ParamName, Scalar], AfterValidator(_no_placeholders)] = {}
    paginator: Paginator | None = None


class Endpoint(EndpointDefaults):
    path: Annotated[str, Field(min_length=1)]
    data_selector: JsonPath | None = None
    incremental: IncrementalSpec | None = None
