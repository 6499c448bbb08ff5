"""What the sandbox counts, for tests to assert on: per resource the requests, pages, rows and
statuses it served (`Stats`), and per source its requests as the API saw them in time
(`SourceTraffic`: 429s, requests in flight, the rate it answered at)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    """What was served, by resource key (`source.resource`) and by status; thread-safe."""

    requests: Counter[str] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self, key: str) -> None:
        with self._lock:
            self.requests[key] += 1

    def count_page(self, key: str, rows: int) -> None:
        with self._lock:
            self.pages[key] += 1
            self.rows[key] += rows

    def count_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "pages": dict(self.pages),
            "rows": dict(self.rows),
            "statuses": {str(k): v for k, v in self.statuses.items()},
        }


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
