"""The key the PII policies hash with."""

from __future__ import annotations

import dagster as dg

from crm_assets.config import SourceConfig
from crm_assets.resources.env import env_var_if_set
from crm_assets.table_rules.pii import HASH_KEY_ENV, MIN_HASH_KEY_LENGTH


class PiiHashKeyResource(dg.ConfigurableResource):
    """The key of the PII policies' HMAC-SHA256, from CRM_PII_HASH_KEY. One key for every
    source, so hashed values join across sources. Every source's assets take this resource;
    only a source whose config hashes a column reads the key, so only its step fails, before
    any request, when the variable is unset or short."""

    hash_key: str | None = None

    @classmethod
    def from_env(cls) -> PiiHashKeyResource:
        return cls(hash_key=env_var_if_set(HASH_KEY_ENV))

    def validated_key(self, config: SourceConfig) -> str:
        if not self.hash_key:
            raise dg.Failure(
                f"{config.name}: {HASH_KEY_ENV} is not set; its PII policy hashes personal data "
                "with it (e.g. `openssl rand -hex 32`); nothing was sent to its API"
            )
        if len(self.hash_key) < MIN_HASH_KEY_LENGTH:
            raise dg.Failure(
                f"{config.name}: {HASH_KEY_ENV} is shorter than {MIN_HASH_KEY_LENGTH} characters: "
                "hashed values could be brute-forced (e.g. `openssl rand -hex 32`)"
            )
        return self.hash_key
