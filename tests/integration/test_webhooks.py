"""Signed callbacks end to end: PostgreSQL, Redis, the fitting worker, a webhook worker on its
own queue, and a game server's receiver on loopback (admitted by the operator's allowlist).

Signatures are checked with the `standardwebhooks` package, as a game server would.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery import Celery
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from db import jobs as job_store
from db import webhooks as webhook_store
from db.clients import create_client
from db.models import ApiClient, Job
from tests.conftest import ROOT, face_photo, faceless_photo, start_worker, stop_worker
from web.db import get_session
from web.jobs import announce_job_update
from webhooks.destinations import CallbackPolicy
from webhooks.sending import post
from webhooks.signing import new_secret


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A game server's callback endpoint: answers each path from a script, records requests."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append(Received(self.path, headers, body, time.monotonic()))
                    script = receiver.scripts.get(self.path, [(200, {})])
                    status, extra = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def endpoint(self, *script: int | tuple[int, dict[str, str]]) -> str:
        """A fresh URL answering with `script` (statuses, or (status, headers)), last repeated."""
        path = f"/hooks/{uuid.uuid4().hex}"
        self.scripts[path] = [item if isinstance(item, tuple) else (item, {}) for item in script]
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, url: str, count: int = 1, timeout: float = 60.0) -> list[Received]:
        path = url.split(str(self.port), 1)[1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = [request for request in self.requests if request.path == path]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(got)} request(s) after {timeout} s, wanted {count}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def service(pg_service, receiver, tmp_path_factory):
    """The session's service, plus a webhook worker with a schedule of seconds."""
    env = {
        **pg_service.env,
        "FACEFIT_CALLBACK_ALLOW": f"127.0.0.1:{receiver.port}",
        "FACEFIT_WEBHOOK_RETRY_DELAYS": "1,1,1",
        "FACEFIT_WEBHOOK_JITTER": "0",
        "FACEFIT_WEBHOOK_RETRY_AFTER_MAX": "4",
        "FACEFIT_WEBHOOK_TIMEOUT": "5",
    }
    log = tmp_path_factory.mktemp("webhooks") / "webhook-worker.log"
    worker = start_worker(env, env["FACEFIT_WEBHOOK_QUEUE"], log)
    yield dataclasses.replace(pg_service, env=env)
    stop_worker(worker)


@pytest.fixture(scope="module")
def client(service):
    """A test client of the web app (`client.application`), with room for many uploads."""
    return service.create_app(JOBS_PER_MINUTE_PER_CLIENT=10_000).test_client()


@dataclasses.dataclass
class GameServer:
    name: str
    token: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_game_server(service) -> GameServer:
    with service.sessions().begin() as session:
        client, token = create_client(session, f"game-{uuid.uuid4().hex[:8]}")
        return GameServer(client.name, token, client.webhook_secret)


@pytest.fixture(scope="module")
def game(service) -> GameServer:
    return new_game_server(service)


def flask_command(service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "web", *args],
        env={**os.environ, **service.env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )


def submit(client, game: GameServer, callback_url: str, photo: bytes | None = None):
    return client.post(
        "/jobs",
        headers=game.auth,
        data={
            "photo": (io.BytesIO(photo or faceless_photo()), "p.png"),
            "callback_url": callback_url,
        },
    )


def submit_ok(client, game: GameServer, callback_url: str, photo: bytes | None = None) -> str:
    response = submit(client, game, callback_url, photo)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def deliveries(client, game: GameServer, job_id: str, until=None, timeout: float = 30.0):
    """`GET /jobs/<id>/deliveries`, polled until `until(body)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/jobs/{job_id}/deliveries", headers=game.auth)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()["deliveries"]
        if until is None or until(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def settled(body) -> bool:
    return bool(body) and all(event["state"] != "pending" for event in body)


def verify(secret: str, request: Received) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def test_a_finished_job_is_called_back_signed(client, game, receiver):
    url = receiver.endpoint(200)
    job_id = submit_ok(client, game, url, face_photo())
    (request,) = receiver.received(url)
    payload = verify(game.secret, request)
    assert payload == {"type": "job.succeeded", "job_id": job_id, "status": "succeeded"}
    assert json.loads(request.body) == payload and set(payload) == {"type", "job_id", "status"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.body, request.headers)
    (event,) = deliveries(client, game, job_id, until=settled)
    assert event["webhook_id"] == request.headers["webhook-id"]
    assert (event["type"], event["state"]) == ("job.succeeded", "delivered")
    assert [(a["attempt"], a["http_status"], a["outcome"]) for a in event["attempts"]] == [
        (1, 200, "delivered")
    ]


def test_a_failed_job_is_called_back_and_500s_are_retried(client, game, receiver):
    url = receiver.endpoint(500, 500, 200)
    job_id = submit_ok(client, game, url)
    requests = receiver.received(url, 3)
    ids = {request.headers["webhook-id"] for request in requests}
    assert len(ids) == 1  # one event, three attempts: the receiver can deduplicate
    for request in requests:
        assert verify(game.secret, request) == {
            "type": "job.failed",
            "job_id": job_id,
            "status": "failed",
        }
    assert all(
        later.at - earlier.at >= 0.9 for earlier, later in zip(requests, requests[1:], strict=False)
    )
    (event,) = deliveries(client, game, job_id, until=settled)
    attempts = [(a["attempt"], a["http_status"], a["outcome"]) for a in event["attempts"]]
    assert attempts == [(1, 500, "retrying"), (2, 500, "retrying"), (3, 200, "delivered")]
    assert event["attempts"][0]["error"].startswith("HTTP 500")
    assert event["attempts"][0]["next_attempt_at"] and event["state"] == "delivered"


def test_a_spent_schedule_fails_the_delivery(client, game, receiver):
    url = receiver.endpoint(503)
    job_id = submit_ok(client, game, url)
    receiver.received(url, 4)  # the first attempt and the schedule's three retries
    (event,) = deliveries(client, game, job_id, until=settled)
    assert event["state"] == "failed" and len(event["attempts"]) == 4
    assert event["attempts"][-1]["outcome"] == "failed"
    time.sleep(2)
    assert len(receiver.received(url, 4)) == 4


def test_retry_after_is_honoured_up_to_its_cap(client, game, receiver):
    url = receiver.endpoint((503, {"Retry-After": "3"}), (429, {"Retry-After": "3600"}), 200)
    job_id = submit_ok(client, game, url)
    first, second, third = receiver.received(url, 3, timeout=60)
    assert 2.9 <= second.at - first.at < 6  # the schedule says 1 s; the receiver asked for 3
    assert 3.9 <= third.at - second.at < 8  # asked for an hour, capped at 4 s in this test
    (event,) = deliveries(client, game, job_id, until=settled)
    assert event["state"] == "delivered"


def test_redirects_are_not_followed(client, game, receiver):
    elsewhere = receiver.endpoint(200)
    url = receiver.endpoint((302, {"Location": elsewhere}), (307, {"Location": elsewhere}), 200)
    job_id = submit_ok(client, game, url)
    receiver.received(url, 3)
    (event,) = deliveries(client, game, job_id, until=settled)
    attempts = [(a["http_status"], a["outcome"]) for a in event["attempts"]]
    assert attempts == [(302, "retrying"), (307, "retrying"), (200, "delivered")]
    assert "redirect not followed" in event["attempts"][0]["error"]
    with pytest.raises(AssertionError):
        receiver.received(elsewhere, timeout=0.5)


def test_410_gone_stops_retrying_and_a_redelivery_sends_the_same_event(client, game, receiver):
    url = receiver.endpoint(410, 200)
    job_id = submit_ok(client, game, url)
    (first,) = receiver.received(url)
    (event,) = deliveries(client, game, job_id, until=settled)
    assert event["state"] == "failed" and event["attempts"][0]["http_status"] == 410
    time.sleep(2.5)  # the schedule would have retried twice by now
    assert len(receiver.received(url)) == 1

    response = client.post(
        f"/jobs/{job_id}/deliveries/{event['webhook_id']}/redeliver", headers=game.auth
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["webhook_id"] == event["webhook_id"]
    _, again = receiver.received(url, 2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert verify(game.secret, again) == json.loads(first.body)
    (event,) = deliveries(client, game, job_id, until=lambda b: b[0]["state"] == "delivered")
    assert [(a["attempt"], a["http_status"]) for a in event["attempts"]] == [(1, 410), (2, 200)]


def test_deliveries_are_only_the_owners(client, game, service, receiver):
    job_id = submit_ok(client, game, receiver.endpoint(200))
    (event,) = deliveries(client, game, job_id, until=settled)
    other = new_game_server(service)
    read = f"/jobs/{job_id}/deliveries"
    resend = f"/jobs/{job_id}/deliveries/{event['webhook_id']}/redeliver"
    for headers, status in (({}, 401), ({"Authorization": "Bearer nope"}, 401), (other.auth, 404)):
        for response in (client.get(read, headers=headers), client.post(resend, headers=headers)):
            assert response.status_code == status
            assert response.get_json()["error"]["code"] == (
                "UNAUTHORIZED" if status == 401 else "NOT_FOUND"
            )
    for path in (
        f"/jobs/{uuid.uuid4()}/deliveries",
        f"/jobs/{job_id}/deliveries/msg_unknown/redeliver",
        f"/jobs/{uuid.uuid4()}/deliveries/{event['webhook_id']}/redeliver",
    ):
        method = client.post if path.endswith("redeliver") else client.get
        response = method(path, headers=game.auth)
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "NOT_FOUND")


def test_a_rotated_secret_overlaps_the_old_one(client, service, receiver):
    created = flask_command(service, "token", "create", f"game-{uuid.uuid4().hex[:8]}")
    first_secret = re.search(r"whsec_\S+", created.stderr).group(0)
    game = GameServer(created.stderr.split("'")[1], created.stdout.strip().splitlines()[-1], "")
    rotated = flask_command(service, "webhook", "rotate", game.name, "--overlap-hours", "1")
    second_secret = rotated.stdout.strip().splitlines()[-1]
    assert second_secret.startswith("whsec_") and second_secret != first_secret
    assert "two" in rotated.stderr

    url = receiver.endpoint(200)
    submit_ok(client, game, url)
    (request,) = receiver.received(url)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(first_secret, request)  # a game server not yet switched
    verify(second_secret, request)  # and one already switched

    third_secret = flask_command(
        service, "webhook", "rotate", game.name, "--overlap-hours", "0"
    ).stdout.split()[-1]
    url = receiver.endpoint(200)
    submit_ok(client, game, url)
    (request,) = receiver.received(url)
    verify(third_secret, request)
    for old in (first_secret, second_secret):
        with pytest.raises(WebhookVerificationError):
            verify(old, request)


def finished_job_with_callback(service, game: GameServer, url: str) -> Job:
    """A job that failed with a callback recorded and never sent, as when the broker is down."""
    with service.sessions().begin() as session:
        client_id = session.scalar(select(ApiClient.id).where(ApiClient.name == game.name))
        upload = job_store.PhotoUpload(faceless_photo(), "image/png", 320, 320)
        job = job_store.create_job(session, upload, client_id=client_id, callback_url=url)
        job_store.fail_job(session, job.id, "NO_FACE", "no face")
        webhook_store.record_job_event(session, job, "job.failed")
        return job


def test_a_callback_the_broker_never_got_is_sent_by_the_sweep(client, game, service, receiver):
    url = receiver.endpoint(200)
    job = finished_job_with_callback(service, game, url)
    with pytest.raises(AssertionError):
        receiver.received(url, timeout=1.5)  # nothing was queued
    beat = Celery(broker=service.env["BROKER_URL"], set_as_current=False)
    beat.send_task("sweep_webhooks", queue=service.env["FACEFIT_WEBHOOK_QUEUE"])
    (request,) = receiver.received(url)
    assert verify(game.secret, request) == {
        "type": "job.failed",
        "job_id": str(job.id),
        "status": "failed",
    }
    (event,) = deliveries(client, game, str(job.id), until=settled)
    assert event["state"] == "delivered"


def test_a_saved_edit_announces_job_updated(client, game, service, receiver):
    url = receiver.endpoint(200)
    job = finished_job_with_callback(service, game, url)
    with client.application.app_context():
        session = get_session()
        announce_job_update(session, session.get_one(Job, job.id))
    (update,) = receiver.received(url)  # the unsent job.failed waits for a sweep
    assert verify(game.secret, update) == {
        "type": "job.updated",
        "job_id": str(job.id),
        "status": "failed",
    }


def test_the_worker_checks_the_destination_again_when_it_connects(client, game, service, receiver):
    """A URL that names loopback by another name than the allowlisted one gets nothing."""
    url = f"http://localhost:{receiver.port}/hooks/{uuid.uuid4().hex}"
    job = finished_job_with_callback(service, game, url)  # stored as if checks had been passed
    Celery(broker=service.env["BROKER_URL"], set_as_current=False).send_task(
        "sweep_webhooks", queue=service.env["FACEFIT_WEBHOOK_QUEUE"]
    )
    (event,) = deliveries(client, game, str(job.id), until=lambda b: b[0]["attempts"])
    attempt = event["attempts"][0]
    assert attempt["http_status"] is None
    assert attempt["error"].startswith("CALLBACK_URL_FORBIDDEN"), attempt
    assert not [r for r in receiver.requests if r.path == url.split(str(receiver.port))[1]]
    # The same check on the function the worker connects with, outside the worker.
    result = post(url, b"{}", {}, CallbackPolicy(allow=frozenset({f"127.0.0.1:{receiver.port}"})))
    assert result.http_status is None and result.error.startswith("CALLBACK_URL_FORBIDDEN")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://[::1", "CALLBACK_URL_INVALID"),
        ("http://example.com/a b", "CALLBACK_URL_INVALID"),
        ("http://example.com/\x01", "CALLBACK_URL_INVALID"),
        ("http://example.com/\r\nX: y", "CALLBACK_URL_INVALID"),
        ("ftp://example.com/", "CALLBACK_URL_INVALID"),
        ("http://127.0.0.1/", "CALLBACK_URL_FORBIDDEN"),
        ("http://localhost/", "CALLBACK_URL_FORBIDDEN"),
        ("http://2130706433/", "CALLBACK_URL_FORBIDDEN"),
        ("http://0177.0.0.1/", "CALLBACK_URL_FORBIDDEN"),
        ("http://0x7f.1/", "CALLBACK_URL_FORBIDDEN"),
        ("http://[::1]/", "CALLBACK_URL_FORBIDDEN"),
        ("http://[::ffff:127.0.0.1]/", "CALLBACK_URL_FORBIDDEN"),
        ("http://169.254.169.254/latest/meta-data/", "CALLBACK_URL_FORBIDDEN"),
        ("http://10.1.2.3/", "CALLBACK_URL_FORBIDDEN"),
        ("http://100.64.0.1/", "CALLBACK_URL_FORBIDDEN"),
        ("http://[fe80::1]/", "CALLBACK_URL_FORBIDDEN"),
        ("http://224.0.0.1/", "CALLBACK_URL_FORBIDDEN"),
        ("http://0.0.0.0/", "CALLBACK_URL_FORBIDDEN"),
        ("http://240.0.0.1/", "CALLBACK_URL_FORBIDDEN"),
    ],
)
def test_forbidden_or_malformed_callback_urls_are_refused_at_submission(
    client, game, service, url, code
):
    with service.sessions()() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    response = submit(client, game, url)
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, code)
    with service.sessions()() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


def test_the_api_description_documents_callbacks(client):
    document = client.get("/openapi.json").get_json()
    assert {"/jobs/{id}/deliveries", "/jobs/{id}/deliveries/{webhook_id}/redeliver"} <= set(
        document["paths"]
    )
    refused = document["paths"]["/jobs"]["post"]["responses"]["400"]["content"]
    codes = refused["application/json"]["schema"]["properties"]["error"]["properties"]["code"]
    assert {"CALLBACK_URL_INVALID", "CALLBACK_URL_FORBIDDEN", "CALLBACK_URL_UNRESOLVED"} <= set(
        codes["enum"]
    )
