"""Saving a player's or game server's edit of a job's parameters as a new version.

Shared by the portal's editor and the API. Every value is checked against the rig's spec
before anything is stored; a save based on an older version than the newest is refused, so
two open editors cannot silently overwrite each other.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from db import versions
from db.models import Job
from facefit.errors import SpecError
from facefit.rig.spec import load_spec
from web.errors import ApiError
from web.jobs import announce_job_update


def checked_params(job: Job, base: dict[str, Any], body: Any) -> dict[str, Any]:
    """`body`'s parameters on top of `base` (names it omits keep their value), as the rig's
    canonical document; INVALID_PARAMS (422) naming the first bad value."""
    if not isinstance(body, dict):
        raise ApiError(422, "INVALID_PARAMS", "params must be an object {continuous, discrete}.")
    unknown = set(body) - {"rig", "continuous", "discrete"}
    if unknown:
        raise ApiError(422, "INVALID_PARAMS", f"unknown parameter sections: {sorted(unknown)}")
    merged: dict[str, Any] = {"rig": body.get("rig", job.rig)}
    for section in ("continuous", "discrete"):
        given = body.get(section) or {}
        if not isinstance(given, dict):
            raise ApiError(422, "INVALID_PARAMS", f'"{section}" must be an object {{name: value}}.')
        merged[section] = {**(base.get(section) or {}), **given}
    spec = load_spec()
    if job.rig and job.rig != spec.rig_id:
        raise ApiError(
            409,
            "RIG_MISMATCH",
            f"This job was fitted for rig {job.rig!r}; this site draws "
            f"{spec.rig_id!r}, so its parameters cannot be checked here.",
        )
    try:
        return spec.decode(spec.encode(merged))
    except SpecError as exc:
        raise ApiError(422, "INVALID_PARAMS", exc.message) from exc


def parse_save_request(body: Any) -> tuple[int, Any]:
    """(base_version, params) of a save request `{"base_version": N, "params": {...}}`."""
    if not isinstance(body, dict):
        raise ApiError(400, "BAD_REQUEST", 'Send JSON {"base_version": N, "params": {...}}.')
    base = body.get("base_version")
    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        raise ApiError(400, "BAD_REQUEST", "base_version must be the version number you edited.")
    return base, body.get("params")


def save_edit(session: Session, job: Job, body: Any, author: str) -> dict[str, Any]:
    """Validate and store an edit; the new `{"version", "params"}`, after commit and notice."""
    if job.status != "succeeded":
        raise ApiError(409, "NOT_EDITABLE", "Only a finished, successful fit can be edited.")
    base_version, raw = parse_save_request(body)
    base = versions.newest_params(session, job) or {}
    params = checked_params(job, base, raw)
    try:
        version = versions.save_version(session, job.id, params, base_version, author)
    except versions.VersionConflict as exc:
        session.rollback()
        raise ApiError(
            409,
            "VERSION_CONFLICT",
            f"Version {exc.current} was saved after the version {base_version} this edit "
            "started from; reload it and edit again.",
        ) from exc
    session.commit()
    announce_saved(session, job, version)
    return {"id": str(job.id), "version": version, "params": params}


def announce_saved(session: Session, job: Job, version: int) -> None:
    """Tell every web process's cache, and the game server if it asked for callbacks."""
    finished = current_app.extensions["facefit.finished_jobs"]
    finished.forget(job.id)
    finished.edited.saved(job.id, version)
    announce_job_update(session, job)  # a signed job.updated callback, if the job has a URL
