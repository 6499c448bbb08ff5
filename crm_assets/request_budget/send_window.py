"""A sliding window of sends: at most `capacity` requests per `seconds`, with a capacity that
can be cut to what the API admitted and climbs back as answers come."""

from __future__ import annotations

import math
from collections import deque

# After each window's worth of answered requests, the capacity climbs by this fraction of
# itself (at least one request): a full window at the current pace drew no 429.
RECOVERY_FRACTION = 0.1


class SendWindow:
    """At most `capacity` sends in any `seconds`, never cut below `floor` nor raised above
    `ceiling` (the capacity it starts with)."""

    def __init__(self, capacity: int, seconds: float, floor: int = 1) -> None:
        self.ceiling = capacity
        self.capacity = capacity
        self.lowest = capacity
        self.floor = min(max(floor, 1), capacity)
        self.seconds = seconds
        self._sent: deque[float] = deque()
        self._answered_since_change = 0

    def wait(self, now: float) -> float:
        """Seconds until one more send fits; 0 if it fits now."""
        while self._sent and self._sent[0] <= now - self.seconds:
            self._sent.popleft()
        over = len(self._sent) - self.capacity
        return 0.0 if over < 0 else self._sent[over] + self.seconds - now

    def record(self, now: float) -> None:
        self._sent.append(now)

    def sent_times(self) -> list[float]:
        """The sends still in the window (as of the last `wait`), oldest first."""
        return list(self._sent)

    def cut_to(self, capacity: int) -> bool:
        """Lower the capacity to `capacity` (not below the floor); True if it changed."""
        lowered = max(min(capacity, self.capacity), self.floor)
        changed = lowered != self.capacity
        self.capacity, self._answered_since_change = lowered, 0
        self.lowest = min(self.lowest, lowered)
        return changed

    def refused(self) -> None:
        """A 429: the run of answers the climb waits for starts over."""
        self._answered_since_change = 0

    def answered(self) -> None:
        """One request answered without a 429: after a window's worth in a row, climb back a
        tenth."""
        if self.capacity == self.ceiling:
            return
        self._answered_since_change += 1
        if self._answered_since_change < self.capacity:
            return
        raised = self.capacity + max(1, math.floor(self.capacity * RECOVERY_FRACTION))
        self.capacity = min(raised, self.ceiling)
        self._answered_since_change = 0

    def describe(self) -> str:
        return f"{self.capacity} per {self.seconds:g} s"
