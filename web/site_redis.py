"""The site's Redis (the broker's), where web processes keep what they must agree on.

Rate-limit counters and the token revocation epoch live there. One client per web process,
short timeouts: each user degrades to per-process state when Redis does not answer, so a
request must never wait long on it. Without a Redis broker (the embedded defaults) there is
none, and each user keeps its state in the process.
"""

from __future__ import annotations

import redis


def connect(broker_url: str) -> redis.Redis | None:
    """A client of the broker's Redis, or None when the broker is not Redis."""
    if not broker_url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(broker_url, socket_timeout=0.5, socket_connect_timeout=0.5)
