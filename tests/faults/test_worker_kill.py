"""SIGKILL in the middle of fits: every job still ends once, with the pipeline's answer.

Two ways a worker dies: its fitting process is killed (the out-of-memory killer's way; the
main process gives the message back to the queue at once), or the whole worker with its
pool and beat (a machine lost; the sweep finds the silent job and sends it again).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.outcomes import job_states

JOBS, KILLS = 20, 10
WHOLE_WORKER_KILLS = {3, 7}  # the 4th and 8th kill take the whole worker down


class CallbackReceiver:
    """A game server's callback endpoint on loopback, counting calls per job and event."""

    def __init__(self) -> None:
        calls = self.calls = Counter()
        events = self.events = Counter()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls[body["job_id"]] += 1
                events[self.headers["webhook-id"]] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host_port = f"127.0.0.1:{self.server.server_port}"
        self.url = f"http://{self.host_port}/facefit-callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_ten_sigkills_mid_fit_over_twenty_jobs(fault_service):
    receiver = CallbackReceiver()
    try:
        fault_service.env["FACEFIT_STALE_AFTER"] = "4"  # a lost machine's job is sent again soon
        fault_service.start_webhook_worker(allow=receiver.host_port)
        worker = fault_service.start_worker()
        photos = {}
        for _ in range(JOBS):
            photo = fault_service.photo("slow 0.1")
            photos[fault_service.submit(photo, callback_url=receiver.url)] = photo
        killed: list[str] = []
        deadline = time.monotonic() + 240
        while len(killed) < KILLS:
            assert time.monotonic() < deadline, f"only {len(killed)} kills"
            mid_fit = [
                job_id
                for job_id, job in job_states(fault_service.sessions, photos).items()
                if job.status == "running" and job.iteration >= 1 and job_id not in killed
            ]
            if not mid_fit:
                time.sleep(0.05)
                continue
            job_id = mid_fit[0]
            if len(killed) in WHOLE_WORKER_KILLS:
                worker.kill_all()
                worker = fault_service.start_worker()
            else:
                os.kill(fault_service.fitting_pid(photos[job_id]), signal.SIGKILL)
            killed.append(job_id)
        jobs = fault_service.assert_each_finished_once(photos, timeout=240)
        deadline = time.monotonic() + 30
        while len(receiver.calls) < JOBS and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.close()
    assert len(set(killed)) == KILLS
    attempts = {job_id: job.attempts for job_id, job in jobs.items()}
    assert all(attempts[job_id] == 2 for job_id in killed), attempts
    assert all(attempts[job_id] == 1 for job_id in photos if job_id not in killed), attempts
    # Each job's callback is committed with its result: a kill between the commit and the
    # message costs none (the webhook sweep sends it), and none is sent twice.
    assert set(receiver.calls) == set(photos), receiver.calls
    assert max(receiver.calls.values()) == 1 and max(receiver.events.values()) == 1
