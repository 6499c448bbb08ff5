"""What happens when an API's rows stop fitting the tables: dlt's schema contracts, per resource.

`schema_contract` is one of dlt's modes (evolve, freeze, discard_row, discard_value) for all of
`tables` (new nested tables), `columns` (new columns) and `data_type` (a value of another type
than its column's), or a mapping naming some of them. The source's default (in
`resource_defaults`) is overridden entity by entity by the resource's own; unnamed entities
evolve. A resource's first load creates its tables whatever the mode: the contract guards the
tables once they exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

ContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]
MODES = ("evolve", "freeze", "discard_row", "discard_value")
ENTITIES = ("tables", "columns", "data_type")
EVOLVE: dict[str, str] = dict.fromkeys(ENTITIES, "evolve")


class ContractByEntity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: ContractMode | None = None
    columns: ContractMode | None = None
    data_type: ContractMode | None = None


def _one_mode_for_all(value: Any) -> Any:
    if isinstance(value, str):
        if value not in MODES:
            raise ValueError(f"{value!r} is not a schema contract mode ({', '.join(MODES)})")
        return dict.fromkeys(ENTITIES, value)
    return value


# A single mode is that mode for tables, columns and data_type.
SchemaContractSpec = Annotated[ContractByEntity, BeforeValidator(_one_mode_for_all)]


def effective_contract(*specs: ContractByEntity | None) -> dict[str, str]:
    """dlt's full contract dict: later specs override earlier ones entity by entity."""
    contract = dict(EVOLVE)
    for spec in specs:
        if spec is not None:
            contract.update(spec.model_dump(exclude_none=True))
    return contract
