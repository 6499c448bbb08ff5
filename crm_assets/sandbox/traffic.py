"""What real APIs add to the sandbox's answers: latency and per-account rate limits, applied
per source as requests arrive and leave, with the per-source traffic counters tests assert on."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from crm_assets.config import RateLimitSpec
from crm_assets.sandbox.counters import SourceTraffic
from crm_assets.sandbox.rate_limit import SlidingWindow, max_in_any_window


@dataclass(frozen=True)
class Latency:
    """Each answer waits `ms` plus a uniform draw from [0, `jitter_ms`]."""

    ms: float = 0.0
    jitter_ms: float = 0.0

    def draw_seconds(self, rng: random.Random) -> float:
        return (self.ms + (rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0)) / 1000


class Traffic:
    """Per-source counters, rate limits and latency for the sandbox; thread-safe."""

    def __init__(
        self,
        latency: Latency | None = None,
        rate_limits: dict[str, RateLimitSpec] | None = None,
        seed: int = 0,
        rate_headers: bool = True,
    ) -> None:
        self.latency = latency or Latency()
        self.rate_limits = dict(rate_limits or {})
        self.rate_headers = rate_headers
        self._windows = self._new_windows()
        self.sources: dict[str, SourceTraffic] = {}
        self._rng = random.Random(seed)
        self._peak_sources = 0
        self._lock = threading.Lock()

    def _new_windows(self) -> dict[str, SlidingWindow]:
        return {
            source: SlidingWindow(limit, self.rate_headers)
            for source, limit in self.rate_limits.items()
        }

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
            self._windows = self._new_windows()

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
