"""A sliding window of requests as the API may have counted them: at most `capacity` per
`seconds`, with a capacity that can be cut to what the API admitted and climbs back as answers
come."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

# After each window's worth of answered requests, the capacity climbs by this fraction of
# itself (at least one request): a full window at the current pace drew no 429.
RECOVERY_FRACTION = 0.1


class SendWindow:
    """At most `capacity` requests counted in any `seconds`, never cut below `floor` nor raised
    above `ceiling` (the capacity it starts with).

    A request counts from when it is sent until `seconds` after its answer. The API counts it
    when it arrives, some time in between, and only the answer bounds that time: counted from
    its send alone, a request that arrived late (its connection or its thread held up) could
    share the API's window with one sent a window after it, and that one was refused."""

    def __init__(self, capacity: int, seconds: float, floor: int = 1) -> None:
        self.ceiling = capacity
        self.capacity = capacity
        self.lowest = capacity
        self.floor = min(max(floor, 1), capacity)
        self.seconds = seconds
        self._unanswered = 0  # sent, not answered yet: counted whatever their age
        self._answered: deque[float] = deque()  # answer times, ascending
        self._answered_since_change = 0

    def wait(self, now: float) -> float:
        """Seconds until one more request fits, unless an answer frees a slot first; 0 if it
        fits now."""
        while self._answered and self._answered[0] <= now - self.seconds:
            self._answered.popleft()
        over = self._unanswered + len(self._answered) - self.capacity
        if over < 0:
            return 0.0
        if over < len(self._answered):
            return self._answered[over] + self.seconds - now
        return self.seconds  # every slot is held by a request in flight: wait for an answer

    def sent(self) -> None:
        self._unanswered += 1

    def settled(self, now: float) -> None:
        """A request sent through this window was answered (or failed) at `now`."""
        self._unanswered -= 1
        self._answered.append(now)

    def carry(self, answered: Iterable[float]) -> None:
        """Count requests answered at these times (an earlier run's), before any of its own."""
        self._answered.extend(sorted(answered))

    def counted(self, now: float) -> list[float]:
        """The answer times of the requests counted now, oldest first; one still in flight
        counts as answered now."""
        self.wait(now)  # drops the answers past the window
        return [*self._answered, *[now] * self._unanswered]

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
