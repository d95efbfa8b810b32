"""When to try a callback again: the retry schedule, its jitter, and `Retry-After`."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Standard Webhooks' schedule: seconds to wait before attempts 2, 3, ... (about 28 h in all).
STANDARD_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True)
class RetrySchedule:
    """Delays between attempts, each spread by ±`jitter` so that retries do not arrive in
    lock-step after a game server's outage; `Retry-After` can lengthen one, up to a cap."""

    delays: tuple[float, ...] = STANDARD_DELAYS
    jitter: float = 0.1
    retry_after_max: float = 36000.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetrySchedule:
        env = os.environ if env is None else env
        delays = env.get("FACEFIT_WEBHOOK_RETRY_DELAYS")
        return cls(
            delays=tuple(float(d) for d in delays.split(",")) if delays else cls.delays,
            jitter=float(env.get("FACEFIT_WEBHOOK_JITTER", cls.jitter)),
            retry_after_max=float(env.get("FACEFIT_WEBHOOK_RETRY_AFTER_MAX", cls.retry_after_max)),
        )

    @property
    def attempts(self) -> int:
        """Attempts an event gets: the first, then one per delay."""
        return len(self.delays) + 1

    def delay_after(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based); None: give up."""
        if attempt >= self.attempts:
            return None
        base = self.delays[attempt - 1]
        delay = base * (1 + self.jitter * (2 * (rng or random).random() - 1))
        if retry_after is not None:
            # The receiver's wish is a lower bound; the cap keeps one header from parking an
            # event for weeks.
            delay = max(delay, min(retry_after, self.retry_after_max))
        return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
