"""The player portal: upload a photo, watch the fit, see and download the result."""

from __future__ import annotations

import json
import secrets
import uuid

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from db.models import Job, ResultImage
from facefit.errors import IntakeError
from web.db import get_session
from web.errors import ApiError
from web.jobs import find_job, job_document, read_upload, submit_job
from web.sliders import discrete_choices, loss_curve_svg_points, slider_groups

bp = Blueprint("portal", __name__)


def _player() -> str:
    """This browser's id; the jobs it uploaded are the jobs it may see."""
    if "player" not in session:
        session["player"] = secrets.token_hex(16)
        session.permanent = True
    return session["player"]


def _own_job(job_id: uuid.UUID) -> Job:
    return find_job(get_session(), job_id, player_session=session.get("player"))


@bp.get("/")
def upload_page():
    return render_template("upload.html", max_bytes=current_app.config["MAX_UPLOAD_FILE_BYTES"])


@bp.post("/upload")
def upload():
    limiter = current_app.extensions["facefit.limiter"]
    try:
        limiter.hit(f"ip:{request.remote_addr}", current_app.config["JOBS_PER_MINUTE_PER_IP"])
        upload = read_upload(request.files.get("photo"))
    except (ApiError, IntakeError) as exc:
        status = getattr(exc, "status", 422)
        page = render_template(
            "upload.html",
            max_bytes=current_app.config["MAX_UPLOAD_FILE_BYTES"],
            error={"code": exc.code, "message": exc.message},
        )
        return page, status, getattr(exc, "headers", {})
    job = submit_job(get_session(), upload, player_session=_player())
    return redirect(url_for("portal.job_page", job_id=job.id), code=303)


@bp.get("/j/<uuid:job_id>")
def job_page(job_id: uuid.UUID):
    job = _own_job(job_id)
    if job.status == "succeeded":
        return redirect(url_for("portal.result_page", job_id=job.id))
    return render_template("job.html", job=job, doc=job_document(job))


@bp.get("/j/<uuid:job_id>/status.json")
def job_status(job_id: uuid.UUID):
    return jsonify(job_document(_own_job(job_id)))


@bp.get("/j/<uuid:job_id>/result")
def result_page(job_id: uuid.UUID):
    job = _own_job(job_id)
    if job.status != "succeeded":
        return redirect(url_for("portal.job_page", job_id=job.id))
    params = job.params or {}
    return render_template(
        "result.html",
        job=job,
        groups=slider_groups(params),
        choices=discrete_choices(params),
        curve=loss_curve_svg_points(job.loss_curve or []),
        has_preview=get_session().get(ResultImage, (job.id, "preview")) is not None,
    )


@bp.get("/j/<uuid:job_id>/photo")
def photo(job_id: uuid.UUID):
    job = _own_job(job_id)
    return Response(job.photo.content, mimetype=job.photo.media_type)


@bp.get("/j/<uuid:job_id>/<any(aligned, preview):kind>.png")
def image(job_id: uuid.UUID, kind: str):
    _own_job(job_id)
    image = get_session().get(ResultImage, (job_id, kind))
    if image is None:
        raise ApiError(404, "NOT_FOUND", f"This job has no {kind} image (yet).")
    return Response(image.content, mimetype=image.media_type)


@bp.get("/j/<uuid:job_id>/params.json")
def params_download(job_id: uuid.UUID):
    job = _own_job(job_id)
    if job.status != "succeeded":
        raise ApiError(404, "NOT_FOUND", "This job has no parameters (yet).")
    document = {"rig": job.rig, "params": job.params, "fit": job.fit, "models": job.models}
    return Response(
        json.dumps(document, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="params-{job.id}.json"'},
    )
