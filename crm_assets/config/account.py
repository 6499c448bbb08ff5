"""One account of an API (a regional workspace, a subsidiary's or a client's account): the
same resources as its source, with its own credentials, and where they differ, its own base URL
and request budget. Each account loads on its own: its assets, dlt pipeline and state, budget
and secret check; its rows land in the source's tables with their account in a column."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from crm_assets.config.base import ENV_VAR_NAME, IDENTIFIER, StrictModel
from crm_assets.config.request_policy import MaxConcurrency, RateLimitSpec

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


def account_env_var(source_prefix: str, account: str, source_env_var: str) -> str:
    """The account's name for one of the source's env vars."""
    account_prefix = f"{source_prefix}_{account.upper()}"
    if source_env_var.startswith(f"{source_prefix}_"):
        return account_prefix + source_env_var.removeprefix(source_prefix)
    return f"{account_prefix}_{source_env_var}"
