"""What a limit costs: a burst limit pauses every request for what its 429 asked and halves
the requests in flight; a spent window pauses them, lets one go first, and where a request
sent after the pause is refused again, cuts the budget to what the API admitted. An occasional
429 costs nothing here (dlt's retry waits out its own `Retry-After`)."""

from __future__ import annotations

import dagster as dg

from crm_assets.request_budget.api_allowance import ApiAllowance
from crm_assets.request_budget.in_flight import InFlightCap
from crm_assets.request_budget.refusals import Refusals
from crm_assets.request_budget.send_window import SendWindow


class Limits:
    def __init__(
        self,
        source: str,
        window: SendWindow | None,
        in_flight_cap: InFlightCap,
        refusals: Refusals,
        api: ApiAllowance,
    ) -> None:
        self.source = source
        self.window = window
        self.in_flight_cap = in_flight_cap
        self.refusals = refusals
        self.api = api
        self.paused_until = 0.0  # no request is sent before it
        self._last_cut_at = 0.0  # when a burst limit last halved the requests in flight
        self._told: set[str] = set()  # the kinds of 429 episode already logged
        self.burst_429s = self.window_429s = 0

    def refused(self, now: float, sent_at: float, pause: float | None) -> None:
        """A 429 answered the request sent at `sent_at`, asking for `pause`."""
        verdict = self.refusals.judge(now, pause)
        if verdict.kind == "burst":
            self.burst_429s += 1
            if verdict.paced_out:
                self._burst_limited(now, sent_at, pause or 0.0, verdict.sent, verdict.refused)
            return
        self.window_429s += 1
        # Sent after a pause ended: it waited what the API asked, and was refused again.
        refused_again = 0 < self.paused_until <= sent_at
        if refused_again or verdict.paced_out:
            self._window_spent(now, pause or 0.0, refused_again, verdict.sent, verdict.refused)

    def _burst_limited(
        self, now: float, sent_at: float, pause: float, sent: int, refused: int
    ) -> None:
        self.paused_until = max(self.paused_until, now + pause)
        if sent_at < self._last_cut_at:
            return  # sent before the last cut: it says nothing of the pace since
        self.in_flight_cap.cut()
        self._last_cut_at = now
        window = f", far shorter than its {self.window.describe()} budget" if self.window else ""
        self._tell_once("burst", (
            f"the API refused {refused} of the {sent} requests sent within the {pause:g} s "
            f"pause its 429 asked for{window}: a burst limit. Every request waits out the "
            f"pause; at most {self.in_flight_cap.cap} in flight, one more after each run of "
            "answers" + (" (the configured budget stays as it is)" if self.window else "")
        ))

    def _window_spent(
        self, now: float, pause: float, refused_again: bool, sent: int, refused: int
    ) -> None:
        assert self.window is not None
        self.paused_until = max(self.paused_until, now + pause)
        self.api.one_goes_first()
        if not refused_again:
            self._tell_once("window", (
                f"the API refused {refused} of the {sent} requests sent within the {pause:g} s "
                f"pause its 429 asked for, a real part of its {self.window.describe()} budget: "
                "the window is spent. Every request waits out the pause, then one goes first"
            ))
            return
        sent_in_window, refused_in_window = self.refusals.since(now - self.window.seconds)
        if self.window.cut_to(sent_in_window - refused_in_window):
            self._tell(
                f"the API answered 429 again after the {pause:g} s pause it asked for: the "
                f"account allows less than configured. Budget now {self.window.describe()} "
                "(what it admitted), climbing back a tenth after each window's worth answered "
                "in a row"
            )

    def _tell_once(self, kind: str, message: str) -> None:
        if kind not in self._told:
            self._told.add(kind)
            self._tell(f"{message}. Later 429s are counted in the materialization's "
                       "source_answered_429_* metadata")

    def _tell(self, message: str) -> None:
        dg.get_dagster_logger().warning(f"{self.source}: {message}")
