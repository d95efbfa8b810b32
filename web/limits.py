"""Sliding-window rate limits per key (client, IP), shared by all web processes of the site.

The documented numbers hold for the site, never once per gunicorn worker:
- With a Redis broker the counters live in Redis, shared by every web process on every host.
- The embedded defaults (filesystem broker, no Redis: `make run`) count in a SQLite file
  under var/, `rate-limits.sqlite3`, shared by every process of the machine, each hit one
  short write transaction (SQLite's file lock makes two processes take turns).
- If Redis does not answer, each host counts in that same file until Redis is back: the limit
  still holds exactly on a one-host site (compose), and per host on a larger one, rather than
  refusing every upload (uploads are kept while Redis is down: the sweep queues them later)
  or letting them all through.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import redis

from db.urls import create_private_sqlite_file
from web.errors import ApiError

log = logging.getLogger(__name__)

# One sorted set per key: members are units of cost (an event costing 3 adds three), scores
# their time in ms (Redis's own clock, so that web hosts with slightly different clocks
# agree). Atomic, so that two processes cannot both take the last slot.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window_ms = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
if redis.call('ZCARD', KEYS[1]) + cost > limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #oldest == 0 then return window_ms end
  return oldest[2] + window_ms - now_ms
end
for i = 1, cost do redis.call('ZADD', KEYS[1], now_ms, ARGV[3] .. ':' .. i) end
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


class LocalRateLimiter:
    """At most `limit` units of cost per `window` seconds per key (an event costs 1 unless
    said otherwise), counted in a SQLite file.

    Shared by the processes of one machine; raises RATE_LIMITED with Retry-After. Wall-clock
    times, since processes share no monotonic origin.
    """

    def __init__(self, path: Path, window: float = 60.0, clock=time.time) -> None:
        self.path, self.window, self.clock = path, window, clock
        self._local = threading.local()
        create_private_sqlite_file(path)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            # Counters, not records: a commit need not wait for the disk (no fsync per upload).
            # Every statement writes, so WAL's concurrent readers would gain nothing.
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL)"
            )
            connection.execute("CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)")
            connection.execute("CREATE INDEX IF NOT EXISTS hits_at ON hits (at)")
            self._local.connection = connection
        return connection

    def hit(self, key: str, limit: int, cost: int = 1) -> None:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")  # the write lock first: no two takers of one slot
        try:
            now = self.clock()
            connection.execute("DELETE FROM hits WHERE at <= ?", (now - self.window,))
            count, oldest = connection.execute(
                "SELECT COUNT(*), MIN(at) FROM hits WHERE key = ?", (key,)
            ).fetchone()
            if count + cost <= limit:
                connection.executemany(
                    "INSERT INTO hits (key, at) VALUES (?, ?)", [(key, now)] * cost
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        if count + cost > limit:
            raise rate_limited(self.window if oldest is None else oldest + self.window - now)


class RedisRateLimiter:
    """The same limit as `LocalRateLimiter`, counted in Redis for every process of the site."""

    def __init__(
        self, client: redis.Redis, namespace: str, fallback: LocalRateLimiter, window: float = 60.0
    ) -> None:
        self.window, self.namespace = window, namespace
        self.client = client
        self.script = self.client.register_script(_SLIDING_WINDOW)
        self.fallback = fallback
        self._warned_at = -math.inf

    def hit(self, key: str, limit: int, cost: int = 1) -> None:
        try:
            wait_ms = self.script(
                keys=[f"{self.namespace}:{key}"],
                args=[int(self.window * 1000), limit, uuid.uuid4().hex, cost],
            )
        except redis.RedisError as exc:
            if time.monotonic() - self._warned_at > 60:  # one line a minute, not one per upload
                self._warned_at = time.monotonic()
                log.warning("rate limits counted on this host: Redis unavailable (%s)", exc)
            self.fallback.hit(key, limit, cost)
            return
        if int(wait_ms) >= 0:
            raise rate_limited(int(wait_ms) / 1000)


def make_limiter(
    client: redis.Redis | None, database_url: str, var_dir: Path
) -> LocalRateLimiter | RedisRateLimiter:
    """Counters in the site's Redis (`web.site_redis`), else in var/ for the machine.

    The namespace is derived from the database: two sites sharing one Redis (staging and
    production, or test runs side by side) keep separate counts, while all web processes of
    one site, which share its database, share them.
    """
    local = LocalRateLimiter(var_dir / "rate-limits.sqlite3")
    if client is None:
        return local
    site = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return RedisRateLimiter(client, namespace=f"facefit:rate:{site}", fallback=local)
