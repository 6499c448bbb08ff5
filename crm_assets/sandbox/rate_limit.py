"""The API side of a per-account rate limit: a sliding window of the requests it answered."""

from __future__ import annotations

import math
from collections import deque

from crm_assets.config import RateLimitSpec


class SlidingWindow:
    """The API side of a rate limit: requests answered in the last `per_seconds`. With
    `rate_headers` off it states nothing but a refused request's `Retry-After`, as many burst
    limits do."""

    def __init__(self, limit: RateLimitSpec, rate_headers: bool = True) -> None:
        self.limit = limit
        self.rate_headers = rate_headers
        self._answered: deque[float] = deque()

    def admit(self, now: float) -> tuple[bool, dict[str, str]]:
        """Whether a request arriving now is answered, and the rate-limit headers to send."""
        window = self.limit.per_seconds
        while self._answered and self._answered[0] <= now - window:
            self._answered.popleft()
        admitted = len(self._answered) < self.limit.requests
        if admitted:
            self._answered.append(now)
        remaining = self.limit.requests - len(self._answered)
        # Seconds until the oldest answered request leaves the window (a slot frees), to the
        # millisecond: `(now + 60) - now` is 60.000000000007 for some `now`, which ceil makes 61.
        frees_in = round(self._answered[0] + window - now, 3) if self._answered else 0.0
        headers = {}
        if self.rate_headers:
            headers = {
                "X-RateLimit-Limit": str(self.limit.requests),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(max(math.ceil(frees_in), 0)),
            }
        if not admitted:
            headers["Retry-After"] = str(max(math.ceil(frees_in), 1))
        return admitted, headers


def max_in_any_window(arrivals: list[float], per_seconds: float) -> int:
    """The most requests answered within any `per_seconds` window (two pointers)."""
    best, start = 0, 0
    for end, arrival in enumerate(arrivals):
        while arrival - arrivals[start] >= per_seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
