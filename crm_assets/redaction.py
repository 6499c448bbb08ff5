"""Keeps secrets out of errors and logs: query strings stripped, known secret values masked."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import dagster as dg
import requests

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


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def load_failure(
    source: str, error: BaseException, secrets: list[str], last_response: str | None = None
) -> dg.Failure:
    """`source/resource: GET /path answered HTTP 401 ... (HTTPError)`: what failed and where,
    with the URL's path only and no secret; the cause's class and status go in metadata.
    `last_response` names the request behind an error that carries none (a non-JSON body)."""
    chain = list(_chain(error))
    resource = next(
        (
            getattr(e, "resource_name", None) or getattr(e, "pipe_name", None)
            for e in chain
            if getattr(e, "resource_name", None) or getattr(e, "pipe_name", None)
        ),
        None,
    )
    where = f"{source}/{resource}" if resource else source
    http_error = next(
        (e for e in chain if isinstance(e, requests.HTTPError) and e.response is not None), None
    )
    cause = http_error or chain[-1]
    metadata: dict[str, str | int] = {"error_class": type(cause).__name__, "source": source}
    if resource:
        metadata["resource"] = resource
    if http_error is not None:
        response = http_error.response
        metadata |= {"http_status": response.status_code, "path": urlparse(response.url).path}
        description = (
            f"{where}: {response.request.method} {metadata['path']} answered HTTP "
            f"{response.status_code} {response.reason} ({type(http_error).__name__}), "
            "after the configured retries"
        )
    else:
        context = f"; last response: {last_response}" if last_response else ""
        description = f"{where}: {type(cause).__name__}: {redact(str(cause), secrets)}{context}"
    return dg.Failure(description=description[:2000], metadata=metadata)


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
