"""What real APIs add to the sandbox's answers: latency, per-account rate limits, and the
per-source traffic counters (requests, 429s, requests in flight) that tests assert on."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from crm_assets.config import RateLimitSpec


@dataclass(frozen=True)
class Latency:
    """Each answer waits `ms` plus a uniform draw from [0, `jitter_ms`]."""

    ms: float = 0.0
    jitter_ms: float = 0.0

    def draw_seconds(self, rng: random.Random) -> float:
        return (self.ms + (rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0)) / 1000


@dataclass
class SourceTraffic:
    """One source's requests as the API saw them (times from `time.monotonic()`)."""

    requests: int = 0
    throttled: int = 0  # answered 429 by the rate limit
    in_flight: int = 0
    peak_in_flight: int = 0
    in_flight_seconds: float = 0.0  # integral of in_flight over time
    first_arrival: float | None = None
    last_arrival: float | None = None
    last_departure: float | None = None
    accepted_arrivals: list[float] = field(default_factory=list)
    _last_change: float = 0.0

    def arrive(self, now: float) -> None:
        self._advance(now)
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.first_arrival = now if self.first_arrival is None else self.first_arrival
        self.last_arrival = now

    def depart(self, now: float) -> None:
        self._advance(now)
        self.in_flight -= 1
        self.last_departure = now

    def _advance(self, now: float) -> None:
        if self.in_flight:
            self.in_flight_seconds += self.in_flight * (now - self._last_change)
        self._last_change = now

    def as_json(self) -> dict[str, Any]:
        busy = (
            (self.last_departure or 0) - self.first_arrival if self.first_arrival is not None else 0
        )
        accepted = self.accepted_arrivals
        span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "peak_in_flight": self.peak_in_flight,
            "mean_in_flight": round(self.in_flight_seconds / busy, 3) if busy > 0 else 0.0,
            "busy_seconds": round(busy, 3),
            # Answered requests per second between the first and the last one answered.
            "accepted_rate": round((len(accepted) - 1) / span, 3) if span > 0 else None,
            "accepted": len(accepted),
        }


class SlidingWindow:
    """The API side of a rate limit: requests answered in the last `per_seconds`."""

    def __init__(self, limit: RateLimitSpec) -> None:
        self.limit = limit
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
        # Seconds until the oldest answered request leaves the window (a slot frees).
        frees_in = self._answered[0] + window - now if self._answered else 0.0
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


class Traffic:
    """Per-source counters, rate limits and latency for the sandbox; thread-safe."""

    def __init__(
        self,
        latency: Latency | None = None,
        rate_limits: dict[str, RateLimitSpec] | None = None,
        seed: int = 0,
    ) -> None:
        self.latency = latency or Latency()
        self.rate_limits = dict(rate_limits or {})
        self._windows = {source: SlidingWindow(limit) for source, limit in self.rate_limits.items()}
        self.sources: dict[str, SourceTraffic] = {}
        self._rng = random.Random(seed)
        self._peak_sources = 0
        self._lock = threading.Lock()

    def arrive(self, source: str) -> tuple[bool, dict[str, str], float]:
        """Count a request; returns (answered, rate-limit headers, latency to wait in seconds)."""
        with self._lock:
            now = time.monotonic()
            traffic = self.sources.setdefault(source, SourceTraffic())
            traffic.arrive(now)
            busy_sources = sum(1 for t in self.sources.values() if t.in_flight)
            self._peak_sources = max(self._peak_sources, busy_sources)
            window = self._windows.get(source)
            admitted, headers = window.admit(now) if window else (True, {})
            if admitted:
                traffic.accepted_arrivals.append(now)
            else:
                traffic.throttled += 1
            delay = self.latency.draw_seconds(self._rng) if admitted else 0.0
            return admitted, headers, delay

    def depart(self, source: str) -> None:
        with self._lock:
            self.sources[source].depart(time.monotonic())

    def reset(self) -> None:
        with self._lock:
            self.sources = {}
            self._peak_sources = 0
            self._windows = {s: SlidingWindow(limit) for s, limit in self.rate_limits.items()}

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            report = {}
            for source, traffic in self.sources.items():
                figures = traffic.as_json()
                limit = self.rate_limits.get(source)
                if limit:
                    figures["rate_limit"] = f"{limit.requests}/{limit.per_seconds:g}"
                    figures["max_in_any_window"] = max_in_any_window(
                        traffic.accepted_arrivals, limit.per_seconds
                    )
                report[source] = figures
            return report

    @property
    def peak_sources_in_flight(self) -> int:
        """The most sources that had a request in flight at one instant."""
        return self._peak_sources

    def sources_fetching_at_once(self) -> int:
        """The most sources between their first request and their last answer at one time (a
        source pacing itself to a rate limit has nothing in flight between requests, yet is
        still fetching)."""
        with self._lock:
            spans = [
                (t.first_arrival, t.last_departure or t.last_arrival)
                for t in self.sources.values()
                if t.first_arrival is not None
            ]
        edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
        most = fetching = 0
        for _, change in edges:
            fetching += change
            most = max(most, fetching)
        return most
