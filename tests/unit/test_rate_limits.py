"""The machine-local rate limit (SQLite under var/): events by cost in a sliding window."""

from __future__ import annotations

import pytest

from web.errors import ApiError
from web.limits import LocalRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_costs_add_up_in_the_window_and_leave_it_with_time(tmp_path):
    clock = Clock()
    limiter = LocalRateLimiter(tmp_path / "limits.sqlite3", window=60.0, clock=clock)
    limiter.hit("player", 5, cost=4)
    clock.now += 10
    limiter.hit("player", 5)
    with pytest.raises(ApiError) as refused:
        limiter.hit("player", 5)
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "50"
    limiter.hit("someone else", 5, cost=5)  # each key has its own budget
    clock.now += 50  # the first hit's 4 have left the window
    limiter.hit("player", 5, cost=4)


def test_a_cost_over_the_whole_limit_is_refused_for_a_window(tmp_path):
    limiter = LocalRateLimiter(tmp_path / "limits.sqlite3", window=60.0, clock=Clock())
    with pytest.raises(ApiError) as refused:
        limiter.hit("player", 3, cost=4)
    assert refused.value.headers["Retry-After"] == "60"
