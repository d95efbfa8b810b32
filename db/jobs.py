"""Job state changes, each a small step in the caller's session (the caller commits).

The worker calls these between the slow steps of a fit, never holding a transaction open
across alignment or optimisation.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.models import Job, Photo, ResultImage, utcnow
from db.versions import record_fit


@dataclass(frozen=True)
class PhotoUpload:
    """A validated upload: bytes and what its header said."""

    content: bytes
    media_type: str
    width: int
    height: int


def create_job(
    session: Session,
    upload: PhotoUpload,
    *,
    client_id: int | None = None,
    portal_key_hash: str | None = None,
    callback_url: str | None = None,
) -> Job:
    """A queued job with its photo (the caller commits, then sends the task).

    Its owner: a game server (`client_id`) or a portal key's sha256 (`portal_key_hash`).
    """
    job = Job(
        id=uuid.uuid4(),
        status="queued",
        client_id=client_id,
        portal_key_hash=portal_key_hash,
        callback_url=callback_url,
        photo_sha256=hashlib.sha256(upload.content).hexdigest(),
    )
    job.photo = Photo(
        media_type=upload.media_type,
        width=upload.width,
        height=upload.height,
        content=upload.content,
    )
    session.add(job)
    session.flush()
    return job


def mark_enqueued(session: Session, job_id: uuid.UUID) -> None:
    """Record that a task message for the job was handed to the broker."""
    session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=utcnow()))


def claim_job(session: Session, job_id: uuid.UUID, task_id: str, stale_before: datetime) -> bool:
    """Mark the job running for this task, unless another live task has it or it is finished.

    The same task id may claim again (a retry, or a message redelivered after its worker
    died); another task only takes over a running job whose heartbeat is older than
    `stale_before`. One UPDATE, so two workers cannot both win.
    """
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .where(
            or_(
                Job.status == "queued",
                (Job.status == "running")
                & or_(
                    Job.task_id == task_id,
                    Job.heartbeat_at.is_(None),
                    Job.heartbeat_at < stale_before,
                ),
            )
        )
        .values(
            status="running",
            task_id=task_id,
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            iteration=0,
            loss=None,
            similarity=None,
            error_code=None,
            error_message=None,
        )
    )
    return result.rowcount == 1


def record_progress(
    session: Session,
    job_id: uuid.UUID,
    *,
    iteration: int,
    max_iterations: int | None,
    loss: float | None,
    similarity: float | None,
) -> None:
    """Write the progress of a running job and touch its heartbeat."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(
            iteration=iteration,
            max_iterations=max_iterations,
            loss=loss,
            similarity=similarity,
            heartbeat_at=utcnow(),
        )
    )


def store_image(session: Session, job_id: uuid.UUID, kind: str, png: bytes) -> None:
    """Add or replace one of the job's result images (a re-run overwrites)."""
    image = session.get(ResultImage, (job_id, kind))
    if image is None:
        session.add(ResultImage(job_id=job_id, kind=kind, content=png, media_type="image/png"))
    else:
        image.content = png
        image.created_at = utcnow()


def _still_ours(session: Session, job_id: uuid.UUID, task_id: str | None) -> Job | None:
    """The job, locked, if `task_id` may still finish it (None: the caller may in any case)."""
    job = session.get_one(Job, job_id, with_for_update=True)
    if task_id is None:
        return job
    if job.status == "running" and job.task_id == task_id:
        return job
    # Finished already (this task's earlier commit whose answer was lost, or another task's),
    # or taken over by another task after the sweep found this one silent.
    return None


def complete_job(
    session: Session,
    job_id: uuid.UUID,
    *,
    params: dict[str, Any],
    fit: dict[str, Any],
    models: dict[str, Any],
    rig: str,
    loss_curve: list[Any],
    task_id: str | None = None,
) -> bool:
    """Store a successful fit's results on the job; False if `task_id` no longer holds it.

    A job reaches a finished state once: a task that lost its job (to the sweep and another
    task) does not overwrite the other task's answer.
    """
    job = _still_ours(session, job_id, task_id)
    if job is None:
        return False
    job.status = "succeeded"
    job.params = params
    job.fit = fit
    job.models = models
    job.rig = rig
    job.loss_curve = loss_curve
    job.finished_at = utcnow()
    job.error_code = job.error_message = None
    if fit.get("iterations") is not None:
        job.iteration = int(fit["iterations"])
    if fit.get("loss") is not None:
        job.loss = float(fit["loss"])
    if fit.get("similarity") is not None:
        job.similarity = float(fit["similarity"])
    # Last: storing version 1 flushes the job, which must reach its finished state in one
    # write (a job is finished exactly once, also in the database's own history).
    record_fit(session, job)
    return True


def fail_job(
    session: Session, job_id: uuid.UUID, code: str, message: str, *, task_id: str | None = None
) -> bool:
    """Store why a job failed (it stays failed); False if `task_id` no longer holds it."""
    job = _still_ours(session, job_id, task_id)
    if job is None:
        return False
    job.status = "failed"
    job.error_code = code
    job.error_message = message
    job.finished_at = utcnow()
    return True


def stale_jobs(
    session: Session, *, now: datetime, queued_for: timedelta, silent_for: timedelta
) -> list[Job]:
    """Jobs that look lost: queued for too long, or running with no heartbeat for too long."""
    return list(
        session.scalars(
            select(Job)
            .where(
                or_(
                    (Job.status == "queued")
                    & or_(Job.enqueued_at.is_(None), Job.enqueued_at < now - queued_for)
                    & (Job.created_at < now - queued_for),
                    (Job.status == "running")
                    & or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - silent_for),
                )
            )
            .order_by(Job.created_at)
            .limit(100)
        )
    )
