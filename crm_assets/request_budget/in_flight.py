"""How many of a source's requests may be in flight at once: the configured maximum, halved
while an API's burst limit refuses them, climbing back one at a time."""

from __future__ import annotations


class InFlightCap:
    """Additive increase, multiplicative decrease: `cut` halves the cap (not below one), and
    each run of `cap` answers in a row without a 429 raises it by one, up to `maximum`."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.cap = maximum
        self.lowest = maximum
        self._answered_in_a_row = 0

    def cut(self) -> None:
        self.cap = max(1, self.cap // 2)
        self.lowest = min(self.lowest, self.cap)
        self._answered_in_a_row = 0

    def refused(self) -> None:
        self._answered_in_a_row = 0

    def answered(self) -> None:
        if self.cap == self.maximum:
            return
        self._answered_in_a_row += 1
        if self._answered_in_a_row >= self.cap:
            self.cap += 1
            self._answered_in_a_row = 0
