"""The game-server API on PostgreSQL and Redis: auth, validation, error codes, queueing."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid

import pytest
import redis
from sqlalchemy import func, select

from db import jobs as job_store
from db.clients import Caller, client_for_token, hash_token
from db.models import Job
from tests.conftest import ROOT, face_photo, faceless_photo, forget_queue

UNCONSUMED = "test-unconsumed-" + uuid.uuid4().hex[:8]  # a queue no worker reads


@pytest.fixture(scope="module", autouse=True)
def unconsumed_queue(redis_url):
    yield
    forget_queue(redis_url, UNCONSUMED)


@pytest.fixture(scope="module")
def token(pg_service) -> str:
    return pg_service.create_token()


@pytest.fixture
def app(pg_service):
    return pg_service.create_app(FIT_QUEUE=UNCONSUMED)


@pytest.fixture
def client(app):
    return app.test_client()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, content: bytes, **extra):
    data = {"photo": (io.BytesIO(content), "upload.bin"), **extra}
    return client.post("/jobs", headers=auth(token), data=data)


def count_jobs(pg_service) -> int:
    with pg_service.sessions()() as session:
        return session.scalar(select(func.count()).select_from(Job))


def test_post_jobs_commits_the_row_then_queues_the_task(client, token, pg_service, redis_url):
    queue = redis.Redis.from_url(redis_url)
    queue.delete(UNCONSUMED)
    response = upload(client, token, face_photo())
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and body["status_url"] == f"/jobs/{body['id']}"
    assert response.headers["Location"] == body["status_url"]
    with pg_service.sessions()() as session:
        job = session.get_one(Job, uuid.UUID(body["id"]))
        assert job.enqueued_at is not None and job.photo.media_type == "image/jpeg"
        assert job.photo.content == face_photo()
    assert queue.llen(UNCONSUMED) == 1  # the message, sent by name to the configured queue
    job = client.get(body["status_url"], headers=auth(token)).get_json()
    assert job["status"] == "queued" and job["params"] is None and job["error"] is None
    assert set(job) >= {"id", "status", "progress", "params", "fit", "error", "rig", "models"}
    queue.delete(UNCONSUMED)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dXNlcjpwdw=="}],
    ids=["none", "unknown-token", "basic"],
)
def test_requests_without_a_valid_token_are_unauthorized(client, headers):
    for response in (
        client.post("/jobs", headers=headers, data={"photo": (io.BytesIO(face_photo()), "a.jpg")}),
        client.get(f"/jobs/{uuid.uuid4()}", headers=headers),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working(pg_service, client):
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    token = pg_service.create_token(name)
    assert client.get(f"/jobs/{uuid.uuid4()}", headers=auth(token)).status_code == 404
    runner = pg_service.create_app().test_cli_runner()
    assert runner.invoke(args=["token", "revoke", name]).exit_code == 0
    assert client.get(f"/jobs/{uuid.uuid4()}", headers=auth(token)).status_code == 401


def test_a_revocation_reaches_a_process_that_cached_the_token(pg_service):
    """Two web processes sharing Redis: one has the token cached, the other revokes it."""
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    token = pg_service.create_token(name)
    serving, revoking = pg_service.create_app(), pg_service.create_app()
    client = serving.test_client()
    assert client.get(f"/jobs/{uuid.uuid4()}", headers=auth(token)).status_code == 404
    assert hash_token(token) in serving.extensions["facefit.tokens"]._entries  # cached
    assert revoking.test_cli_runner().invoke(args=["token", "revoke", name]).exit_code == 0
    assert client.get(f"/jobs/{uuid.uuid4()}", headers=auth(token)).status_code == 401
    assert hash_token(token) not in serving.extensions["facefit.tokens"]._entries


def test_a_revocation_redis_does_not_hear_of_fails_loudly_yet_holds(pg_service):
    """Revoked in the database all the same; the operator learns that caches may lag."""
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    token = pg_service.create_token(name)
    cli = pg_service.create_app(BROKER_URL="redis://127.0.0.1:1/0").test_cli_runner()
    result = cli.invoke(args=["token", "revoke", name])
    assert result.exit_code == 1 and "revoked in the database" in result.output
    client = pg_service.create_app().test_client()
    assert client.get(f"/jobs/{uuid.uuid4()}", headers=auth(token)).status_code == 401


def test_a_poll_of_a_cached_finished_job_needs_no_database(pg_service, monkeypatch):
    """Token and finished job cached: no session is opened; ownership is still checked."""
    token, other = pg_service.create_token(), pg_service.create_token()
    app = pg_service.create_app()
    client = app.test_client()
    with pg_service.sessions().begin() as session:
        owner = client_for_token(session, token).id
        job = job_store.create_job(
            session, job_store.PhotoUpload(faceless_photo(), "image/png", 64, 64), client_id=owner
        )
        job_store.fail_job(session, job.id, "NO_FACE", "No face in the photo.")
    path = f"/jobs/{job.id}"
    first = client.get(path, headers=auth(token))
    assert first.status_code == 200 and first.get_json()["status"] == "failed"
    assert client.get(path, headers=auth(other)).status_code == 404  # both tokens now cached

    def no_database():
        raise AssertionError("a database session was opened")

    monkeypatch.setattr("web.auth.get_session", no_database)
    monkeypatch.setattr("web.api.get_session", no_database)
    again = client.get(path, headers=auth(token))
    assert again.status_code == 200 and again.get_data() == first.get_data()
    refused = client.get(path, headers=auth(other))
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "NOT_FOUND"


def test_the_token_cache_asks_the_database_when_redis_cannot_say(redis_url):
    from web import site_redis
    from web.auth import REVOCATION_EPOCH_KEY, TokenCache

    caller = Caller(id=1, name="game")
    lookups = []

    def lookup():
        lookups.append(1)
        return caller

    down = TokenCache(site_redis.connect("redis://127.0.0.1:1/0"))  # nothing listens there
    assert [down.caller("t", lookup) for _ in range(2)] == [caller, caller]
    assert len(lookups) == 2 and not down._entries
    # Redis loses the key (restart without its file): entries filled before are not trusted.
    cache = TokenCache(site_redis.connect(redis_url))
    cache.caller("t", lookup)
    cache.caller("t", lookup)
    assert len(lookups) == 3
    redis.Redis.from_url(redis_url).delete(REVOCATION_EPOCH_KEY)
    cache.caller("t", lookup)
    assert len(lookups) == 4


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 422, "EMPTY_FILE"),
        (b"just some text, not a photo", 415, "UNSUPPORTED_FORMAT"),
        (b"GIF89a" + b"\0" * 64, 415, "UNSUPPORTED_FORMAT"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 422, "CORRUPT_IMAGE"),
    ],
    ids=["empty", "text", "gif", "broken-png"],
)
def test_bad_uploads_are_refused_before_anything_is_queued(
    client, token, pg_service, content, status, code
):
    before = count_jobs(pg_service)
    response = upload(client, token, content)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert count_jobs(pg_service) == before


def test_a_missing_photo_field_or_bad_callback_is_a_bad_request(client, token):
    response = client.post("/jobs", headers=auth(token), data={"picture": (io.BytesIO(b"x"), "a")})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "BAD_REQUEST"
    response = upload(client, token, face_photo(), callback_url="file:///etc/passwd")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "CALLBACK_URL_INVALID"


def test_a_body_over_the_limit_is_payload_too_large(pg_service, token):
    client = pg_service.create_app(MAX_CONTENT_LENGTH=64 * 1024, FIT_QUEUE=UNCONSUMED).test_client()
    response = upload(client, token, b"\xff\xd8\xff" + b"\0" * 100_000)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_jobs_of_other_clients_and_unknown_ids_are_not_found(client, token, pg_service):
    job_id = upload(client, token, faceless_photo()).get_json()["id"]
    other = pg_service.create_token()
    for path in (
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/preview.png",
        f"/jobs/{uuid.uuid4()}",
        "/jobs/42",
    ):
        response = client.get(path, headers=auth(other))
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "NOT_FOUND"
    assert client.get(f"/jobs/{job_id}", headers=auth(token)).status_code == 200


def test_too_many_jobs_per_minute_are_rate_limited(pg_service):
    token = pg_service.create_token()  # counts are per client and shared by all web processes
    client = pg_service.create_app(JOBS_PER_MINUTE_PER_CLIENT=2, FIT_QUEUE=UNCONSUMED).test_client()
    assert [upload(client, token, faceless_photo()).status_code for _ in range(2)] == [202, 202]
    response = upload(client, token, faceless_photo())
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_health_readiness_and_openapi(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {
        "database": "ok",
        "broker": "ok",
    }
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/jobs", "/jobs/{id}", "/jobs/{id}/preview.png"} <= set(spec["paths"])
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_with_the_broker_down_uploads_still_queue_and_readyz_says_so(pg_service, token):
    app = pg_service.create_app(BROKER_URL="redis://127.0.0.1:1/0", FIT_QUEUE=UNCONSUMED)
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    response = upload(client, token, faceless_photo())
    assert response.status_code == 202  # kept: the worker's sweep sends it once the broker is back
    with pg_service.sessions()() as session:
        job = session.get_one(Job, uuid.UUID(response.get_json()["id"]))
        assert job.status == "queued" and job.enqueued_at is None


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    from web.settings import SettingsError, WebSettings

    with pytest.raises(SettingsError, match="SECRET_KEY"):
        WebSettings.from_env({"FACEFIT_ENV": "production", "FACEFIT_VAR_DIR": str(tmp_path)})
    settings = WebSettings.from_env({"FACEFIT_VAR_DIR": str(tmp_path)})
    assert len(settings.secret_key) >= 32
    assert (
        WebSettings.from_env({"FACEFIT_VAR_DIR": str(tmp_path)}).secret_key == settings.secret_key
    )


def test_the_web_process_never_imports_torch_or_dlib(pg_service):
    code = (
        "import sys; from web import create_app; app = create_app(); c = app.test_client();"
        "c.get('/'); c.get('/openapi.json');"
        "bad = [m for m in ('torch', 'dlib') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    env = {**__import__("os").environ, **pg_service.env}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
