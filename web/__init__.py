"""Flask application factory: the player portal and the game-server JSON API."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Defaults, then `FLASK_*` environment variables, then the test config."""
    app = Flask(__name__)
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)

    @app.get("/healthz")
    def healthz():  # liveness only: the process answers
        return jsonify(status="ok")

    return app
