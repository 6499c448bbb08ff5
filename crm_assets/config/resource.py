"""One resource of a source (one dlt resource, one asset, one table), and the defaults its
source gives every resource."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from crm_assets.config.base import IDENTIFIER, StrictModel
from crm_assets.config.endpoint import Endpoint, EndpointDefaults
from crm_assets.config.placeholders import ForEach, check_path_placeholders, parent_of
from crm_assets.table_rules.pii import PiiPolicy
from crm_assets.table_rules.schema_contract import SchemaContractSpec

WriteDisposition = Literal["merge", "append", "replace"]
Share = Annotated[float, Field(gt=0, le=1)]

# A complete read that would mark deleted (or retire from a history) more than this share of a
# table's current rows marks none until confirmed (docs/deletions.md). A CRM loses a fraction of
# a percent of a table on a night; a quarter gone at once is likelier a read that came up short.
DEFAULT_MAX_DELETED_SHARE = 0.25
# The row_volume check warns when a complete read returns fewer rows than the previous complete
# read by more than this share.
DEFAULT_MAX_ROW_DROP = 0.3


class ResourceDefaults(StrictModel):
    primary_key: str | list[str] | None = None
    write_disposition: WriteDisposition | None = None
    # Mark rows a complete, successful load no longer returned (`table_rules/absent_rows.py`); from the
    # defaults it applies to the resources read completely, the others cannot see deletions.
    mark_deleted: StrictBool | None = None
    max_deleted_share: Share = DEFAULT_MAX_DELETED_SHARE
    max_row_drop: Share = DEFAULT_MAX_ROW_DROP
    endpoint: EndpointDefaults = EndpointDefaults()
    # Source-wide defaults; a resource's own `pii` overrides them path by path, its own
    # `schema_contract` entity by entity (crm_assets/table_rules/pii.py, schema_contract.py).
    pii: PiiPolicy = {}
    schema_contract: SchemaContractSpec | None = None


class ResourceSpec(StrictModel):
    name: Annotated[str, Field(pattern=IDENTIFIER)]
    description: str | None = None
    endpoint: Endpoint
    primary_key: str | list[str] | None = None
    write_disposition: WriteDisposition | None = None
    include_from_parent: list[str] | None = None
    for_each: ForEach | None = None
    can_be_empty: bool = False
    # Keep every version of a row (dlt's scd2 merge): `table_rules/history.py`.
    history: StrictBool = False
    mark_deleted: StrictBool | None = None
    max_deleted_share: Share | None = None
    max_row_drop: Share | None = None
    pii: PiiPolicy | None = None
    schema_contract: SchemaContractSpec | None = None

    @field_validator("for_each")
    @classmethod
    def _empty_for_each_is_none(cls, for_each: ForEach | None) -> ForEach | None:
        return for_each if for_each and for_each.root else None

    @model_validator(mode="after")
    def _consistent(self) -> ResourceSpec:
        check_path_placeholders(self.endpoint.path, self.for_each.root if self.for_each else {})
        if self.include_from_parent and not self.parent:
            raise ValueError("include_from_parent needs a path with {resources.<parent>.<field>}")
        if self.history and self.write_disposition not in (None, "merge"):
            raise ValueError("history keeps versions by merging; drop write_disposition or use merge")
        if self.history and self.mark_deleted:
            raise ValueError(
                "history already retires the rows a complete load no longer returns; "
                "drop mark_deleted"
            )
        return self

    @property
    def for_each_resource_name(self) -> str | None:
        """The unselected dlt resource yielding the for_each values."""
        return f"{self.name}_{self.for_each.key}_values" if self.for_each else None

    @property
    def parent(self) -> str | None:
        return parent_of(self.endpoint.path)
