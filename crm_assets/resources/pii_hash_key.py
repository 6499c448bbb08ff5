"""The key the PII policies hash with."""

from __future__ import annotations

import dagster as dg

from crm_assets.pii import HASH_KEY_ENV, MIN_HASH_KEY_LENGTH


class PiiHashKeyResource(dg.ConfigurableResource):
    """The key of the PII policies' HMAC-SHA256, from CRM_PII_HASH_KEY. One key for every
    source, so hashed values join across sources; only sources whose config hashes a column
    require this resource, so only their runs fail, at start, when the variable is unset."""

    hash_key: str

    @classmethod
    def from_env(cls) -> PiiHashKeyResource:
        return cls(hash_key=dg.EnvVar(HASH_KEY_ENV))

    def validated_key(self) -> str:
        if len(self.hash_key) < MIN_HASH_KEY_LENGTH:
            raise dg.Failure(
                f"{HASH_KEY_ENV} is shorter than {MIN_HASH_KEY_LENGTH} characters: hashed values "
                "could be brute-forced (e.g. `openssl rand -hex 32`)"
            )
        return self.hash_key
