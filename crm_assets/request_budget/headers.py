"""What an API's answer says about its rate limits: pauses asked for and windows stated."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime

# A reset header this large is a Unix time (some APIs send the epoch second it resets at).
EPOCH_SECONDS = 1_000_000_000


def seconds_from_now(value: str | None, now_epoch: float) -> float | None:
    """A `Retry-After` / reset header as seconds from now: delta seconds, a Unix time or an
    HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
        return max(seconds - now_epoch if seconds >= EPOCH_SECONDS else seconds, 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now_epoch, 0.0)
    except (TypeError, ValueError):
        return None


def pause_asked(headers: Mapping[str, str], now_epoch: float) -> float | None:
    """How long a 429 asks the client to wait: its `Retry-After`, else its window's reset."""
    pause = seconds_from_now(headers.get("Retry-After"), now_epoch)
    if pause is None:
        pause = seconds_from_now(headers.get("X-RateLimit-Reset"), now_epoch)
    return pause


def remaining_in_window(headers: Mapping[str, str]) -> int | None:
    """`X-RateLimit-Remaining`: requests the API says are left of its window."""
    try:
        return int(headers.get("X-RateLimit-Remaining"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
