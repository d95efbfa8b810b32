"""The game-server JSON API: submit a photo, poll the job, fetch the preview, see callbacks."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from db import versions
from db import webhooks as webhook_store
from db.models import ResultImage
from web.auth import require_client
from web.db import get_session
from web.editing import save_edit
from web.errors import ApiError
from web.jobs import (
    check_callback_url,
    delivery_document,
    find_job,
    job_document,
    read_upload,
    send_webhook_attempts,
    submit_job,
)
from web.openapi import openapi_document
from web.previews import glb_response

bp = Blueprint("api", __name__)


@bp.post("/jobs")
@require_client
def create_job():
    limiter = current_app.extensions["facefit.limiter"]
    limiter.hit(f"client:{g.client.id}", current_app.config["JOBS_PER_MINUTE_PER_CLIENT"])
    upload = read_upload(request.files.get("photo"))
    callback_url = check_callback_url(request.form.get("callback_url"))
    job = submit_job(get_session(), upload, client_id=g.client.id, callback_url=callback_url)
    status_url = url_for("api.get_job", job_id=job.id)
    body = {"id": str(job.id), "status": job.status, "status_url": status_url}
    return jsonify(body), 202, {"Location": status_url}


@bp.get("/jobs/<uuid:job_id>")
@require_client
def get_job(job_id: uuid.UUID):
    finished = current_app.extensions["facefit.finished_jobs"]
    owner = ("client_id", g.client.id)
    body = finished.get(job_id, owner, _version_in_database)
    if body is None:
        job = find_job(get_session(), job_id, client_id=g.client.id)
        body = jsonify(job_document(job)).get_data()
        finished.put(job, owner, body)
    return Response(body, mimetype="application/json")


def _version_in_database(job_id: uuid.UUID) -> int | None:
    return versions.current_version(get_session(), job_id)


@bp.put("/jobs/<uuid:job_id>/params")
@require_client
def save_params(job_id: uuid.UUID):
    """Save edited parameters as the job's next version (409 if `base_version` is not the newest)."""
    session = get_session()
    job = find_job(session, job_id, client_id=g.client.id)
    return jsonify(save_edit(session, job, request.get_json(silent=True), author="client"))


@bp.get("/jobs/<uuid:job_id>/versions")
@require_client
def list_versions(job_id: uuid.UUID):
    session = get_session()
    find_job(session, job_id, client_id=g.client.id)
    rows = versions.list_versions(session, job_id)
    body = [
        {"version": r.version, "author": r.author, "created_at": r.created_at.isoformat(),
         "params": r.params}
        for r in rows
    ]  # fmt: skip
    return jsonify({"id": str(job_id), "versions": body})


@bp.get("/jobs/<uuid:job_id>/character.glb")
@require_client
def character_glb(job_id: uuid.UUID):
    """The newest version's character as binary glTF 2.0."""
    session = get_session()
    job = find_job(session, job_id, client_id=g.client.id)
    if job.status != "succeeded":
        raise ApiError(404, "NOT_FOUND", "This job has no character (yet).")
    pool = current_app.extensions["facefit.render_pool"]
    return glb_response(pool.character(versions.newest_params(session, job)), job)


@bp.get("/jobs/<uuid:job_id>/preview.png")
@require_client
def preview(job_id: uuid.UUID):
    session = get_session()
    find_job(session, job_id, client_id=g.client.id)
    image = session.get(ResultImage, (job_id, "preview"))
    if image is None:
        raise ApiError(404, "NOT_FOUND", "This job has no preview (yet).")
    return Response(image.content, mimetype=image.media_type)


@bp.get("/jobs/<uuid:job_id>/deliveries")
@require_client
def deliveries(job_id: uuid.UUID):
    session = get_session()
    find_job(session, job_id, client_id=g.client.id)
    events = webhook_store.job_events(session, job_id)
    return jsonify(deliveries=[delivery_document(event) for event in events])


@bp.post("/jobs/<uuid:job_id>/deliveries/<webhook_id>/redeliver")
@require_client
def redeliver(job_id: uuid.UUID, webhook_id: str):
    """One more attempt of a callback event (same `webhook-id`), now."""
    session = get_session()
    find_job(session, job_id, client_id=g.client.id)
    event = webhook_store.redeliver(session, job_id, webhook_id)
    if event is None:
        raise ApiError(404, "NOT_FOUND", "This job has no such callback.")
    session.commit()
    send_webhook_attempts(session, [(event.id, event.attempts + 1)])
    return jsonify(delivery_document(event)), 202


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
