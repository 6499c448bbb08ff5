"""Services the tests need from the machine (Postgres, RabbitMQ, Redis): where one is missing,
CI fails (its `CRM_REQUIRE_*` variable is set), anywhere else the tests skip, loudly."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, message: str, require_env: str) -> NoReturn:
    if os.environ.get(require_env):
        pytest.fail(message)
    print(f"\n\n!!! SKIPPING {what} TESTS: {message} !!!\n")
    pytest.skip(message)
