"""gunicorn's settings for the web app, one file for `make run`, docker compose and the image.

The address comes from the command line (`--bind`): a unix socket under var/ that only the
edge (nginx, deploy/nginx/) connects to in `make run`, the compose network's port 8000 in
docker compose. The edge holds slow clients, buffers whole request bodies and enforces the
header limits, so that a gunicorn thread only ever sees a complete request.
"""

import json
import os

from gunicorn import util

# gthread: keep-alive connections and a thread per request waiting on PostgreSQL (see the
# Service section of docs/benchmarks.md: 2.5x the requests per second of sync workers).
worker_class = "gthread"
workers = int(os.environ.get("FACEFIT_WEB_WORKERS", "2"))
threads = int(os.environ.get("FACEFIT_WEB_THREADS", "4"))
timeout = 60
# A stop (Ctrl-C on `make run`, `docker compose stop`) waits this long for requests in flight;
# requests take milliseconds; the edge answers 503 UNAVAILABLE (JSON) for the rest.
graceful_timeout = 2
# No control socket: it would be one path in $HOME shared by every gunicorn of the user.
control_socket_disable = True
# Behind the edge (FACEFIT_PROXY_HOPS set), the edge logs each request with the client's
# address, and also the requests it answers itself; gunicorn would only see the edge's socket.
accesslog = None if int(os.environ.get("FACEFIT_PROXY_HOPS") or 0) else "-"
# The edge's limits are smaller (deploy/nginx/facefit.conf.template: a request line or one
# header over 4 KiB, 16 KiB of headers in all), so that it answers first and in JSON; these
# are gunicorn's maxima, never reached behind it.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 32768
# Forwarded headers are the app's business (FACEFIT_PROXY_HOPS, ProxyFix), not gunicorn's:
# with its default, any local client could claim https.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""

CODES = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    414: "URI_TOO_LONG",
    417: "EXPECTATION_FAILED",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answers (a request it cannot parse) in the service's JSON shape."""
    code = CODES.get(status_int, "BAD_REQUEST" if status_int < 500 else "INTERNAL_ERROR")
    body = json.dumps({"error": {"code": code, "message": mesg or reason}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# Where gunicorn runs without the edge, its 400/414/431 answers are JSON too (it writes them
# through this one function: gunicorn/workers/base.py, handle_error).
util.write_error = write_json_error


def post_worker_init(worker) -> None:
    """Each web process makes the editor's renderers as it starts, in the background: its
    first picture would otherwise wait 1.3 s for an OpenGL context, shaders and meshes."""
    import threading

    pool = worker.wsgi.extensions.get("facefit.render_pool")
    if pool is not None:
        threading.Thread(target=pool.warm, name="warm-renderers", daemon=True).start()
