"""A job's parameter versions: the fit is version 1, every save adds the next one.

Saves are optimistic: the caller names the version its edit started from, and the save
wins only if that is still the newest (one compare-and-set UPDATE of `jobs.params_version`),
so two editors of the same job cannot silently overwrite each other. The caller commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Job, ParamVersion


class VersionConflict(Exception):
    """The edit started from a version that is no longer the newest."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the newest version is {current}")
        self.current = current


def record_fit(session: Session, job: Job) -> None:
    """Store the fit's parameters as version 1 (again, if a re-run replaced them)."""
    session.merge(ParamVersion(job_id=job.id, version=1, params=job.params, author="fit"))
    job.params_version = max(job.params_version or 1, 1)


def save_version(
    session: Session, job_id: uuid.UUID, params: dict[str, Any], base_version: int, author: str
) -> int:
    """Add `params` as the version after `base_version`; VersionConflict if that is not the newest."""
    new = base_version + 1
    won = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.params_version == base_version)
        .values(params_version=new)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        current = session.scalar(select(Job.params_version).where(Job.id == job_id))
        raise VersionConflict(int(current or 1))
    session.add(ParamVersion(job_id=job_id, version=new, params=params, author=author))
    return new


def newest_params(session: Session, job: Job) -> dict[str, Any] | None:
    """The parameters of the job's newest version (the fit's if it was never edited)."""
    if job.params_version <= 1:
        return job.params
    row = session.get(ParamVersion, (job.id, job.params_version))
    return row.params if row is not None else job.params


def current_version(session: Session, job_id: uuid.UUID) -> int | None:
    """The job's newest version number, read alone (None: no such job)."""
    return session.scalar(select(Job.params_version).where(Job.id == job_id))


def list_versions(session: Session, job_id: uuid.UUID) -> list[ParamVersion]:
    return list(
        session.scalars(
            select(ParamVersion).where(ParamVersion.job_id == job_id).order_by(ParamVersion.version)
        )
    )
