"""Nobody reads what is not theirs: tokens, ownership, rate limits, body limits, headers, CSRF.

The limits are checked through gunicorn with two processes, as the service runs, over
loopback (127.0.0.x addresses stand for different players).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text

from db import clients
from db.models import ApiClient, Job
from db.session import make_engine, make_session_factory
from db.urls import database_url
from tests.conftest import ROOT, face_photo, faceless_photo, migrate, service_env


def new_token(pg_service, name: str | None = None) -> str:
    """A new API client's token (what `flask token create` does, without a process start)."""
    with pg_service.sessions().begin() as session:
        return clients.create_client(session, name or f"game-{uuid.uuid4().hex[:8]}")[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_gunicorn(service_vars: dict[str, str], log_dir):
    """The web app under gunicorn as `make run` starts it, with small upload limits per minute."""
    port = free_port()
    env = {
        **os.environ,
        **service_vars,
        "SECRET_KEY": secrets.token_hex(32),
        "FACEFIT_JOBS_PER_MINUTE_PER_CLIENT": "5",
        "FACEFIT_JOBS_PER_MINUTE_PER_IP": "3",
    }
    log = (log_dir / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--worker-class", "gthread", "--threads", "4", "--timeout", "60", "--reuse-port",
         "web:create_app()"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_for_port(port, process)
    return port, process


@pytest.fixture(scope="module")
def gunicorn(pg_service, tmp_path_factory):
    port, process = start_gunicorn(pg_service.env, tmp_path_factory.mktemp("gunicorn"))
    yield port
    stop(process)


@pytest.fixture(scope="module")
def embedded_gunicorn(tmp_path_factory):
    """The same on the embedded defaults (`make run` without Redis): SQLite, filesystem broker."""
    var_dir = tmp_path_factory.mktemp("embedded-var")
    env = service_env("", "", var_dir, "test-unconsumed") | {"BROKER_URL": ""}
    migrate(database_url(None, var_dir))
    port, process = start_gunicorn(env, var_dir)
    yield port, database_url(None, var_dir)
    stop(process)


def request(port, method, path, *, body=b"", headers=None, source="127.0.0.1"):
    """(status, headers, body) over a new connection from `source` (a loopback address)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def multipart(fields: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + photo
        + b"\r\n"
    )
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def api_upload(port, token, source="127.0.0.1"):
    body, content_type = multipart({}, faceless_photo())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    return request(port, "POST", "/jobs", body=body, headers=headers, source=source)


def portal_upload(port, source):
    """What a browser does: load the form (cookie + CSRF token), then post the photo."""
    status, headers, page = request(port, "GET", "/", source=source)
    assert status == 200
    cookie = headers["set-cookie"].split(";", 1)[0]
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    body, content_type = multipart({"csrf_token": csrf}, faceless_photo())
    headers = {"Cookie": cookie, "Content-Type": content_type, "Accept": "text/html"}
    return request(port, "POST", "/upload", body=body, headers=headers, source=source)


# --- tokens ----------------------------------------------------------------------------


def test_tokens_are_stored_only_as_their_sha256(pg_service):
    name = f"game-{uuid.uuid4().hex[:6]}"
    token = pg_service.create_token(name)
    assert token.startswith("ff_") and len(token) >= 40
    with pg_service.sessions()() as session:
        row = session.scalar(select(ApiClient).where(ApiClient.name == name))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        dump = session.execute(text("SELECT * FROM api_clients")).all()
    assert token not in repr(dump) and token[3:] not in repr(dump)


def test_tokens_are_compared_in_constant_time(pg_service, monkeypatch):
    """The stored digest is checked with hmac.compare_digest, after the indexed lookup."""
    compared = []
    real = clients.hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(clients.hmac, "compare_digest", compare_digest)
    token = new_token(pg_service)
    with pg_service.sessions()() as session:
        assert clients.client_for_token(session, token) is not None
        assert clients.client_for_token(session, token + "x") is None
    digest = clients.hash_token(token)
    assert compared == [(digest, digest)]


def test_revocation_takes_effect_in_every_web_process_at_once(pg_service, gunicorn):
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    token = pg_service.create_token(name)
    status, _, body = api_upload(gunicorn, token)
    assert status == 202
    job_path = f"/jobs/{json.loads(body)['id']}"
    auth = {"Authorization": f"Bearer {token}"}
    # Two processes: each answers some of these requests.
    assert {request(gunicorn, "GET", job_path, headers=auth)[0] for _ in range(6)} == {200}
    runner = pg_service.create_app().test_cli_runner()
    assert runner.invoke(args=["token", "revoke", name]).exit_code == 0
    assert {request(gunicorn, "GET", job_path, headers=auth)[0] for _ in range(6)} == {401}


# --- ownership -------------------------------------------------------------------------


def test_job_ids_are_random_uuid4(pg_service):
    client = pg_service.create_app().test_client()
    token = new_token(pg_service)
    ids = [
        client.post(
            "/jobs",
            headers={"Authorization": f"Bearer {token}"},
            data={"photo": (io.BytesIO(faceless_photo()), "p.png")},
        ).get_json()["id"]
        for _ in range(5)
    ]
    assert len(set(ids)) == 5 and all(uuid.UUID(i).version == 4 for i in ids)


def test_players_see_only_their_own_jobs(pg_service):
    app = pg_service.create_app(WTF_CSRF_ENABLED=False)
    alice, bob = app.test_client(), app.test_client()
    response = alice.post("/upload", data={"photo": (io.BytesIO(face_photo()), "me.jpg")})
    assert response.status_code == 303
    job_path = response.headers["Location"]
    job_id = job_path.rsplit("/", 1)[1]
    paths = [job_path, *(f"{job_path}/{p}" for p in ("status.json", "photo", "result",
             "aligned.png", "preview.png", "params.json"))]  # fmt: skip
    assert alice.get(f"{job_path}/status.json").status_code == 200
    for path in paths:
        assert bob.get(path).status_code == 404, path
    # A game server's token does not open a player's job either, nor a player a server's.
    token = new_token(pg_service)
    assert (
        app.test_client()
        .get(f"/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 404
    )
    server_job = (
        app.test_client()
        .post(
            "/jobs",
            headers={"Authorization": f"Bearer {token}"},
            data={"photo": (io.BytesIO(faceless_photo()), "p.png")},
        )
        .get_json()["id"]
    )
    assert alice.get(f"/j/{server_job}/status.json").status_code == 404
    with pg_service.sessions()() as session:
        owner = session.get_one(Job, uuid.UUID(job_id)).portal_key_hash
    assert owner and owner not in job_path  # the session id never appears in a URL


# --- limits ----------------------------------------------------------------------------


def test_uploads_are_rate_limited_per_client_across_web_processes(pg_service, gunicorn):
    token = new_token(pg_service)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api_upload(gunicorn, token), range(8)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [202] * 5 + [429] * 3  # 5 a minute for the site, not per process
    for status, headers, body in answers:
        if status == 429:
            assert json.loads(body)["error"]["code"] == "RATE_LIMITED"
            assert 1 <= int(headers["retry-after"]) <= 60
    other = new_token(pg_service)
    assert api_upload(gunicorn, other)[0] == 202  # another client has its own allowance


def test_without_redis_the_limit_holds_across_web_processes(embedded_gunicorn):
    """Two gunicorn workers on SQLite and the filesystem broker: 5 a minute, not 5 each."""
    port, database = embedded_gunicorn
    with make_session_factory(make_engine(database)).begin() as session:
        token = clients.create_client(session, "game")[1]
    with ThreadPoolExecutor(6) as pool:  # a new connection each: both workers answer
        statuses = sorted(pool.map(lambda _: api_upload(port, token)[0], range(12)))
    assert statuses == [202] * 5 + [429] * 7


def test_with_redis_down_the_processes_of_a_host_share_one_count(pg_service):
    """Two web processes whose Redis does not answer: they count together in var/."""
    processes = [
        pg_service.create_app(BROKER_URL="redis://127.0.0.1:1/0", JOBS_PER_MINUTE_PER_CLIENT=3)
        for _ in range(2)
    ]
    token = new_token(pg_service)
    statuses = [
        processes[i % 2]
        .test_client()
        .post("/jobs", headers={"Authorization": f"Bearer {token}"},
              data={"photo": (io.BytesIO(faceless_photo()), "p.png")})
        .status_code
        for i in range(5)
    ]  # fmt: skip
    assert statuses == [202, 202, 202, 429, 429]


def test_portal_uploads_are_rate_limited_per_ip(gunicorn):
    player = f"127.0.0.{secrets.randbelow(200) + 20}"
    statuses = [portal_upload(gunicorn, player)[0] for _ in range(4)]
    assert statuses == [303, 303, 303, 429]
    status, headers, page = portal_upload(gunicorn, player)
    assert status == 429 and int(headers["retry-after"]) >= 1 and b"RATE_LIMITED" in page
    assert portal_upload(gunicorn, "127.0.0.2")[0] == 303  # another address is not limited


@pytest.mark.parametrize("path", ["/jobs", "/upload"])
def test_an_oversized_body_is_refused_before_it_is_sent(pg_service, gunicorn, path):
    """A 100 MB Content-Length is answered 413 while the client has sent only the headers."""
    token = new_token(pg_service)
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nAccept: application/json\r\n"
            f"Content-Length: {100 * 2**20}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body[body.index(b"{") :])["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "headers",
    [{"X-Long": "a" * 20_000}, {f"X-H{i}": "v" for i in range(200)}],
    ids=["one-20-kB-header", "200-headers"],
)
def test_over_long_headers_are_refused_without_a_server_error(gunicorn, headers):
    status, _, _ = request(gunicorn, "GET", "/healthz", headers=headers)
    assert 400 <= status < 500
    assert request(gunicorn, "GET", "/healthz")[0] == 200


# --- pages -----------------------------------------------------------------------------


def test_html_pages_carry_security_headers_and_safe_cookies(gunicorn):
    status, headers, _ = request(gunicorn, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_the_upload_form_needs_its_csrf_token(gunicorn):
    body, content_type = multipart({}, faceless_photo())
    status, _, page = request(
        gunicorn, "POST", "/upload", body=body,
        headers={"Content-Type": content_type, "Accept": "text/html"}, source="127.0.0.3",
    )  # fmt: skip
    assert status == 400 and b"CSRF_FAILED" in page
    body, content_type = multipart({"csrf_token": "forged"}, faceless_photo())
    status, _, page = request(
        gunicorn, "POST", "/upload", body=body,
        headers={"Content-Type": content_type, "Cookie": "session=forged"}, source="127.0.0.3",
    )  # fmt: skip
    assert status == 400 and b"CSRF_FAILED" in page
    assert portal_upload(gunicorn, "127.0.0.3")[0] == 303


# --- Flower and secrets ----------------------------------------------------------------


def test_flower_reads_its_password_from_the_environment(pg_service, tmp_path):
    """As `make run` and compose start it: FLOWER_BASIC_AUTH in its environment, not on its
    command line. (Every page, /metrics included, behind the edge: tests/e2e/test_edge.py.)"""
    run_sh = (ROOT / "tools" / "run.sh").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "--basic-auth" not in run_sh
    assert 'test -n \\"$$FLOWER_BASIC_AUTH\\"' in compose
    port, password = free_port(), secrets.token_urlsafe(12)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.app", "flower", "--address=127.0.0.1",
         f"--port={port}", "--persistent=False", "--loglevel=warning"],
        env={**os.environ, **pg_service.env, "FLOWER_BASIC_AUTH": f"admin:{password}"}, cwd=ROOT,
        stdout=(tmp_path / "flower.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, process)
        assert request(port, "GET", "/")[0] == 401
        assert request(port, "GET", "/api/workers")[0] == 401
        wrong = "Basic " + __import__("base64").b64encode(b"admin:guess").decode()
        assert request(port, "GET", "/", headers={"Authorization": wrong})[0] == 401
        right = "Basic " + __import__("base64").b64encode(f"admin:{password}".encode()).decode()
        assert request(port, "GET", "/", headers={"Authorization": right})[0] == 200
    finally:
        stop(process)


SECRET_PATTERNS = {
    "private key": rb"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "API token": rb"\bff_[A-Za-z0-9_-]{40,}",
    "AWS key": rb"\bAKIA[0-9A-Z]{16}\b",
    "secret assigned a literal": rb"(?i)(secret_key|password|api_key)\s*[:=]\s*['\"][^'\"$\s{]{12,}['\"]",
    "URL with a password": rb"://[A-Za-z0-9_]+:[A-Za-z0-9_%]{8,}@",
}


def test_no_secrets_in_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file() or path.stat().st_size > 2**20:
            continue
        content = path.read_bytes()
        found += [f"{name.decode()}: {what}" for what, pattern in SECRET_PATTERNS.items()
                  if re.search(pattern, content)]  # fmt: skip
    assert not found, found
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "var/" in ignored  # the development secret key and Flower password live there


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "SECRET_KEY, DATABASE_URL, BROKER_URL not set"),
        ({"SECRET_KEY": "k" * 64, "BROKER_URL": "redis://r/0"}, "DATABASE_URL not set"),
        ({"SECRET_KEY": "short", "DATABASE_URL": "postgresql://u:" + "hunter2" * 2 + "@db/f",
          "BROKER_URL": "redis://r/0"}, "SECRET_KEY is shorter than 32 characters"),
    ],
    ids=["nothing", "no-database", "short-key"],
)  # fmt: skip
def test_production_names_what_is_missing_and_never_a_value(tmp_path, env, missing):
    from web.settings import SettingsError, WebSettings

    with pytest.raises(SettingsError) as refused:
        WebSettings.from_env({"FACEFIT_ENV": "production", "FACEFIT_VAR_DIR": str(tmp_path), **env})
    assert missing in str(refused.value)
    assert "hunter2" not in str(refused.value)
    assert not (tmp_path / "secret_key").exists()  # no generated key in production
