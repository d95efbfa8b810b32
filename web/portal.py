"""The player portal: upload a photo, watch the fit, then shape the result in the editor."""

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

from db import versions
from db.models import Job, ResultImage
from facefit.errors import IntakeError
from facefit.rig.spec import load_spec
from web.db import get_session
from web.editing import save_edit
from web.errors import ApiError
from web.jobs import find_job, job_document, read_upload, submit_job
from web.previews import glb_response, params_from_query
from web.sliders import loss_curve_svg_points, option_rows, render_query, slider_groups
from web.vendor import vendor_module

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
    """The editor: the character drawn by the rig, its controls, the fit's details folded."""
    job = _own_job(job_id)
    if job.status != "succeeded":
        return redirect(url_for("portal.job_page", job_id=job.id))
    fitted = job.params or {}
    params = versions.newest_params(get_session(), job) or fitted
    return render_template(
        "result.html",
        job=job,
        version=job.params_version,
        groups=slider_groups(params, fitted),
        option_rows=option_rows(params, fitted, (job.fit or {}).get("runner_ups")),
        picture_query=render_query(params),
        curve=loss_curve_svg_points(job.loss_curve or []),
        has_preview=get_session().get(ResultImage, (job.id, "preview")) is not None,
    )


@bp.post("/j/<uuid:job_id>/params")
def save_params(job_id: uuid.UUID):
    """The editor's save: the edit as the next version (CSRF token in the X-CSRFToken header)."""
    job = _own_job(job_id)
    return jsonify(save_edit(get_session(), job, request.get_json(silent=True), author="player"))


@bp.get("/j/<uuid:job_id>/render.webp")
def render_picture(job_id: uuid.UUID):
    """The rig's picture of the parameters in the query (`c`, `d`, size `s`), for the editor."""
    _own_job(job_id)
    limiter = current_app.extensions["facefit.limiter"]
    player = session.get("player") or request.remote_addr
    limiter.hit(f"render:{player}", current_app.config["RENDERS_PER_MINUTE_PER_PLAYER"])
    pool = current_app.extensions["facefit.render_pool"]
    spec = load_spec()
    params = params_from_query(spec, request.args.get("c", ""), request.args.get("d", ""))
    size = request.args.get("s", 512, type=int)
    picture = pool.picture(params, size)
    # The same query always draws the same picture: undo and redo come from the cache.
    headers = {"Cache-Control": "private, max-age=86400", "Server-Timing": pool.server_timing()}
    return Response(picture, mimetype="image/webp", headers=headers)


@bp.get("/j/<uuid:job_id>/character.glb")
def character_glb(job_id: uuid.UUID):
    """The character in 3D: the newest saved version, or the editor's unsaved one (`c`, `d`)."""
    job = _own_job(job_id)
    if job.status != "succeeded":
        raise ApiError(404, "NOT_FOUND", "This job has no character (yet).")
    limiter = current_app.extensions["facefit.limiter"]
    player = session.get("player") or request.remote_addr
    limiter.hit(f"render:{player}", current_app.config["RENDERS_PER_MINUTE_PER_PLAYER"])
    if "c" in request.args:
        params = params_from_query(load_spec(), request.args["c"], request.args.get("d", ""))
    else:
        params = versions.newest_params(get_session(), job)
    return glb_response(current_app.extensions["facefit.render_pool"].character(params), job)


@bp.get("/vendor/<path:path>")
def vendor(path: str):
    """Browser libraries installed from npm by `make setup` (see web/vendor.py)."""
    return vendor_module(path)


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
    document = {
        "rig": job.rig,
        "version": job.params_version,
        "params": versions.newest_params(get_session(), job),
        "fitted_params": job.params,
        "fit": job.fit,
        "models": job.models,
    }
    return Response(
        json.dumps(document, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="params-{job.id}.json"'},
    )
