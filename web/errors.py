"""One JSON error shape with a stable `code`, and the handlers that produce it."""

from __future__ import annotations

import logging

import sqlalchemy.exc
from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from facefit.errors import IntakeError

log = logging.getLogger(__name__)

# The intake codes of `facefit.align.inspect_image`, as HTTP statuses.
INTAKE_STATUS = {"FILE_TOO_LARGE": 413, "UNSUPPORTED_FORMAT": 415}
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
}
# The database restarting or unreachable: the request is worth repeating in a few seconds.
DATABASE_UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
)


class ApiError(Exception):
    """An error a client can act on: HTTP status, stable code, message, optional headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    """`{"error": {"code", "message"}}` for API clients, a small page for the portal's pages."""
    if request.blueprint == "portal" and request.accept_mimetypes.accept_html:
        body = render_template("error.html", code=code, message=message)
        return body, status, headers or {}
    response = jsonify(error={"code": code, "message": message})
    return response, status, headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(IntakeError)
    def intake_error(exc: IntakeError):
        return error_response(INTAKE_STATUS.get(exc.code, 422), exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, "CSRF_FAILED", exc.description)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status, "HTTP_ERROR")
        message = exc.description or exc.name
        if status == 413:
            limit = app.config["MAX_CONTENT_LENGTH"] // 2**20
            message = f"The request is larger than {limit} MB."
        # Werkzeug's own headers (405's Allow, RFC 9110 15.5.6), without its HTML content type.
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(status, code, message, headers)

    def database_unavailable(exc: sqlalchemy.exc.SQLAlchemyError):
        # No traceback in the log either: one line per request while the database is away.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(
            503,
            "UNAVAILABLE",
            "The service is briefly unavailable; please try again in a few seconds.",
            {"Retry-After": "5"},
        )

    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, database_unavailable)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")
