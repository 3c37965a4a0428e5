"""Request weight per minute and order count per 10 seconds, per API key (or per address for public endpoints)."""
from __future__ import annotations

import time

from kabuto.adapters.rest.errors import TooManyRequests

WEIGHT_HEADER = "X-KABUTO-USED-WEIGHT-1M"
ORDER_HEADER = "X-KABUTO-ORDER-COUNT-10S"


class Window:
    """A fixed window counter: `limit` units per `seconds`, the window starting at whole multiples of it."""

    def __init__(self, limit: int, seconds: int):
        self.limit = limit
        self.seconds = seconds
        self._counts: dict[str, tuple[int, int]] = {}  # who -> (window number, used)

    def check(self, who: str, n: int) -> None:
        """TooManyRequests when n more units would take who over the limit in this window."""
        now = time.time()
        used = self.used(who)
        if used + n > self.limit:
            retry = max(1, int((int(now // self.seconds) + 1) * self.seconds - now + 0.999))
            raise TooManyRequests(f"Too many requests: {used} of {self.limit} used in this {self.seconds} s window; "
                                  f"retry after {retry} s.", retry)

    def spend(self, who: str, n: int) -> int:
        """Count n units for who (after check); the units used in this window."""
        window = int(time.time() // self.seconds)
        used = self.used(who) + n
        self._counts[who] = (window, used)
        return used

    def used(self, who: str) -> int:
        """Units used by who in the current window."""
        w, used = self._counts.get(who, (None, 0))
        return used if w == int(time.time() // self.seconds) else 0
