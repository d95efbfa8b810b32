"""The request's database session, opened on first use and closed at the end of the request."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from db.session import make_engine, make_session_factory
from db.urls import normalize_database_url


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
    if session is not None:
        session.close()
