"""Upload over HTTP, a real Celery worker on PostgreSQL and Redis, results from GET /jobs/<id>."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from celery import Celery

from db import jobs as job_store
from db.clients import client_for_token
from db.models import Job, ResultImage, utcnow
from tests.conftest import (
    LiveServer,
    assert_fit_outcome,
    face_photo,
    faceless_photo,
    http,
    http_json,
    wait_for_job,
)


@pytest.fixture(scope="module")
def live(pg_service):
    server = LiveServer(pg_service.create_app())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token(pg_service) -> str:
    return pg_service.create_token()


def submit(live, token, content: bytes) -> str:
    status, _, body = http_json(
        "POST", f"{live.url}/jobs", token=token, files={"photo": ("p", content, "image/jpeg")}
    )
    assert status == 202, body
    return body["id"]


def test_a_face_photo_goes_from_upload_to_result(live, token, pg_service):
    job_id = submit(live, token, face_photo())
    job = wait_for_job(live.url, job_id, token)
    assert_fit_outcome(job)
    assert job["progress"]["attempts"] == 1
    with pg_service.sessions()() as session:
        aligned = session.get(ResultImage, (uuid.UUID(job_id), "aligned"))
        assert aligned is not None and aligned.content.startswith(b"\x89PNG")  # real alignment ran
    status, headers, body = http("GET", f"{live.url}/jobs/{job_id}/preview.png", token=token)
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:4] == b"\x89PNG"


def test_a_photo_without_a_face_fails_with_NO_FACE(live, token):
    job = wait_for_job(live.url, submit(live, token, faceless_photo()), token)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "NO_FACE" and job["params"] is None


def test_a_finished_job_sent_again_is_left_as_it_is(live, token, pg_service, redis_url):
    job_id = submit(live, token, faceless_photo())
    first = wait_for_job(live.url, job_id, token)
    producer = Celery(broker=redis_url, set_as_current=False)
    producer.send_task("fit_job", args=[job_id], queue=pg_service.queue)
    time.sleep(2)
    again = wait_for_job(live.url, job_id, token)
    assert again["finished_at"] == first["finished_at"]
    assert again["progress"]["attempts"] == first["progress"]["attempts"] == 1


def test_the_sweep_resends_a_job_whose_message_was_lost(live, token, pg_service, redis_url):
    sessions = pg_service.sessions()
    with sessions.begin() as session:  # a job committed, but its message never reached a worker
        owner = client_for_token(session, token).id
        job = job_store.create_job(session, _upload(faceless_photo()), client_id=owner)
        job.created_at = utcnow() - timedelta(hours=1)
        job_id = str(job.id)
    producer = Celery(broker=redis_url, set_as_current=False)
    producer.send_task("sweep_stale_jobs", queue=pg_service.queue)
    job = wait_for_job(live.url, job_id, token, timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "NO_FACE"  # it did run


def _upload(content: bytes) -> job_store.PhotoUpload:
    return job_store.PhotoUpload(content=content, media_type="image/png", width=320, height=320)


def test_the_job_row_holds_the_worker_metadata(live, token, pg_service):
    job_id = submit(live, token, faceless_photo())
    wait_for_job(live.url, job_id, token)
    with pg_service.sessions()() as session:
        job = session.get_one(Job, uuid.UUID(job_id))
        assert job.task_id and job.started_at and job.finished_at >= job.started_at
        assert len(job.photo_sha256) == 64
