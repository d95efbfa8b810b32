"""The worker's tasks: fit one job, and sweep up jobs a lost message or dead worker left behind.

Like a view, a task handles ids, state and retries; alignment and fitting live in `facefit`
(through `worker.pipeline`), state changes in `db.jobs`. No transaction stays open while a
photo is aligned or fitted.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy.orm import Session, sessionmaker

from db import jobs as job_store
from db import webhooks as webhook_store
from db.models import Job, Photo, utcnow
from facefit.errors import FacefitError
from worker import deliveries, pipeline
from worker.app import session_factory, settings
from worker.writes import DATABASE_ERRORS, TRANSIENT_ERRORS, write_with_retry

log = logging.getLogger(__name__)


class ProgressReporter:
    """The `on_step` callback: job row and task state, at most once per `interval` seconds."""

    def __init__(
        self, task: Task, sessions: sessionmaker[Session], job_id: uuid.UUID, interval: float
    ) -> None:
        self.task, self.sessions, self.job_id, self.interval = task, sessions, job_id, interval
        self.max_iterations: int | None = settings.fit_max_iters
        self._last = 0.0
        self._database_down = False

    def __call__(self, iteration: int, loss: float, similarity: float) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        try:
            with self.sessions.begin() as session:
                job_store.record_progress(
                    session,
                    self.job_id,
                    iteration=iteration,
                    max_iterations=self.max_iterations,
                    loss=float(loss),
                    similarity=float(similarity),
                )
            self._database_down = False
        except DATABASE_ERRORS as exc:
            # Progress is for watching; the fit goes on and the result write waits for the
            # database. One line per outage, not one per step.
            if not self._database_down:
                log.warning("job %s: progress not stored: %s", self.job_id, type(exc).__name__)
            self._database_down = True
        if self.task.request.id:
            meta = {"job_id": str(self.job_id), "iteration": iteration, "loss": float(loss)}
            try:
                self.task.update_state(state="PROGRESS", meta=meta | {"similarity": similarity})
            except Exception as exc:  # noqa: BLE001  (monitoring only: never fail a fit for it)
                log.warning("could not publish task progress: %s", exc)


class FitJobTask(Task):
    """The class of `fit_job`: a fit killed at the hard time limit still gets its answer."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Called in the worker's main process after the pool killed the fitting process at
        # the hard limit; that process had no chance to store anything. Failed, not retried:
        # a photo whose fit hung once would most likely hang again.
        if not isinstance(exc, TimeLimitExceeded):
            return
        job_id = args[0] if args else kwargs.get("job_id")
        message = f"the fit was stopped at the hard time limit of {settings.time_limit} s"
        try:
            _fail(session_factory(), uuid.UUID(job_id), "TIMEOUT", message, task_id, retry_for=10)
        except DATABASE_ERRORS as exc:
            # The sweep finds the job silent and sends it again (up to FACEFIT_MAX_ATTEMPTS).
            log.error("job %s: could not store TIMEOUT: %s", job_id, exc)


@shared_task(
    bind=True,
    base=FitJobTask,
    name="fit_job",
    # Expected outcomes (a bad photo, no engine): logged without a traceback, still a FAILURE.
    throws=(FacefitError,),
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def fit_job(self: Task, job_id: str) -> str:
    """Align and fit a job's photo and store the results; re-running overwrites the same row."""
    jid = uuid.UUID(job_id)
    task_id = self.request.id or job_id
    sessions = session_factory()
    stale_before = utcnow() - timedelta(seconds=settings.stale_after)

    def claim(session: Session) -> bytes | None:
        if not job_store.claim_job(session, jid, task_id, stale_before):
            return None
        return session.get_one(Photo, jid).content

    photo = write_with_retry(sessions, claim, f"job {job_id}: claim")
    if photo is None:
        log.info("job %s is finished or running elsewhere; nothing to do", job_id)
        return "skipped"
    log.info("job %s: fitting (attempt by task %s)", job_id, task_id)
    progress = ProgressReporter(self, sessions, jid, settings.progress_interval)
    try:
        aligned, aligned_png = pipeline.align(photo)
        write_with_retry(
            sessions,
            lambda session: job_store.store_image(session, jid, "aligned", aligned_png),
            f"job {job_id}: aligned image",
        )
        outcome = pipeline.fit(
            aligned,
            settings.core,
            mode=settings.fit_mode,
            threshold=settings.fit_threshold,
            max_iters=settings.fit_max_iters,
            on_step=progress,
        )
    except FacefitError as exc:  # a bad photo, or no fitting engine: the job's answer
        _fail(sessions, jid, exc.code, exc.message, task_id)
        raise
    except SoftTimeLimitExceeded:
        _fail(sessions, jid, "TIMEOUT", f"the fit took over {settings.soft_time_limit} s", task_id)
        raise
    except TRANSIENT_ERRORS:
        raise  # retried with backoff; the row stays `running` for this task id
    except Exception as exc:
        _fail(sessions, jid, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", task_id)
        raise

    def complete(session: Session) -> bool:
        if not job_store.complete_job(
            session,
            jid,
            task_id=task_id,
            params=outcome.params,
            fit=outcome.fit,
            models=outcome.models,
            rig=outcome.rig,
            loss_curve=outcome.loss_curve,
        ):
            return False
        job_store.store_image(session, jid, "preview", outcome.preview_png)
        job = session.get_one(Job, jid)
        if outcome.max_iterations is not None:
            job.max_iterations = outcome.max_iterations
        webhook_store.record_job_event(session, job, "job.succeeded")  # committed with the result
        return True

    if not write_with_retry(sessions, complete, f"job {job_id}: result"):
        log.warning("job %s: finished or taken over by another task; result discarded", job_id)
        return "discarded"
    _notify(sessions, jid)
    return "succeeded"


def _fail(
    sessions: sessionmaker[Session],
    job_id: uuid.UUID,
    code: str,
    message: str,
    task_id: str | None = None,
    retry_for: float | None = None,
) -> None:
    log.info("job %s failed: %s %s", job_id, code, message)

    def fail(session: Session) -> bool:
        if not job_store.fail_job(session, job_id, code, message, task_id=task_id):
            return False
        webhook_store.record_job_event(session, session.get_one(Job, job_id), "job.failed")
        return True

    stored = write_with_retry(sessions, fail, f"job {job_id}: error {code}", retry_for=retry_for)
    if stored:
        _notify(sessions, job_id)


def _notify(sessions: sessionmaker[Session], job_id: uuid.UUID) -> None:
    """Hand the job's callback events, committed with its result, to the webhook workers."""
    try:
        with sessions() as session:
            event_ids = webhook_store.unsent_events(session, job_id)
    except DATABASE_ERRORS as exc:  # the events are stored: the webhook sweep sends them
        log.warning("job %s: callbacks left to the sweep, database unavailable: %s", job_id, exc)
        return
    deliveries.send_first_attempts(sessions, event_ids)


@shared_task(bind=True, name="sweep_stale_jobs")
def sweep_stale_jobs(self: Task) -> dict[str, int]:
    """Re-enqueue jobs a lost message or a dead worker left `queued` or `running`."""
    sessions = session_factory()
    stale = timedelta(seconds=settings.stale_after)
    requeue: list[uuid.UUID] = []
    failed: list[uuid.UUID] = []
    with sessions.begin() as session:
        for job in job_store.stale_jobs(session, now=utcnow(), queued_for=stale, silent_for=stale):
            if job.attempts >= settings.max_attempts:
                job_store.fail_job(
                    session, job.id, "WORKER_LOST", f"gave up after {job.attempts} attempts"
                )
                webhook_store.record_job_event(session, job, "job.failed")
                failed.append(job.id)
            else:
                job.status = "queued"
                requeue.append(job.id)
    # Committed first, then sent: a task never finds its job in an older state.
    for job_id in requeue:
        self.app.send_task("fit_job", args=[str(job_id)], queue=settings.fit_queue)
        with sessions.begin() as session:
            job_store.mark_enqueued(session, job_id)
    for job_id in failed:
        _notify(sessions, job_id)
    if requeue or failed:
        log.warning("sweep: re-enqueued %d lost job(s), gave up on %d", len(requeue), len(failed))
    return {"requeued": len(requeue), "failed": len(failed)}
