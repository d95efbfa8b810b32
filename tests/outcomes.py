"""What a finished job must look like, and waiting for many jobs at once (from the database).

A good face photo ends the way the installed fitting engine allows: `succeeded` where trained
(or the tests' tiny) networks are installed, else `failed` with FIT_UNAVAILABLE, as documented.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy import select

from db.models import FINISHED_STATUSES, Job


def expected_face_outcome(env: Mapping[str, str]) -> tuple[str, str | None]:
    """(status, error code) the worker configured by `env` gives a good face photo."""
    from facefit.settings import CoreSettings
    from worker.pipeline import fitting_status

    available, _reason = fitting_status(CoreSettings.from_env(env))
    return ("succeeded", None) if available else ("failed", "FIT_UNAVAILABLE")


def job_states(sessions, job_ids: Iterable[str]) -> dict[str, Job]:
    """The rows of these jobs, detached (readable after the session closes)."""
    ids = [uuid.UUID(str(job_id)) for job_id in job_ids]
    with sessions() as session:
        return {str(job.id): job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}


def wait_for_jobs(sessions, job_ids: Iterable[str], timeout: float) -> dict[str, Job]:
    """Poll the database until every job is finished; fail listing the ones that are not."""
    job_ids = [str(job_id) for job_id in job_ids]
    deadline = time.monotonic() + timeout
    while True:
        jobs = job_states(sessions, job_ids)
        pending = [
            i for i in job_ids if jobs.get(i) is None or jobs[i].status not in FINISHED_STATUSES
        ]
        if not pending:
            return jobs
        if time.monotonic() > deadline:
            states = {i: getattr(jobs.get(i), "status", "missing") for i in pending}
            raise AssertionError(f"{len(pending)} job(s) not finished after {timeout} s: {states}")
        time.sleep(0.5)
