"""The machine-local rate limit (SQLite under var/): events by cost in a sliding window."""

from __future__ import annotations

import multiprocessing
import threading

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


def _hit_from_threads(path, start, results) -> None:
    """One web process: four request threads, each taking three uploads at once."""
    limiter = LocalRateLimiter(path)

    def upload() -> None:
        start.wait()
        for _ in range(3):
            try:
                limiter.hit("game server", 5)
                results.put("accepted")
            except ApiError as refused:
                results.put(refused.code)
            except Exception as failed:  # noqa: BLE001 - the failure is the finding
                results.put(repr(failed))

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_processes_and_their_threads_share_one_count_without_errors(tmp_path):
    """Two processes of four threads on a new file, ten times: 5 accepted, the rest refused."""
    context = multiprocessing.get_context("fork")  # the processes gunicorn forks
    for round_ in range(10):
        path = tmp_path / f"limits{round_}.sqlite3"
        start, results = context.Barrier(8), context.Queue()
        processes = [
            context.Process(target=_hit_from_threads, args=(path, start, results)) for _ in range(2)
        ]
        for process in processes:
            process.start()
        answers = sorted(results.get(timeout=30) for _ in range(24))
        for process in processes:
            process.join()
        assert answers == ["RATE_LIMITED"] * 19 + ["accepted"] * 5
        assert path.stat().st_mode & 0o777 == 0o600
