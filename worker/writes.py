"""One database write in its own transaction, repeated while the database is away.

Shared by the fitting tasks (`worker.tasks`) and the callback deliveries (`worker.deliveries`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import kombu.exceptions
import sqlalchemy.exc
from sqlalchemy.orm import Session, sessionmaker

from worker.app import settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# The database restarting or a dropped connection: a write is worth repeating.
DATABASE_ERRORS = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)
# Worth another try of the whole task with backoff: the database or broker restarting.
TRANSIENT_ERRORS = (*DATABASE_ERRORS, kombu.exceptions.OperationalError)


def write_with_retry(
    sessions: sessionmaker[Session],
    step: Callable[[Session], T],
    what: str,
    retry_for: float | None = None,
) -> T:
    """Run one write in its own transaction, repeating it while the database is away.

    A fit costs seconds to minutes; a database restart of a few seconds must not cost it.
    After `retry_for` seconds (`FACEFIT_WRITE_RETRY_S`) the error is raised and the task is
    retried by Celery. Every step is safe to repeat: a commit whose answer was lost is found
    done on the next try.
    """
    deadline = time.monotonic() + (settings.write_retry_s if retry_for is None else retry_for)
    delay = 0.25
    while True:
        try:
            with sessions.begin() as session:
                return step(session)
        except DATABASE_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "%s: database unavailable (%s); retrying in %.2f s",
                what,
                type(exc.orig or exc).__name__,
                delay,
            )
            time.sleep(delay)
            delay = min(2 * delay, 4.0)
