"""One account of an API (a regional workspace, a subsidiary's or a client's account): the
same resources as its source, with its own credentials, and where they differ, its own base URL
and request budget. Each account loads on its own: its assets, dlt pipeline and state, budget
and secret check; its rows land in the source's tables with their account in a column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from crm_assets.config.auth import SECRET_FIELDS_BY_AUTH
from crm_assets.config.base import (
    ENV_VAR_NAME,
    IDENTIFIER,
    StrictModel,
    validate_base_url,
)
from crm_assets.config.request_policy import MaxConcurrency, RateLimitSpec

if TYPE_CHECKING:
    from crm_assets.config.source import SourceConfig

# The column holding each row's account, first in the primary key of an account's tables.
ACCOUNT_COLUMN = "_crm_account"


class AccountSpec(StrictModel):
    """What the YAML says of an account; every unset field is the source's."""

    name: Annotated[str, Field(pattern=IDENTIFIER, max_length=40)]
    base_url: str | None = None
    # The env var of each secret field; by default the source's with the account inserted
    # after the source's prefix: PARTY_CRM_BEARER_TOKEN -> PARTY_CRM_EU_BEARER_TOKEN.
    env: dict[str, Annotated[str, Field(pattern=ENV_VAR_NAME)]] | None = None
    rate_limit: RateLimitSpec | None = None
    max_concurrency: MaxConcurrency | None = None

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, url: str | None) -> str | None:
        return url and validate_base_url(url)


def account_view(config: SourceConfig, account: AccountSpec) -> SourceConfig:
    """The source as one account loads it: the account's base URL, secrets' env vars and
    budget where it sets them."""
    env = account.env or {
        field: account_env_var(config.env_prefix, account.name, env_var)
        for field, env_var in config.auth.env.items()
    }
    return config.model_copy(update={
        "account": account,
        "accounts": [],
        "base_url": account.base_url or config.base_url,
        "auth": config.auth.model_copy(update={"env": env}),
        "rate_limit": account.rate_limit or config.rate_limit,
        "max_concurrency": account.max_concurrency or config.max_concurrency,
    })


def account_env_var(source_prefix: str, account: str, source_env_var: str) -> str:
    """The account's name for one of the source's env vars."""
    account_prefix = f"{source_prefix}_{account.upper()}"
    if source_env_var.startswith(f"{source_prefix}_"):
        return account_prefix + source_env_var.removeprefix(source_prefix)
    return f"{account_prefix}_{source_env_var}"


def check_accounts(config: SourceConfig) -> None:
    """Accounts differ by name and by every secret's env var; each names the secrets of the
    source's auth type."""
    seen_names: set[str] = set()
    seen_env: dict[str, str] = {}
    expected = SECRET_FIELDS_BY_AUTH[config.auth.type]
    for account in config.accounts:
        where = f"accounts: {account.name!r}"
        if account.name in seen_names:
            raise ValueError(f"{where} is listed twice")
        if account.name == "windows":
            raise ValueError(f"{where}: the name is taken by the backfill windows' asset keys")
        seen_names.add(account.name)
        if account.env is not None and set(account.env) != expected:
            raise ValueError(
                f"{where}: env needs exactly {sorted(expected)} (auth type {config.auth.type!r}), "
                f"got {sorted(account.env)}"
            )
    for load in config.account_loads():
        for env_var in load.auth.env.values():
            if env_var in seen_env:
                raise ValueError(
                    f"accounts: {seen_env[env_var]!r} and {load.account_name!r} both read "
                    f"{env_var}; each account has its own credentials"
                )
            seen_env[env_var] = load.account_name
