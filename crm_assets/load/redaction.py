"""Keeps secrets out of errors and logs: query strings stripped, known secret values masked."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

MASK = "***"
# `?a=1&api_token=...` after a URL or path: the query goes, the path stays.
QUERY_STRING = re.compile(r"\?[^\s'\"<>]*=[^\s'\"<>]*")


def secret_forms(secrets: Iterable[str | None]) -> list[str]:
    """The secret values and the encodings they travel in (HTTP basic's base64 pair)."""
    values = [value for value in secrets if value]
    forms = list(values)
    if len(values) == 2:
        pair = f"{values[0]}:{values[1]}".encode()
        forms.append(base64.b64encode(pair).decode())
    return sorted(forms, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    text = QUERY_STRING.sub("", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self.secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


@contextmanager
def redacted_logs(secrets: list[str], logger_names: Iterable[str] = ("dlt", "")) -> Iterator[None]:
    """Mask secrets in what dlt and the root logger's handlers print, while the block runs
    (dlt's DEBUG level logs request details)."""
    log_filter = _RedactingFilter(secrets)
    handlers = {
        handler for name in logger_names for handler in logging.getLogger(name or None).handlers
    }
    for handler in handlers:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(log_filter)
