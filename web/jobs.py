"""Upload validation, job submission and the job document, shared by the API and the portal."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

import redis
from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session
from werkzeug.datastructures import FileStorage

from db import jobs as job_store
from db import webhooks as webhook_store
from db.models import Job, WebhookEvent
from db.versions import newest_params
from facefit.align.intake import inspect_image
from web.errors import ApiError
from web.queue import send_fit_job, send_webhook_attempt
from webhooks import destinations

log = logging.getLogger(__name__)

MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def read_upload(file: FileStorage | None) -> job_store.PhotoUpload:
    """The upload's bytes, checked from content and header (never the client's name or type)."""
    if file is None:
        raise ApiError(400, "BAD_REQUEST", "Send the photo in the multipart field `photo`.")
    content = file.read()
    info = inspect_image(content)  # IntakeError -> its code
    return job_store.PhotoUpload(
        content=content, media_type=MEDIA_TYPES[info.format], width=info.width, height=info.height
    )


def check_callback_url(url: str | None) -> str | None:
    """The URL if callbacks may go there (`webhooks.destinations`), else a 400 with its code.

    Checked here so that the game server hears at once; the worker checks again on the
    addresses it connects to.
    """
    if not url:
        return None
    policy: destinations.CallbackPolicy = current_app.extensions["facefit.callback_policy"]
    try:
        destinations.check_callback_url(url, policy)
    except destinations.CallbackUrlError as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    return url


def send_webhook_attempts(session: Session, attempts: list[tuple[str, int]]) -> None:
    """Queue committed attempts; one the broker does not take stays due for the sweep."""
    for event_id, number in attempts:
        try:
            send_webhook_attempt(event_id, number)
        except Exception as exc:  # noqa: BLE001  (broker down: the webhook sweep sends it)
            log.warning("webhook %s: could not reach the broker (%s)", event_id, exc)
            continue
        webhook_store.mark_enqueued(session, event_id)
        session.commit()


def announce_job_update(session: Session, job: Job) -> None:
    """Send `job.updated` to the job's callback URL, after a saved edit of its parameters.

    Call it once the edit is committed; the event is committed here, then queued.
    """
    event = webhook_store.record_job_event(session, job, "job.updated")
    session.commit()
    if event is not None:
        send_webhook_attempts(session, [(event.id, 1)])


def submit_job(session: Session, upload: job_store.PhotoUpload, **owner: Any) -> Job:
    """Commit the job row, then send the task: the worker always finds the job it is sent."""
    job = job_store.create_job(session, upload, **owner)
    session.commit()
    try:
        send_fit_job(job.id)
    except Exception as exc:  # noqa: BLE001  (broker down: the job stays queued for the sweep)
        log.warning("job %s: could not reach the broker (%s); the sweep will send it", job.id, exc)
        return job
    job_store.mark_enqueued(session, job.id)
    session.commit()
    return job


def find_job(session: Session, job_id: uuid.UUID, **owner: Any) -> Job:
    """The job if it belongs to `owner`, else NOT_FOUND.

    `owner` names the owner column and what it must hold: `client_id=<id>` (the API's caller)
    or `portal_key_hash=<set of sha256>` (the keys a portal browser holds). Absence never
    matches absence: an empty column, a None, an empty set or no `owner` at all matches
    nothing, so a job the API created (no portal key) is nobody's on the portal.
    """
    job = session.get(Job, job_id)
    if job is None or not owner or not all(_owns(getattr(job, c), v) for c, v in owner.items()):
        # The same answer for "no such job" and "not yours": ids are not to be probed.
        raise ApiError(404, "NOT_FOUND", "No such job.")
    return job


def _owns(stored: Any, wanted: Any) -> bool:
    if stored is None or stored == "" or wanted is None:
        return False
    if isinstance(wanted, set | frozenset):
        return stored in wanted
    return stored == wanted


class JobKeys:
    """Each job's portal key digest, remembered by a web process for the editor's pictures.

    A job gets its key when it is made and keeps it, so a remembered key is never stale, and
    a picture, which needs nothing else of the job, costs no database read (6 ms at the
    median and 36 ms at p95 on a loaded machine).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._keys: OrderedDict[uuid.UUID, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def owned_key(self, session: Session, job_id: uuid.UUID, held: frozenset[str]) -> str:
        """The job's key digest if it is one of the digests a browser `held`; else NOT_FOUND,
        as `find_job` answers."""
        with self._lock:
            known = job_id in self._keys
            key = self._keys.get(job_id)
        if not known:
            row = session.execute(select(Job.portal_key_hash).where(Job.id == job_id)).first()
            if row is None:  # not remembered: the id may yet be a job's (a commit in flight)
                raise ApiError(404, "NOT_FOUND", "No such job.")
            key = row[0]
            with self._lock:
                self._keys[job_id] = key
                while len(self._keys) > self.size:
                    self._keys.popitem(last=False)
        if not _owns(key, held):
            raise ApiError(404, "NOT_FOUND", "No such job.")
        return key


class EditedJobs:
    """The newest parameter version of every edited job, in the site's Redis for all processes.

    A save writes its new version number here after committing; a reader of a cached job
    document compares the version it holds with this one (one HGET), so a save in one web
    process reaches the caches of all the others at their next poll. A job missing here was
    never edited (version 1). Without Redis (embedded defaults, or Redis not answering) the
    database says (one indexed read of one column), never a possibly stale cache.
    """

    KEY = "facefit:job-versions"

    def __init__(self, client: redis.Redis | None) -> None:
        self.client = client

    def saved(self, job_id: uuid.UUID, version: int) -> None:
        if self.client is None:
            return
        try:
            self.client.hset(self.KEY, str(job_id), version)
        except redis.RedisError as exc:  # the cache entries' ttl bounds how long it is missed
            log.warning("job %s: version %s not announced in Redis (%s)", job_id, version, exc)

    def newest(self, job_id: uuid.UUID) -> int | None:
        """The job's newest version, or None when only the database can say."""
        if self.client is None:
            return None
        try:
            value = self.client.hget(self.KEY, str(job_id))
        except redis.RedisError:
            return None
        return int(value) if value is not None else 1


class FinishedJobDocuments:
    """`GET /jobs/<id>` bodies of finished jobs, kept in the memory of each web process.

    A job reaches a finished state once; after that only a saved edit changes its document
    (a new parameter version). So a game server polling a finished job needs neither its
    row nor a new serialisation, as long as the body's version is still the newest:
    `EditedJobs` says so without the database where Redis is there; else the hit costs a
    read of the version alone. Entries also expire after `ttl` seconds, the bound for a save
    whose announcement Redis lost. Ownership is checked on every hit.
    """

    def __init__(self, edited: EditedJobs | None = None, size: int = 4096, ttl: float = 60.0):
        self.size, self.ttl = size, ttl
        self.edited = edited or EditedJobs(None)
        self._bodies: OrderedDict[uuid.UUID, tuple[tuple[str, Any], bytes, int, float]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, job_id: uuid.UUID, owner: tuple[str, Any], version_in_database) -> bytes | None:
        """The cached body, None if not cached or outdated; NOT_FOUND if cached for another owner.

        `version_in_database(job_id)` is called only when Redis cannot tell the newest version.
        """
        with self._lock:
            entry = self._bodies.get(job_id)
            if entry is None:
                return None
            self._bodies.move_to_end(job_id)
        if entry[0] != owner:
            raise ApiError(404, "NOT_FOUND", "No such job.")
        newest = self.edited.newest(job_id)
        if newest is None:
            newest = version_in_database(job_id)
        if newest != entry[2] or time.monotonic() - entry[3] > self.ttl:
            self.forget(job_id)
            return None
        return entry[1]

    def put(self, job: Job, owner: tuple[str, Any], body: bytes) -> None:
        if not job.finished:
            return
        with self._lock:
            self._bodies[job.id] = (owner, body, job.params_version, time.monotonic())
            self._bodies.move_to_end(job.id)
            while len(self._bodies) > self.size:
                self._bodies.popitem(last=False)

    def forget(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._bodies.pop(job_id, None)


def _newest_params(job: Job) -> dict[str, Any] | None:
    if job.status != "succeeded":
        return None
    session = object_session(job)
    return newest_params(session, job) if session is not None else job.params


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def job_document(job: Job) -> dict[str, Any]:
    """The `GET /jobs/<id>` body, as documented in /openapi.json."""
    succeeded = job.status == "succeeded"
    return {
        "id": str(job.id),
        "status": job.status,
        "progress": {
            "iteration": job.iteration,
            "max_iterations": job.max_iterations,
            "loss": job.loss,
            "similarity": job.similarity,
            "attempts": job.attempts,
        },
        "params": _newest_params(job),
        "version": job.params_version if succeeded else None,
        "fitted_params": job.params if succeeded else None,
        "fit": job.fit if succeeded else None,
        "error": {"code": job.error_code, "message": job.error_message}
        if job.status == "failed"
        else None,
        "rig": job.rig,
        "models": job.models,
        "photo_sha256": job.photo_sha256,
        "preview_url": url_for("api.preview", job_id=job.id) if succeeded else None,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def delivery_document(event: WebhookEvent) -> dict[str, Any]:
    """One callback event and every attempt to deliver it, as `GET /jobs/<id>/deliveries` lists."""
    return {
        "webhook_id": event.id,
        "type": event.type,
        "state": event.state,
        "url": event.url,
        "created_at": _iso(event.created_at),
        "next_attempt_at": _iso(event.next_attempt_at) if event.state == "pending" else None,
        "attempts": [
            {
                "attempt": attempt.number,
                "attempted_at": _iso(attempt.attempted_at),
                "http_status": attempt.http_status,
                "error": attempt.error,
                "outcome": attempt.outcome,
                "next_attempt_at": _iso(attempt.next_attempt_at),
            }
            for attempt in event.attempt_log
        ],
    }
