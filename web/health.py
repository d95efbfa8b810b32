"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: database and broker)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from web.db import get_session
from web.queue import broker_reachable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    try:
        get_session().execute(text("SELECT 1"))
        database = True
    except SQLAlchemyError:
        database = False
    broker = broker_reachable()
    ready = database and broker
    checks = {"database": "ok" if database else "down", "broker": "ok" if broker else "down"}
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
