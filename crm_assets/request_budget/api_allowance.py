"""What the API says is left of its window (`X-RateLimit-Remaining` / `-Reset`): followed after
any 429 (from the start where no budget is configured), each send spending it until the reset.
A window spent at its reset lets one request go first: the reset says when a slot frees, not
how many (a sliding window frees them one by one), and its answer says what is left."""

from __future__ import annotations

import math
from typing import Any

from crm_assets.request_budget.headers import remaining_in_window, seconds_from_now

PROBE_POLL_SECONDS = 0.05


class ApiAllowance:
    def __init__(self, follow: bool) -> None:
        # A configured budget that has drawn no 429 is the API's own window counted exactly;
        # the headers' reset (whole seconds, stamped at the API) would only wait longer.
        self.follow = follow
        # What is left (Remaining, less what was in flight), spent by each send until
        # `reset_at`; None: the API has not said.
        self.left: int | None = None
        self.reset_at = 0.0

    def wait(self, now: float) -> float:
        """Seconds to wait before the next send (0: it may go)."""
        if self.left is not None and now >= self.reset_at:
            if self.left <= 0:
                self.one_goes_first()
            else:
                self.left = None
        if self.left is not None and self.left <= 0:
            # Look again shortly: the API's window resets, or (after a 429) the probe answers.
            return min(self.reset_at - now, PROBE_POLL_SECONDS)
        return 0.0

    def spend(self) -> None:
        if self.left is not None:
            self.left -= 1

    def one_goes_first(self) -> None:
        """After a pause one request goes first: its answer says what is left, so the others
        do not all run into the limit again and through their retries."""
        self.left, self.reset_at = 1, math.inf

    def follow_headers(self, headers: Any, now: float, epoch: float, in_flight: int) -> None:
        if not self.follow:
            return
        remaining = remaining_in_window(headers)
        reset = seconds_from_now(headers.get("X-RateLimit-Reset"), epoch)
        if remaining is None:
            if self.reset_at == math.inf:  # the probe's answer says nothing: go on
                self.left = None
            return
        if reset is not None:
            left = max(remaining - in_flight, 0)
            if self.left is not None and now < self.reset_at < math.inf:
                # Answers come back out of order: one that reached the API before others tells
                # a larger `Remaining` than theirs. Until the reset, what is left only shrinks.
                left = min(left, self.left)
            self.left, self.reset_at = left, now + reset
        elif self.reset_at == math.inf:
            self.left = None
