"""Sliding-window rate limits per key (client, IP), shared by all web processes through Redis.

With a Redis broker the counters live in Redis, so that the limit holds for the whole site and
not once per gunicorn worker. The embedded defaults (filesystem broker, no Redis) keep them in
the memory of the process. If Redis does not answer, the limiter counts in memory until it is
back rather than refusing uploads or letting them all through.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections import defaultdict, deque

import redis

from web.errors import ApiError

log = logging.getLogger(__name__)

# One sorted set per key: members are events, scores their time in ms (Redis's own clock, so
# that web hosts with slightly different clocks agree). Atomic, so that two processes cannot
# both take the last slot.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window_ms = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return oldest[2] + window_ms - now_ms
end
redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window_ms)
return -1
"""


def rate_limited(retry_after_s: float) -> ApiError:
    retry_after = max(1, math.ceil(retry_after_s))
    return ApiError(
        429,
        "RATE_LIMITED",
        f"Too many jobs; try again in {retry_after} s.",
        {"Retry-After": str(retry_after)},
    )


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
                raise rate_limited(events[0] + self.window - now)
            events.append(now)


class RedisRateLimiter:
    """The same limit as `RateLimiter`, counted in Redis for every process of the site."""

    def __init__(self, client: redis.Redis, namespace: str, window: float = 60.0) -> None:
        self.window, self.namespace = window, namespace
        self.client = client
        self.script = self.client.register_script(_SLIDING_WINDOW)
        self.fallback = RateLimiter(window)
        self._warned_at = -math.inf

    def hit(self, key: str, limit: int) -> None:
        try:
            wait_ms = self.script(
                keys=[f"{self.namespace}:{key}"],
                args=[int(self.window * 1000), limit, uuid.uuid4().hex],
            )
        except redis.RedisError as exc:
            if time.monotonic() - self._warned_at > 60:  # one line a minute, not one per upload
                self._warned_at = time.monotonic()
                log.warning("rate limits counted per process: Redis unavailable (%s)", exc)
            self.fallback.hit(key, limit)
            return
        if int(wait_ms) >= 0:
            raise rate_limited(int(wait_ms) / 1000)


def make_limiter(client: redis.Redis | None, database_url: str) -> RateLimiter | RedisRateLimiter:
    """Counters in the site's Redis (`web.site_redis`), else per-process ones.

    The namespace is derived from the database: two sites sharing one Redis (staging and
    production, or test runs side by side) keep separate counts, while all web processes of
    one site, which share its database, share them.
    """
    if client is None:
        return RateLimiter()
    site = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return RedisRateLimiter(client, namespace=f"facefit:rate:{site}")
