"""Every API's base URL, secrets and request budget, each from the environment: one Dagster
resource holding one entry per source."""

from __future__ import annotations

import dagster as dg
from pydantic import TypeAdapter

from crm_assets.config import (
    MaxConcurrency,
    RateLimitSpec,
    SourceConfig,
    validate_base_url,
)
from crm_assets.request_budget import RequestBudget
from crm_assets.resources.env import env_var_if_set


class SourceApi(dg.Config):
    """One API's base URL and secrets, each field set from an env var (`<SOURCE>_<SECRET>`),
    and the account's request budget where `<SOURCE>_RATE_LIMIT` / `_MAX_CONCURRENCY` override
    the config's."""

    base_url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    rate_limit: str | None = None
    max_concurrency: str | None = None

    @classmethod
    def from_env(cls, config: SourceConfig) -> SourceApi:
        # Only the base URL has a default (the config's); a secret has none.
        settings = {
            field: env_var_if_set(env_var)
            for field, env_var in {
                "base_url": config.base_url_env,
                "rate_limit": config.rate_limit_env,
                "max_concurrency": config.max_concurrency_env,
                **config.auth.env,
            }.items()
        }
        settings["base_url"] = settings["base_url"] or config.base_url
        return cls(**settings)

    def missing_secrets(self, config: SourceConfig) -> list[str]:
        """The env vars of the source's secrets that were unset when the code location loaded."""
        return [env for field, env in config.auth.env.items() if not getattr(self, field)]

    def secrets(self, config: SourceConfig) -> dict[str, str]:
        """The source's secret values by auth field; a failure naming the unset env vars."""
        missing = self.missing_secrets(config)
        if missing:
            raise dg.Failure(
                f"{config.label}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "not set; nothing was sent to its API"
            )
        return {field: getattr(self, field) for field in config.auth.env}

    def request_budget(self, config: SourceConfig) -> RequestBudget:
        """The run's budget: the config's rate limit and concurrency unless the env overrides."""
        rate_limit, max_concurrency = config.rate_limit, config.max_concurrency
        try:
            if self.rate_limit:
                rate_limit = None if self.rate_limit == "none" else RateLimitSpec.parse(self.rate_limit)
        except ValueError as error:
            raise dg.Failure(f"{config.label}: {config.rate_limit_env}: {error} (or 'none')") from None
        if self.max_concurrency:
            try:
                max_concurrency = TypeAdapter(MaxConcurrency).validate_python(int(self.max_concurrency))
            except ValueError:
                raise dg.Failure(
                    f"{config.label}: {config.max_concurrency_env}: {self.max_concurrency!r} is not "
                    "an integer from 1 to 64"
                ) from None
        return RequestBudget(config.label, rate_limit, max_concurrency)

    def validated_base_url(self, config: SourceConfig) -> str:
        try:
            return validate_base_url(self.base_url)
        except ValueError as error:
            raise dg.Failure(f"{config.label}: {config.base_url_env}: {error}") from None


class SourceApisResource(dg.ConfigurableResource):
    """Every source's (every account's) `SourceApi`, by dlt pipeline name: one resource every
    source's assets take, whose runs need only their own account's variables."""

    apis: dict[str, SourceApi]

    @classmethod
    def from_env(cls, configs: list[SourceConfig]) -> SourceApisResource:
        return cls(apis={
            load.load_name: SourceApi.from_env(load)
            for config in configs
            for load in config.account_loads()
        })

    def api(self, config: SourceConfig) -> SourceApi:
        return self.apis[config.load_name]
