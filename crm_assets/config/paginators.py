"""The four ways the APIs split a list into pages, as dlt's paginators of the same names.

A field left out keeps the default below, never dlt's own (dlt's offset paginator would look
for a `total` in each answer): the source builder hands dlt every field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt

from crm_assets.config.base import ParamName, StrictModel
from crm_assets.config.json_path import JsonPath

PageSize = Annotated[StrictInt, Field(gt=0)]


class HeaderLinkPaginator(StrictModel):
    type: Literal["header_link"]
    links_next_key: ParamName = "next"


class PageNumberPaginator(StrictModel):
    type: Literal["page_number"]
    page_param: ParamName = "page"
    base_page: Annotated[StrictInt, Field(ge=0)] = 1
    total_path: JsonPath | None = None
    maximum_page: PageSize | None = None
    stop_after_empty_page: bool = True


class OffsetPaginator(StrictModel):
    type: Literal["offset"]
    limit: PageSize
    offset_param: ParamName = "offset"
    limit_param: ParamName = "limit"
    total_path: JsonPath | None = None
    maximum_offset: PageSize | None = None
    stop_after_empty_page: bool = True


class SinglePagePaginator(StrictModel):
    type: Literal["single_page"]


AnyPaginator = HeaderLinkPaginator | PageNumberPaginator | OffsetPaginator | SinglePagePaginator
Paginator = Annotated[AnyPaginator, Field(discriminator="type")]
