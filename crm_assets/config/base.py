"""The strict base of every config model, and the name patterns the models share."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
ENV_VAR_NAME = r"^[A-Z][A-Z0-9_]*$"
OWNER = r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+)$"

# A query parameter's name, as written in a config.
ParamName = Annotated[str, Field(min_length=1, pattern=r"^[^{}\s]+$")]


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo fails the file instead of being ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validate_base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base URL {url!r} must be absolute, starting with http:// or https://")
    return url
