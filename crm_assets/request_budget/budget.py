"""One source's request budget in a run: how many requests may be in flight, how many may be
sent per window, and what the API's 429s ask for. dlt has retries but no client-side budget.

Every request of the source's session passes here (all resources and threads, every retry
attempt). The configured window is the API's. A request counts in it from its send until a
window after its answer: the API counts it when it arrives, which only the answer bounds
(`SendWindow`).

A 429 the pace did not cause (a lone refusal, or fewer than one in ten of the requests sent
within the pause it asks for) changes nothing but the refused request's own wait: dlt's retry
honours its `Retry-After`, and the extract's spare threads keep the other slots busy meanwhile.
Refusals past that are a limit, of one of two kinds, told apart by the pause asked for
(`Retry-After`, else the reset) against the configured window:
- **burst**: a pause far shorter than the window (or none named, or no window configured).
  Every request of the source waits out the pause, and the requests in flight halve, climbing
  back one at a time as answers come (`InFlightCap`). The configured budget stays as it is.
- **window**: a pause of a real part of the configured window: the account's window is spent.
  Every request waits out the pause, then one goes first. If a request sent after the pause
  is refused again, the account allows less than configured: the budget is cut to what the
  API admitted in the window, never below a tenth of it, climbing back a tenth after each
  window's worth of requests answered in a row (`SendWindow`).
Pauses do not add up: a source never waits longer than the longest pause asked for, plus what
its budget requires. After any 429 (from the start where no budget is configured), no more is
sent than the API says is left of its window (`X-RateLimit-Remaining` / `-Reset`), where it
says.

One class past ~150 lines: the in-flight cap, the window, pauses and the API's headers interact
under one lock, and splitting them would spread that lock over modules.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from crm_assets.config import RateLimitSpec
from crm_assets.request_budget.headers import (
    pause_asked,
    remaining_in_window,
    seconds_from_now,
)
from crm_assets.request_budget.in_flight import InFlightCap
from crm_assets.request_budget.send_window import SendWindow

# A 429 asking for at most this fraction of the configured window is a burst limit's.
BURST_FRACTION = 0.1
# A limit shows as refusals: at least two, and this share of the requests sent, within the
# pause a 429 asked for. Fewer is an occasional 429 the pace did not cause.
LIMITED_SHARE = 0.1
# The span refusals are counted over when a 429 names no pause.
DEFAULT_SPAN_SECONDS = 1.0
# A configured budget is never cut below this fraction of itself.
WINDOW_FLOOR_FRACTION = 0.1
# Sends remembered for counting what the API admitted (by age and by count).
MEMORY_SECONDS = 3600.0
MEMORY_SENDS = 50_000
PROBE_POLL_SECONDS = 0.05


class RequestBudget:
    def __init__(
        self,
        source: str,
        rate_limit: RateLimitSpec | None,
        max_concurrency: int,
    ) -> None:
        self.source = source
        self.rate_limit = rate_limit
        self.max_concurrency = max_concurrency
        self.window: SendWindow | None = None
        if rate_limit:
            floor = math.ceil(rate_limit.requests * WINDOW_FLOOR_FRACTION)
            self.window = SendWindow(rate_limit.requests, rate_limit.per_seconds, floor=floor)
        self.in_flight_cap = InFlightCap(max_concurrency)
        self._last_cut_at = 0.0  # when a burst limit last halved the requests in flight
        self._memory = max(self.window.seconds if self.window else 0.0, MEMORY_SECONDS)
        self._sends: deque[float] = deque(maxlen=MEMORY_SENDS)  # send times, ascending
        self._refused: deque[float] = deque(maxlen=MEMORY_SENDS)  # send times of 429s
        self._paused_until = 0.0
        # What the API said is left of its window (X-RateLimit-Remaining, less what was in
        # flight), spent by each send until `_api_reset_at`; None: the API has not said.
        self._api_allowance: int | None = None
        self._api_reset_at = 0.0
        # A configured budget that has drawn no 429 is the API's own window counted exactly;
        # the headers' reset (whole seconds, stamped at the API) would only wait longer.
        self._follow_api_headers = rate_limit is None
        self._turn = threading.Condition()
        self._thread = threading.local()  # the send time of this thread's request in flight
        self._told: set[str] = set()  # the kinds of 429 episode already logged
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.burst_429s = 0
        self.window_429s = 0
        self.waited_seconds = 0.0  # summed over requests: time waiting for windows and pauses
        self.longest_wait = 0.0  # the longest stretch a request free to go waited for them

    @property
    def throttled(self) -> int:
        """429 answers received, of both kinds."""
        return self.burst_429s + self.window_429s

    def _wait_for_turn(self, now: float) -> float:
        """Seconds until a request may be sent; 0 records it as sent now."""
        wait = self._paused_until - now
        if self.window is not None:
            wait = max(wait, self.window.wait(now))
        if self._api_allowance is not None and now >= self._api_reset_at:
            self._api_allowance = None
        if self._api_allowance is not None and self._api_allowance <= 0:
            # Look again shortly: the API's window resets, or (after a 429) the probe answers.
            wait = max(wait, min(self._api_reset_at - now, PROBE_POLL_SECONDS))
        if wait > 0:
            return wait
        if self.window is not None:
            self.window.sent()
        while self._sends and self._sends[0] <= now - self._memory:
            self._sends.popleft()
        self._sends.append(now)
        if self._api_allowance is not None:
            self._api_allowance -= 1
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
        headers = response.headers
        now, epoch = time.monotonic(), time.time()
        if response.status_code == 429:
            while self._refused and self._refused[0] <= now - self._memory:
                self._refused.popleft()
            self._refused.append(sent_at)
            self.in_flight_cap.refused()
            if self.window is not None:
                self.window.refused()
            # After any 429, what the API says is left of its window paces the requests.
            self._follow_api_headers = True
            self._throttled(now, sent_at, pause_asked(headers, epoch))
            return
        if response.ok:
            self.in_flight_cap.answered()
            if self.window is not None:
                self.window.answered()
        if self._follow_api_headers:
            self._follow_headers(headers, now, epoch)

    def _sent_and_refused_since(self, since: float) -> tuple[int, int]:
        """Requests sent after `since`, and how many of those the API refused."""
        sent = len(self._sends) - bisect.bisect_right(self._sends, since)
        # Refusals arrive in answer order, not send order: count them all (they are few).
        return sent, sum(1 for refused_at in self._refused if refused_at > since)

    def _throttled(self, now: float, sent_at: float, pause: float | None) -> None:
        sent, refused = self._sent_and_refused_since(now - (pause or DEFAULT_SPAN_SECONDS))
        # An occasional 429 among answered requests does not show the pace is the cause: the
        # refused request waits what it asked (dlt's retry), the others go on.
        paced_out = refused >= 2 and refused >= LIMITED_SHARE * sent
        if self.window and pause is not None and pause > BURST_FRACTION * self.window.seconds:
            self.window_429s += 1
            # Sent after a pause ended: it waited what the API asked, and was refused again.
            refused_again = 0 < self._paused_until <= sent_at
            if refused_again or paced_out:
                self._window_spent(now, pause, refused_again, sent, refused)
            return
        self.burst_429s += 1
        if paced_out:
            self._burst_limited(now, sent_at, pause or 0.0, sent, refused)

    def _burst_limited(
        self, now: float, sent_at: float, pause: float, sent: int, refused: int
    ) -> None:
        self._paused_until = max(self._paused_until, now + pause)
        if sent_at < self._last_cut_at:
            return  # sent before the last cut: it says nothing of the pace since
        self.in_flight_cap.cut()
        self._last_cut_at = now
        window = f", far shorter than its {self.window.describe()} budget" if self.window else ""
        self._tell_once(
            "burst",
            f"the API refused {refused} of the {sent} requests sent within the {pause:g} s "
            f"pause its 429 asked for{window}: a burst limit. Every request waits out the "
            f"pause; at most {self.in_flight_cap.cap} in flight, one more after each run of "
            "answers"
            + (" (the configured budget stays as it is)" if self.window else "")
            + ". Later 429s are counted in the materialization's source_answered_429_* metadata",
        )

    def _window_spent(
        self, now: float, pause: float, refused_again: bool, sent: int, refused: int
    ) -> None:
        assert self.window is not None
        self._paused_until = max(self._paused_until, now + pause)
        # After the pause one request goes first: its answer says what is left, so the
        # others do not all run into the limit again and through their retries.
        self._api_allowance, self._api_reset_at = 1, math.inf
        if not refused_again:
            self._tell_once(
                "window",
                f"the API refused {refused} of the {sent} requests sent within the {pause:g} s "
                f"pause its 429 asked for, a real part of its {self.window.describe()} budget: "
                "the window is spent. Every request waits out the pause, then one goes first. "
                "Later 429s are counted in the materialization's source_answered_429_* metadata",
            )
            return
        sent_in_window, refused_in_window = self._sent_and_refused_since(now - self.window.seconds)
        if self.window.cut_to(sent_in_window - refused_in_window):
            self._tell(
                f"the API answered 429 again after the {pause:g} s pause it asked for: the "
                f"account allows less than configured. Budget now {self.window.describe()} "
                "(what it admitted), climbing back a tenth after each window's worth answered "
                "in a row"
            )

    def _follow_headers(self, headers: Any, now: float, epoch: float) -> None:
        remaining = remaining_in_window(headers)
        reset = seconds_from_now(headers.get("X-RateLimit-Reset"), epoch)
        if remaining is None:
            if self._api_reset_at == math.inf:  # the probe's answer says nothing: go on
                self._api_allowance = None
            return
        if reset is not None:
            self._api_allowance, self._api_reset_at = max(remaining - self.in_flight, 0), now + reset
        elif self._api_reset_at == math.inf:
            self._api_allowance = None

    def _tell_once(self, kind: str, message: str) -> None:
        if kind not in self._told:
            self._told.add(kind)
            self._tell(message)

    def _tell(self, message: str) -> None:
        dg.get_dagster_logger().warning(f"{self.source}: {message}")

    @contextmanager
    def carried_over(self, sends_file: Path) -> Iterator[None]:
        """The previous run of the source (runs of a source take turns) counts in this run's
        window, and this run in the next's: back-to-back runs, windows and nightly, share the
        API's window instead of each starting an empty one. The answer times (a request counts
        until a window after its answer) cross processes as epoch seconds."""
        if self.window is not None and sends_file.exists():
            try:
                earlier = json.loads(sends_file.read_text())
            except ValueError:
                earlier = []  # a run killed while writing it: nothing to carry over
            offset = time.monotonic() - time.time()
            with self._turn:
                self.window.carry(answered + offset for answered in earlier)
        try:
            yield
        finally:
            if self.window is not None:
                now, offset = time.monotonic(), time.time() - time.monotonic()
                with self._turn:
                    recent = [answered + offset for answered in self.window.counted(now)]
                partial = sends_file.with_suffix(".partial")
                partial.write_text(json.dumps(recent))
                partial.replace(sends_file)

    # The session's adapter calls these around every attempt (extract/http_session.py).
    def sending(self, request: Any) -> None:
        self.acquire()

    def answered(self, response: Any | None, is_data: bool = True) -> None:
        self.release(response)

    def metadata(self) -> dict[str, Any]:
        """The run's figures for the whole source (every resource shares the budget)."""
        return {
            "source_requests": self.requests,
            "source_peak_requests_in_flight": self.peak_in_flight,
            "source_answered_429": self.throttled,
            "source_answered_429_burst": self.burst_429s,
            "source_answered_429_window": self.window_429s,
            # The lowest pace used: the fewest requests allowed in flight, and per window.
            "source_lowest_requests_in_flight": self.in_flight_cap.lowest,
            "source_lowest_budget_per_window": self.window.lowest if self.window else None,
            "source_seconds_waiting_for_budget": round(self.waited_seconds, 3),
            "source_longest_wait_for_budget_seconds": round(self.longest_wait, 3),
            "source_rate_limit": str(self.rate_limit) if self.rate_limit else "none",
            "source_max_concurrency": self.max_concurrency,
        }
