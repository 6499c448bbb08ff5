"""One source's request budget in a run: when a request may go (`RequestBudget.acquire`) and
what its answer teaches (`release`). The package's docstring says how; the collaborators decide
each their part: `SendWindow` the configured window, `InFlightCap` the requests in flight,
`Refusals` what a 429 says of the pace, `Limits` what a limit costs (pauses, cuts),
`ApiAllowance` what the API's headers say is left."""

from __future__ import annotations

import math
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from crm_assets.config import RateLimitSpec
from crm_assets.request_budget.api_allowance import ApiAllowance
from crm_assets.request_budget.carry_over import carried_over
from crm_assets.request_budget.headers import pause_asked
from crm_assets.request_budget.in_flight import InFlightCap
from crm_assets.request_budget.limits import Limits
from crm_assets.request_budget.refusals import Refusals
from crm_assets.request_budget.send_window import SendWindow

# A configured budget is never cut below this fraction of itself.
WINDOW_FLOOR_FRACTION = 0.1


class RequestBudget:
    def __init__(self, source: str, rate_limit: RateLimitSpec | None, max_concurrency: int) -> None:
        self.source = source
        self.rate_limit = rate_limit
        self.max_concurrency = max_concurrency
        self.window: SendWindow | None = None
        if rate_limit:
            floor = math.ceil(rate_limit.requests * WINDOW_FLOOR_FRACTION)
            self.window = SendWindow(rate_limit.requests, rate_limit.per_seconds, floor=floor)
        self.in_flight_cap = InFlightCap(max_concurrency)
        self.refusals = Refusals(self.window.seconds if self.window else None)
        self.api = ApiAllowance(follow=rate_limit is None)
        self.limits = Limits(source, self.window, self.in_flight_cap, self.refusals, self.api)
        self._turn = threading.Condition()
        self._thread = threading.local()  # the send time of this thread's request in flight
        self.in_flight = self.peak_in_flight = self.requests = 0
        self.waited_seconds = 0.0  # summed over requests: time waiting for windows and pauses
        self.longest_wait = 0.0  # the longest stretch a request free to go waited for them

    @property
    def throttled(self) -> int:
        """429 answers received, of both kinds."""
        return self.limits.burst_429s + self.limits.window_429s

    def carried_over(self, sends_file: Path) -> AbstractContextManager[None]:
        """The previous run of the source counts in this run's window, and this run in the
        next's (`carry_over.py`)."""
        return carried_over(self.window, self._turn, sends_file)

    def _wait_for_turn(self, now: float) -> float:
        """Seconds until a request may be sent; 0 records it as sent now."""
        wait = max(self.limits.paused_until - now, self.api.wait(now))
        if self.window is not None:
            wait = max(wait, self.window.wait(now))
        if wait > 0:
            return wait
        if self.window is not None:
            self.window.sent()
        self.refusals.sent(now)
        self.api.spend()
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return 0.0

    def acquire(self) -> None:
        """Block until a request may go: under the in-flight cap, the window not full, no
        pause. Waits for a free slot are the concurrency's, not counted as waits; a stretch of
        waiting ends when other requests take the slots (the source is not held then)."""
        stretch = 0.0
        with self._turn:
            while True:
                if self.in_flight >= self.in_flight_cap.cap:
                    self.longest_wait, stretch = max(self.longest_wait, stretch), 0.0
                    self._turn.wait()
                    continue
                now = time.monotonic()
                wait = self._wait_for_turn(now)
                if wait <= 0:
                    break
                self._turn.wait(timeout=wait)
                waited = time.monotonic() - now
                stretch += waited
                self.waited_seconds += waited
            self.longest_wait = max(self.longest_wait, stretch)
        self._thread.sent_at = now

    def release(self, response: Any | None) -> None:
        """Free the slot and learn from the answer."""
        with self._turn:
            self.in_flight -= 1
            if self.window is not None:
                self.window.settled(time.monotonic())
            if response is not None:
                self._observe(response, getattr(self._thread, "sent_at", 0.0))
            self._turn.notify_all()

    def _observe(self, response: Any, sent_at: float) -> None:
        now, epoch = time.monotonic(), time.time()
        if response.status_code == 429:
            self.refusals.refused(now, sent_at)
            self.in_flight_cap.refused()
            if self.window is not None:
                self.window.refused()
            self.api.follow = True  # after any 429, what the API says is left paces requests
            self.api.follow_headers(response.headers, now, epoch, self.in_flight)
            self.limits.refused(now, sent_at, pause_asked(response.headers, epoch))
            return
        if response.ok:
            self.in_flight_cap.answered()
            if self.window is not None:
                self.window.answered()
        self.api.follow_headers(response.headers, now, epoch, self.in_flight)

    def metadata(self) -> dict[str, Any]:
        """The run's figures for the whole source (every resource shares the budget)."""
        return {
            "source_requests": self.requests,
            "source_peak_requests_in_flight": self.peak_in_flight,
            "source_answered_429": self.throttled,
            "source_answered_429_burst": self.limits.burst_429s,
            "source_answered_429_window": self.limits.window_429s,
            # The lowest pace used: the fewest requests allowed in flight, and per window.
            "source_lowest_requests_in_flight": self.in_flight_cap.lowest,
            "source_lowest_budget_per_window": self.window.lowest if self.window else None,
            "source_seconds_waiting_for_budget": round(self.waited_seconds, 3),
            "source_longest_wait_for_budget_seconds": round(self.longest_wait, 3),
            "source_rate_limit": str(self.rate_limit) if self.rate_limit else "none",
            "source_max_concurrency": self.max_concurrency,
        }
