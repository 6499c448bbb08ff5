"""The credentials each emulated API accepts, and the check of a request's credentials."""

from __future__ import annotations

import base64
from typing import Any

from crm_assets.config import SourceConfig


def sandbox_secrets(config: SourceConfig, suffix: str = "") -> dict[str, str]:
    """The credentials the sandbox accepts for a source (an account), by env var name."""
    return {
        env_var: f"sbx-{field}-{config.load_name}{suffix}"
        for field, env_var in config.auth.env.items()
    }


class Unauthorized(Exception):
    pass


def check_auth(
    config: SourceConfig, headers: Any, query: dict[str, str], secrets: dict[str, str]
) -> None:
    expected = {field: secrets[env] for field, env in config.auth.env.items()}
    auth = config.auth
    if auth.type == "bearer":
        ok = headers.get("Authorization") == f"Bearer {expected['token']}"
    elif auth.type == "http_basic":
        pair = f"{expected['username']}:{expected['password']}".encode()
        ok = headers.get("Authorization") == "Basic " + base64.b64encode(pair).decode()
    else:
        presented = query.get(auth.name) if auth.location == "query" else headers.get(auth.name)
        ok = presented == expected["api_key"]
    if not ok:
        raise Unauthorized()
