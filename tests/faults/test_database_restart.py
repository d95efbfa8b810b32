"""PostgreSQL restarted while jobs run and game servers poll: 503 JSON while it is down, then
answers again by themselves; the worker's writes wait for it and no result is lost."""

from __future__ import annotations

import json
import random
import threading
import time

from tests.conftest import LiveServer, http
from tests.faults.conftest import PostgresOutage, wait_until
from tests.outcomes import job_states

JOBS, POLLERS = 8, 3


def test_a_postgres_restart_while_jobs_run_and_the_api_is_polled(fault_service):
    worker = fault_service.start_worker()
    job_ids = [fault_service.submit(fault_service.photo("slow 0.2")) for _ in range(JOBS)]
    server = LiveServer(fault_service.app)
    answers: list[tuple[float, int, dict, bytes]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            path = random.choice([f"/jobs/{random.choice(job_ids)}", "/readyz"])
            token = fault_service.token if path.startswith("/jobs") else None
            status, headers, body = http("GET", server.url + path, token=token)
            answers.append((time.monotonic(), status, headers, body))
            time.sleep(0.02)

    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(POLLERS)]
    try:
        for poller in pollers:
            poller.start()
        wait_until(
            lambda: any(
                job.status == "running" and job.iteration >= 1
                for job in job_states(fault_service.sessions, job_ids).values()
            ),
            90,
            "a fit under way",
        )
        with PostgresOutage():
            down_at = time.monotonic()
            time.sleep(3.0)
        up_at = time.monotonic()
        fault_service.assert_each_finished_once(job_ids, timeout=180)
        time.sleep(1.0)
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=35)
        server.stop()

    assert {status for _, status, _, _ in answers} <= {200, 503}
    unavailable = [(t, headers, body) for t, status, headers, body in answers if status == 503]
    assert any(down_at <= t <= up_at + 1 for t, _, _ in unavailable)  # it was seen down
    for _, headers, body in unavailable:
        document = json.loads(body)  # JSON, never an HTML page or a stack trace
        assert b"Traceback" not in body and b"psycopg" not in body
        if "error" in document:
            assert document["error"]["code"] == "UNAVAILABLE" and headers["Retry-After"] == "5"
        else:  # /readyz
            assert document["checks"]["database"] == "down"
    # Recovered by itself: within a few seconds of the restart, everything answers 200.
    later = [status for t, status, _, _ in answers if t > up_at + 5]
    assert later and set(later) == {200}
    assert worker.process.poll() is None
    log = worker.log_path.read_text()
    assert "database unavailable" in log or "progress not stored" in log
