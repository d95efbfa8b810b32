"""The request's database session, opened on first use and closed at the end of the request."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db.session import make_engine, make_session_factory
from db.urls import normalize_database_url

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    engine = make_engine(normalize_database_url(app.config["DATABASE_URL"]))
    app.extensions["facefit.sessions"] = make_session_factory(engine)
    app.teardown_appcontext(close_session)


def get_session() -> Session:
    """The session of this request (or CLI command)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["facefit.sessions"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except SQLAlchemyError as exc:
        # The database went away during the request: the answer (a 503) is already made and
        # the pool drops the dead connection; a failing close must not turn it into a 500.
        log.warning("database session not closed cleanly: %s", exc)
