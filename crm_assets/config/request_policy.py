"""How a source's requests are retried, and the budget they share."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, PositiveFloat, PositiveInt, StrictInt

from crm_assets.config.base import StrictModel

MaxConcurrency = Annotated[StrictInt, Field(ge=1, le=64)]


class RetryPolicy(StrictModel):
    """Retries of 429, 5xx and dropped connections, with exponential backoff."""

    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_factor: PositiveFloat = 2
    max_delay_seconds: PositiveFloat = 60
    timeout_seconds: PositiveFloat = 60


class RateLimitSpec(StrictModel):
    """The API's request budget per account: at most `requests` per `per_seconds`."""

    requests: PositiveInt
    per_seconds: PositiveFloat

    @classmethod
    def parse(cls, text: str) -> RateLimitSpec:
        """`4/1`, `4000/3600` (requests/seconds), or with a unit: `4/s`, `100/m`, `4000/h`."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?|s|m|h)\s*", text)
        seconds = match and ({"s": 1.0, "m": 60.0, "h": 3600.0}.get(match.group(2)) or float(match.group(2)))
        if not match or not seconds or int(match.group(1)) <= 0:
            raise ValueError(f"{text!r} is not REQUESTS/SECONDS (e.g. 4/1, 100/m, 4000/h)")
        return cls(requests=int(match.group(1)), per_seconds=seconds)

    def __str__(self) -> str:
        return f"{self.requests}/{self.per_seconds:g}s"
