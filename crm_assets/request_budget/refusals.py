"""What the API's 429s say about the pace: the sends and refusals of the last hour, and whether
a refusal is an occasional one the pace did not cause, or part of a limit (a burst limit's, or
a spent window's)."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

# A 429 asking for at most this fraction of the configured window is a burst limit's.
BURST_FRACTION = 0.1
# A limit shows as refusals: at least two, and this share of the requests sent, within the
# pause a 429 asked for. Fewer is an occasional 429 the pace did not cause.
LIMITED_SHARE = 0.1
# The span refusals are counted over when a 429 names no pause.
DEFAULT_SPAN_SECONDS = 1.0
# Sends remembered for counting what the API admitted (by age and by count).
MEMORY_SECONDS = 3600.0
MEMORY_SENDS = 50_000


@dataclass(frozen=True)
class Verdict:
    """One 429 judged: `window` (the account's window is spent) or `burst`; whether refusals
    within its pause show a limit (`paced_out`), with the counts that show it."""

    kind: str
    paced_out: bool
    sent: int
    refused: int


class Refusals:
    def __init__(self, window_seconds: float | None) -> None:
        self.window_seconds = window_seconds
        self._memory = max(window_seconds or 0.0, MEMORY_SECONDS)
        self._sends: deque[float] = deque(maxlen=MEMORY_SENDS)  # send times, ascending
        self._refused: deque[float] = deque(maxlen=MEMORY_SENDS)  # send times of 429s

    def sent(self, now: float) -> None:
        while self._sends and self._sends[0] <= now - self._memory:
            self._sends.popleft()
        self._sends.append(now)

    def refused(self, now: float, sent_at: float) -> None:
        while self._refused and self._refused[0] <= now - self._memory:
            self._refused.popleft()
        self._refused.append(sent_at)

    def since(self, since: float) -> tuple[int, int]:
        """Requests sent after `since`, and how many of those the API refused."""
        sent = len(self._sends) - bisect.bisect_right(self._sends, since)
        # Refusals arrive in answer order, not send order: count them all (they are few).
        return sent, sum(1 for refused_at in self._refused if refused_at > since)

    def judge(self, now: float, pause: float | None) -> Verdict:
        """A 429 asking for `pause`: a spent window's where the pause is a real part of the
        configured window, else a burst limit's (or none named, or no window configured). An
        occasional 429 among answered requests does not show the pace is the cause."""
        sent, refused = self.since(now - (pause or DEFAULT_SPAN_SECONDS))
        paced_out = refused >= 2 and refused >= LIMITED_SHARE * sent
        spent = (
            self.window_seconds is not None
            and pause is not None
            and pause > BURST_FRACTION * self.window_seconds
        )
        return Verdict("window" if spent else "burst", paced_out, sent, refused)
