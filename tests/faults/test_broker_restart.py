"""Redis restarted without saving while 50 jobs are queued or running: the sweep sends again
what the broker lost, and every job ends once."""

from __future__ import annotations

import redis

from db.models import utcnow
from tests.faults.conftest import restart_redis, wait_until
from tests.outcomes import job_states

JOBS = 50


def test_a_redis_restart_loses_no_job(fault_service):
    fault_service.start_worker(FACEFIT_FIT_MAX_ITERS="1")
    job_ids = [fault_service.submit(fault_service.photo()) for _ in range(JOBS)]
    broker = redis.Redis.from_url(fault_service.redis_url)

    def some_done_and_one_running():
        states = [job.status for job in job_states(fault_service.sessions, job_ids).values()]
        return states.count("succeeded") + states.count("failed") >= 3 and "running" in states

    wait_until(some_done_and_one_running, 120, "the worker under way")
    assert broker.llen(fault_service.queue) >= 20  # messages that exist only in Redis's memory
    restarted_at = utcnow()
    restart_redis(down_for=1.0)
    queued = [i for i, job in job_states(fault_service.sessions, job_ids).items()
              if job.status == "queued"]  # fmt: skip
    assert len(queued) >= 20
    jobs = fault_service.assert_each_finished_once(job_ids, timeout=240)
    # The broker came back empty: each of them ran because the sweep sent it again.
    assert all(jobs[i].enqueued_at > restarted_at for i in queued)
    assert all(job.finished_at > job.created_at for job in jobs.values())
