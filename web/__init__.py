"""Flask application factory: the player portal and the game-server JSON API."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from facefit.logs import configure_logging
from facefit.settings import keep_private
from web.settings import SettingsError, WebSettings

csrf = CSRFProtect()

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # blob: the editor shows each picture from the bytes it fetched (web/static/editor.js).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
}

HSTS_MAX_AGE = 2 * 365 * 24 * 3600  # two years, as hstspreload.org asks


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, minus a signing serializer built for every request.

    A request without a session cookie (every game-server API call) gets the empty session
    Flask would give it, without building the serializer first (opening the session was 8%
    of a web worker's CPU under a flood of polls, now 3%).
    """

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def proxy_hops(value: str | None) -> int:
    """FACEFIT_PROXY_HOPS: how many proxies in front of the app set X-Forwarded-* (0: none)."""
    try:
        hops = int(value or 0)
    except ValueError:
        hops = -1
    if hops < 0:
        raise SettingsError(f"FACEFIT_PROXY_HOPS must be a whole number >= 0, not {value!r}")
    return hops


def trust_proxies(app: Flask, hops: int) -> None:
    """Client address and scheme from the last `hops` X-Forwarded-For/-Proto entries.

    Per-IP rate limits, logs and secure cookies need the client's address and scheme, which
    behind the edge only its X-Forwarded-* headers carry. Without a proxy (0, the default)
    those headers are whatever a client chose to send, and are ignored.
    """
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Defaults from the environment (`WebSettings`), then `FLASK_*` variables, then the test config."""
    settings = WebSettings.from_env()
    keep_private(settings.var_dir)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.session_interface = SessionInterface()
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        BROKER_URL=settings.broker_url,
        BROKER_TRANSPORT_OPTIONS=settings.broker_options,
        FIT_QUEUE=settings.fit_queue,
        WEBHOOK_QUEUE=settings.webhook_queue,
        # The 15 MB photo limit of intake plus room for the multipart envelope.
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        MAX_UPLOAD_FILE_BYTES=15 * 1024 * 1024,
        JOBS_PER_MINUTE_PER_CLIENT=settings.jobs_per_minute_per_client,
        JOBS_PER_MINUTE_PER_IP=settings.jobs_per_minute_per_ip,
        # The editor's pictures, counted by cost (`web.previews.render_cost`: a 512 px
        # picture 4, a thumbnail 1): 600 large pictures a minute, the CPU time of about half
        # a core. A player changing something every 2 s spends about 1,200 (a slider drag
        # asks for a few pictures, then the 21 thumbnails are drawn again); a script cannot
        # keep the web processes' renderers busy.
        RENDER_COST_PER_MINUTE_PER_PLAYER=2400,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        FACEFIT_VAR_DIR=settings.var_dir,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        PROXY_HOPS=proxy_hops(os.environ.get("FACEFIT_PROXY_HOPS")),
    )
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)

    from web import (
        api,
        auth,
        db,
        errors,
        health,
        jobs,
        limits,
        portal,
        previews,
        queue,
        site_redis,
        webhook_commands,
    )
    from webhooks.destinations import CallbackPolicy

    db.init_app(app)
    queue.init_app(app)
    shared = site_redis.connect(app.config["BROKER_URL"])
    app.extensions["facefit.limiter"] = limits.make_limiter(
        shared, app.config["DATABASE_URL"], app.config["FACEFIT_VAR_DIR"]
    )
    app.extensions["facefit.finished_jobs"] = jobs.FinishedJobDocuments(jobs.EditedJobs(shared))
    app.extensions["facefit.job_keys"] = jobs.JobKeys()
    app.extensions["facefit.render_pool"] = previews.RenderPool()
    app.extensions["facefit.tokens"] = auth.make_token_cache(shared)
    app.extensions["facefit.callback_policy"] = CallbackPolicy.from_env()
    csrf.init_app(app)
    csrf.exempt(api.bp)  # game servers authenticate with a bearer token, not a cookie
    errors.register_error_handlers(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(auth.commands)
    app.register_blueprint(webhook_commands.commands)

    headers = dict(SECURITY_HEADERS)
    if settings.env == "production":
        # Production is served over HTTPS (the session cookie is Secure): browsers that saw it
        # once never try plain HTTP again, on any response, errors included.
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE}; includeSubDomains"

    trust_proxies(app, app.config["PROXY_HOPS"])

    @app.after_request
    def security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    return app
