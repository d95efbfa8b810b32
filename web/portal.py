"""The player portal: upload a photo, watch the fit, then shape the result in the editor.

Who may see a job: the browser that uploaded it. Each upload makes a new random key; the
browser keeps it in its signed session cookie (the last `KEYS_KEPT` of them) and the job row
keeps only its sha256. A job is shown to a request whose session holds its key, and to no
other: not to a request without a cookie, not to another browser, and never a job that a game
server created through the API (it has no key, and absence matches nothing, `find_job`).

Why a key per upload rather than a player id: a session cookie planted in a victim's browser
(session fixation) is a copy the planter keeps; the victim's later uploads add keys that only
the victim's cookie holds, so the planter's copy opens none of them. Nothing to rotate, and
the database keeps only digests: a copy of it opens no portal page.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterable

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
from db.clients import hash_token
from db.models import Job, ResultImage
from facefit.errors import IntakeError
from facefit.rig.spec import load_spec
from web.db import get_session
from web.editing import save_edit
from web.errors import ApiError
from web.jobs import find_job, job_document, read_upload, submit_job
from web.previews import (
    PICTURE_SIZE,
    SIZES,
    glb_response,
    params_from_query,
    render_cost,
    server_timing,
)
from web.sliders import loss_curve_svg_points, option_rows, render_query, slider_groups
from web.vendor import vendor_module

bp = Blueprint("portal", __name__)


# Each upload adds a 43-character key to the session cookie: 16 keep it near 1.5 kB, well
# under the 4 kB a browser keeps per cookie. An older job's page is then closed to the browser.
KEYS_KEPT = 16


def _session_keys() -> list[str]:
    keys = session.get("portal_keys")
    return [key for key in keys if isinstance(key, str)] if isinstance(keys, list) else []


def _new_job_key() -> str:
    """A fresh key for one upload, kept in this browser's session (the newest `KEYS_KEPT`)."""
    key = secrets.token_urlsafe(32)
    session["portal_keys"] = [*_session_keys(), key][-KEYS_KEPT:]
    session.permanent = True
    return key


def _key_digests(keys: Iterable[str]) -> frozenset[str]:
    """What a job row stores of its key (sha256: the keys are 256 random bits, like tokens)."""
    return frozenset(hash_token(key) for key in keys)


def _own_job(job_id: uuid.UUID) -> Job:
    return find_job(get_session(), job_id, portal_key_hash=_key_digests(_session_keys()))


def _spend_render(key: str, size: int) -> None:
    """A picture's cost of the player's render budget (the job's key stands for its player)."""
    limiter = current_app.extensions["facefit.limiter"]
    budget = current_app.config["RENDER_COST_PER_MINUTE_PER_PLAYER"]
    limiter.hit(f"render:{key}", budget, render_cost(size))


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
    job = submit_job(get_session(), upload, portal_key_hash=hash_token(_new_job_key()))
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
        # the query in the order the editor's script writes it: one URL, one cached picture
        picture_url=url_for(
            "portal.render_picture", job_id=job.id, **render_query(params), s=PICTURE_SIZE
        ),
        sizes=SIZES,
        curve=loss_curve_svg_points(job.loss_curve or []),
        has_preview=get_session().get(ResultImage, (job.id, "preview")) is not None,
    )


@bp.post("/j/<uuid:job_id>/params")
def save_params(job_id: uuid.UUID):
    """The editor's save: the edit as the next version (CSRF token in the X-CSRFToken header)."""
    job = _own_job(job_id)
    return jsonify(save_edit(get_session(), job, request.get_json(silent=True), author="player"))


@bp.get("/j/<uuid:job_id>/render.jpg")
def render_picture(job_id: uuid.UUID):
    """The rig's picture of the parameters in the query (`c`, `d`, size `s`), for the editor."""
    started = time.perf_counter()
    job_keys = current_app.extensions["facefit.job_keys"]
    key = job_keys.owned_key(get_session(), job_id, _key_digests(_session_keys()))
    looked_up = time.perf_counter()
    size = request.args.get("s", PICTURE_SIZE, type=int)
    _spend_render(key, size)
    spent = time.perf_counter()
    params = params_from_query(load_spec(), request.args.get("c", ""), request.args.get("d", ""))
    picture = current_app.extensions["facefit.render_pool"].picture(params, size)
    timing = {"job": looked_up - started, "limit": spent - looked_up, **picture.timing}
    timing["app"] = time.perf_counter() - started
    # The same query always draws the same picture: undo and redo come from the cache.
    headers = {"Cache-Control": "private, max-age=86400", "Server-Timing": server_timing(timing)}
    return Response(picture.content, mimetype="image/jpeg", headers=headers)


@bp.get("/j/<uuid:job_id>/character.glb")
def character_glb(job_id: uuid.UUID):
    """The character in 3D: the newest saved version, or the editor's unsaved one (`c`, `d`)."""
    job = _own_job(job_id)
    if job.status != "succeeded":
        raise ApiError(404, "NOT_FOUND", "This job has no character (yet).")
    _spend_render(job.portal_key_hash, 512)
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
