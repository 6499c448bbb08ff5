"""dlt's own type inference and coercion, so what we count or report follows what its
normalizer does. dlt exposes neither publicly (its normalizer's coercion is internal), so
`dlt.common.data_types` is imported here and nowhere else."""

from __future__ import annotations

from typing import Any

from dlt.common.data_types import coerce_value, py_type_to_sc_type


def dlt_type_of(value: Any) -> str:
    """The dlt data type dlt infers for a Python value (`bigint`, `text`, ...)."""
    return str(py_type_to_sc_type(type(value)))


def coerces_to(data_type: str, value: Any) -> bool:
    """Whether dlt's normalizer would store the value in a column of `data_type`."""
    try:
        coerce_value(data_type, dlt_type_of(value), value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True
