"""How an API authenticates: the auth type and the env var holding each secret."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from crm_assets.config.base import ENV_VAR_NAME, StrictModel

SECRET_FIELDS_BY_AUTH = {
    "bearer": {"token"},
    "http_basic": {"username", "password"},
    "api_key": {"api_key"},
}


class AuthSpec(StrictModel):
    """`env` maps each secret field to the env var holding it; the values never enter a config."""

    type: Literal["bearer", "http_basic", "api_key"]
    name: str | None = None
    location: Literal["header", "query"] | None = None
    env: dict[str, Annotated[str, Field(pattern=ENV_VAR_NAME)]]

    @model_validator(mode="after")
    def _secrets_match_type(self) -> AuthSpec:
        expected = SECRET_FIELDS_BY_AUTH[self.type]
        if set(self.env) != expected:
            raise ValueError(
                f"auth type {self.type!r} needs env vars for exactly {sorted(expected)}, "
                f"got {sorted(self.env)}"
            )
        if self.type == "api_key" and not (self.name and self.location):
            raise ValueError("auth type 'api_key' needs 'name' and 'location'")
        if self.type != "api_key" and (self.name or self.location):
            raise ValueError("'name' and 'location' apply to auth type 'api_key' only")
        return self
