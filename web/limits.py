"""A sliding-window rate limit per key (client, IP), kept in the memory of each web process."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

from web.errors import ApiError


class RateLimiter:
    """At most `limit` events per `window` seconds per key; raises RATE_LIMITED with Retry-After."""

    def __init__(self, window: float = 60.0, clock=time.monotonic) -> None:
        self.window, self.clock = window, clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> None:
        now = self.clock()
        with self._lock:
            events = self._events[key]
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= limit:
                retry_after = max(1, math.ceil(events[0] + self.window - now))
                raise ApiError(
                    429,
                    "RATE_LIMITED",
                    f"Too many jobs; try again in {retry_after} s.",
                    {"Retry-After": str(retry_after)},
                )
            events.append(now)
