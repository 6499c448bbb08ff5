"""One source's request budget in a run: how many requests may be in flight, how many may be
sent per window, and pauses the API asks for. dlt has retries but no client-side budget.

Every request of the source's session passes here (all resources and threads, every retry
attempt). The window is the API's, stretched by `headroom`: the API counts requests as they
arrive, we count them as they leave, and a request that left late would otherwise land in the
same API window as one sent a window later. A 429 pauses every request of the source for its
`Retry-After` and shrinks the budget by a fifth for the rest of the run (the account's real
plan is smaller than configured), then lets one request go first. Where no budget is
configured, or a 429 proved the configured one wrong (other clients of the account spend it
too), no more is sent than the API says is left of its window (`X-RateLimit-Remaining`) before
it resets (`X-RateLimit-Reset`).

One class past ~150 lines: slots, the window, pauses and the API's headers interact under one
lock, and splitting them would spread that lock over modules.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime
from typing import Any

import dagster as dg

from crm_assets.config import RateLimitSpec

HEADROOM = 0.1
SHRINK_ON_429 = 0.8
PROBE_POLL_SECONDS = 0.05


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


class RequestBudget:
    def __init__(
        self,
        source: str,
        rate_limit: RateLimitSpec | None,
        max_concurrency: int,
        headroom: float = HEADROOM,
    ) -> None:
        self.source = source
        self.rate_limit = rate_limit
        self.max_concurrency = max_concurrency
        self._capacity = rate_limit.requests if rate_limit else None
        self._window = rate_limit.per_seconds * (1 + headroom) if rate_limit else 0.0
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        # What the API said is left of its window (X-RateLimit-Remaining, less what was in
        # flight), spent by each send until `_api_reset_at`; None: the API has not said.
        self._api_allowance: int | None = None
        self._api_reset_at = 0.0
        # A configured budget that has drawn no 429 is the API's own window counted exactly;
        # the headers' reset (whole seconds, stamped at the API) would only wait longer.
        self._follow_api_headers = rate_limit is None
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.throttled = 0  # 429 answers received
        self.waited_seconds = 0.0  # summed over requests: time spent waiting for the budget

    def _wait_for_turn(self) -> float:
        """Seconds until a request may be sent; 0 records it as sent now."""
        now = time.monotonic()
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        wait = self._paused_until - now
        if self._capacity is not None and len(self._sent) >= self._capacity:
            wait = max(wait, self._sent[len(self._sent) - self._capacity] + self._window - now)
        if self._api_allowance is not None and now >= self._api_reset_at:
            self._api_allowance = None
        if self._api_allowance is not None and self._api_allowance <= 0:
            # Look again shortly: the API's window resets, or (after a 429) the probe answers.
            wait = max(wait, min(self._api_reset_at - now, PROBE_POLL_SECONDS))
        if wait > 0:
            return wait
        if self._capacity is not None:
            self._sent.append(now)
        if self._api_allowance is not None:
            self._api_allowance -= 1
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return 0.0

    def acquire(self) -> None:
        """Block until a request may go: a slot free, the window not full, no pause."""
        started = time.monotonic()
        self._slots.acquire()
        while True:
            with self._lock:
                wait = self._wait_for_turn()
            if wait <= 0:
                break
            time.sleep(wait)
        with self._lock:
            self.waited_seconds += time.monotonic() - started

    def release(self, response: Any | None) -> None:
        """Free the slot and learn from the answer's rate-limit headers."""
        with self._lock:
            self.in_flight -= 1
            if response is not None:
                self._observe(response)
        self._slots.release()

    def _observe(self, response: Any) -> None:
        headers = response.headers
        now, epoch = time.monotonic(), time.time()
        if response.status_code == 429:
            self.throttled += 1
            if now >= self._paused_until:  # one episode shrinks the budget once
                if self._capacity is not None and self._capacity > 1:
                    self._capacity = max(1, int(self._capacity * SHRINK_ON_429))
                dg.get_dagster_logger().warning(
                    f"{self.source}: the API answered 429; pausing its requests as it asks"
                    + (f", budget now {self._capacity} per {self._window:g} s" if self._capacity else "")
                )
            # Without Retry-After, the retry's own backoff is the only wait. After the pause
            # one request goes first: its answer says what is left, so the others do not all
            # run into the limit again and through their retries.
            pause = seconds_from_now(headers.get("Retry-After"), epoch) or 0.0
            self._paused_until = max(self._paused_until, now + pause)
            self._api_allowance, self._api_reset_at = 1, float("inf")
            self._follow_api_headers = True
            return
        if not self._follow_api_headers:
            return
        remaining = headers.get("X-RateLimit-Remaining")
        reset = seconds_from_now(headers.get("X-RateLimit-Reset"), epoch)
        try:
            left = int(remaining) - self.in_flight
        except (TypeError, ValueError):
            if self._api_reset_at == float("inf"):  # the probe's answer says nothing: go on
                self._api_allowance = None
            return
        if reset is not None:
            self._api_allowance, self._api_reset_at = max(left, 0), now + reset
        elif self._api_reset_at == float("inf"):
            self._api_allowance = None

    # The session's adapter calls these around every attempt (source_builder/http_session.py).
    def sending(self, request: Any) -> None:
        self.acquire()

    def answered(self, response: Any | None) -> None:
        self.release(response)

    def metadata(self) -> dict[str, Any]:
        """The run's figures for the whole source (every resource shares the budget)."""
        return {
            "source_requests": self.requests,
            "source_peak_requests_in_flight": self.peak_in_flight,
            "source_answered_429": self.throttled,
            "source_seconds_waiting_for_budget": round(self.waited_seconds, 3),
            "source_rate_limit": str(self.rate_limit) if self.rate_limit else "none",
            "source_max_concurrency": self.max_concurrency,
        }
