"""An error and what it wraps, outermost first: Python's `__cause__` (else `__context__`), and
for Dagster's serialized errors (`SerializableErrorInfo`) their `cause` (else `context`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def error_chain(error: Any) -> Iterator[Any]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        if isinstance(error, BaseException):
            error = error.__cause__ or error.__context__
        else:
            error = getattr(error, "cause", None) or getattr(error, "context", None)
