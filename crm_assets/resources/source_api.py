"""One API's base URL, secrets and request budget, each from the environment."""

from __future__ import annotations

from typing import Any

import dagster as dg
from dlt.sources import DltSource
from pydantic import TypeAdapter

from crm_assets.config import MaxConcurrency, RateLimitSpec, SourceConfig, validate_base_url
from crm_assets.request_budget import RequestBudget
from crm_assets.source_builder import build_source


class SourceApiResource(dg.ConfigurableResource):
    """One API's base URL and secrets, each field set from an env var (`<SOURCE>_<SECRET>`),
    and the account's request budget where `<SOURCE>_RATE_LIMIT` / `_MAX_CONCURRENCY` override
    the config's."""

    source: str
    base_url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    rate_limit: str | None = None
    max_concurrency: str | None = None

    @classmethod
    def from_env(cls, config: SourceConfig) -> SourceApiResource:
        # Only the base URL has a default (the config's); secrets have none, so a missing one
        # fails the run at start, naming its env var, before any request.
        overrides = {
            field: dg.EnvVar(env_var)
            for field, env_var in {
                "base_url": config.base_url_env,
                "rate_limit": config.rate_limit_env,
                "max_concurrency": config.max_concurrency_env,
            }.items()
            if dg.EnvVar(env_var).get_value()
        }
        return cls(
            source=config.name,
            **{"base_url": config.base_url, **overrides},
            **{field: dg.EnvVar(env_var) for field, env_var in config.auth.env.items()},
        )

    def request_budget(self, config: SourceConfig) -> RequestBudget:
        """The run's budget: the config's rate limit and concurrency unless the env overrides."""
        rate_limit, max_concurrency = config.rate_limit, config.max_concurrency
        try:
            if self.rate_limit:
                rate_limit = None if self.rate_limit == "none" else RateLimitSpec.parse(self.rate_limit)
        except ValueError as error:
            raise dg.Failure(f"{config.rate_limit_env}: {error} (or 'none')") from None
        if self.max_concurrency:
            try:
                max_concurrency = TypeAdapter(MaxConcurrency).validate_python(int(self.max_concurrency))
            except ValueError:
                raise dg.Failure(
                    f"{config.max_concurrency_env}: {self.max_concurrency!r} is not an integer "
                    "from 1 to 64"
                ) from None
        return RequestBudget(config.name, rate_limit, max_concurrency)

    def validated_base_url(self, config: SourceConfig) -> str:
        try:
            return validate_base_url(self.base_url)
        except ValueError as error:
            raise dg.Failure(f"{config.base_url_env}: {error}") from None

    def secret_values(self, config: SourceConfig) -> list[str]:
        return [getattr(self, field) for field in config.auth.env]

    def build_source(
        self, config: SourceConfig, session: Any = None, pii_hash_key: str | None = None
    ) -> DltSource:
        secrets = {field: getattr(self, field) for field in config.auth.env}
        return build_source(config, self.validated_base_url(config), secrets, session, pii_hash_key)
