"""Shared fixtures of the service tests: a migrated database, a real Celery worker, a live server.

PostgreSQL and Redis come from TEST_DATABASE_URL and TEST_BROKER_URL (`make test` starts them).
Each test session works in its own database (created from TEST_DATABASE_URL's name plus a
random suffix, dropped at the end) and its own queue, so that runs side by side do not meet.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tiny_weights import tiny_weights_dir

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT / "tests" / "fixtures" / "faces"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/facefit_test"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"


# --- databases ---------------------------------------------------------------------------


def migrate(database_url: str, revision: str = "head") -> None:
    """`alembic upgrade <revision>` on `database_url`, as `make run` and the migrate service do."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, revision)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (created, then dropped)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from db.urls import normalize_database_url

    base = make_url(
        normalize_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    )
    name = f"{base.database}_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("TEST_BROKER_URL", DEFAULT_BROKER_URL)


# --- a running service: web app + real worker -------------------------------------------


@dataclass
class Service:
    """Everything a test needs to talk to one running configuration of the service."""

    env: dict[str, str]
    database_url: str
    queue: str
    var_dir: Path

    def create_app(self, **config):
        """A web app on this service's database and broker (env as `make run` would set it)."""
        from web import create_app

        previous = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            return create_app({"TESTING": True, **config})
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def sessions(self):
        from db.session import make_engine, make_session_factory
        from db.urls import normalize_database_url

        return make_session_factory(make_engine(normalize_database_url(self.database_url)))

    def create_token(self, name: str | None = None) -> str:
        """`flask --app web token create NAME`, as an operator runs it; returns the token."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "web",
                "token",
                "create",
                name or uuid.uuid4().hex,
            ],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return result.stdout.strip().splitlines()[-1]


def service_env(database_url: str, broker_url: str, var_dir: Path, queue: str) -> dict[str, str]:
    env = {
        "FACEFIT_VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "FACEFIT_FIT_QUEUE": queue,
        # Callbacks on a queue of this session too (a webhook worker is started where needed).
        "FACEFIT_WEBHOOK_QUEUE": f"{queue}-webhooks",
        "FACEFIT_LOG_LEVEL": "INFO",
        "FACEFIT_PROGRESS_INTERVAL": "0.2",
        # A short search keeps the suite quick where the fitting engine is installed.
        "FACEFIT_FIT_MAX_ITERS": "4",
        "FACEFIT_DEVICE": "cpu",
        # Tiny untrained networks: the real fitting code runs, in seconds.
        "FACEFIT_WEIGHTS_DIR": str(tiny_weights_dir()),
    }
    if broker_url:
        env["BROKER_URL"] = broker_url
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def start_worker(env: dict[str, str], queue: str, log_path: Path) -> WorkerProcess:
    """`celery worker` in a subprocess, consuming only this session's queue."""
    command = [
        sys.executable, "-m", "celery", "-A", "worker.app", "worker",
        "-Q", queue, "-n", f"{queue}@%h", "--pool=solo", "--concurrency=1",
        "--without-gossip", "--without-mingle", "-E",
    ]  # fmt: skip
    handle = log_path.open("w")
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT
    )
    return WorkerProcess(process, log_path)


def stop_worker(worker: WorkerProcess) -> None:
    worker.process.send_signal(signal.SIGQUIT)  # cold shutdown: nothing is running by now
    try:
        worker.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()


@pytest.fixture(scope="session")
def pg_service(postgres_url, redis_url, tmp_path_factory) -> Iterator[Service]:
    """The production shape: PostgreSQL, Redis and one real Celery worker subprocess."""
    var_dir = tmp_path_factory.mktemp("pg-var")
    queue = f"test-{secrets.token_hex(4)}"
    migrate(postgres_url)
    env = service_env(postgres_url, redis_url, var_dir, queue)
    worker = start_worker(env, queue, var_dir / "worker.log")
    service = Service(env=env, database_url=postgres_url, queue=queue, var_dir=var_dir)
    service.worker = worker  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        stop_worker(worker)
        forget_queue(redis_url, queue)
        forget_queue(redis_url, env["FACEFIT_WEBHOOK_QUEUE"])


def forget_queue(redis_url: str, queue: str) -> None:
    """Remove a test queue and kombu's bindings of it from the test Redis database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [queue, *client.scan_iter(match=f"_kombu.binding*{queue}")]
    client.delete(*keys)
    client.close()


# --- HTTP -------------------------------------------------------------------------------


class LiveServer:
    """A Flask app served over real HTTP on 127.0.0.1 in a thread."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def http(method: str, url: str, *, token: str | None = None, files=None, fields=None):
    """(status, headers, body) of one HTTP request; `files` {field: (name, bytes, type)}."""
    import urllib.error
    import urllib.request

    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if files or fields:
        boundary = secrets.token_hex(12)
        parts = []
        for name, value in (fields or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, (filename, content, media_type) in (files or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'.encode()
                + content
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def http_json(method: str, url: str, **kwargs):
    status, headers, body = http(method, url, **kwargs)
    return status, headers, json.loads(body) if body else None


def wait_for_job(base_url: str, job_id: str, token: str, timeout: float = 240.0) -> dict:
    """Poll `GET /jobs/<id>` like a game server until the job is finished."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        status, _, job = http_json("GET", f"{base_url}/jobs/{job_id}", token=token)
        assert status == 200, job
        seen.add(job["status"])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            job["_seen"] = seen
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} not finished after {timeout} s (saw {sorted(seen)})")


# --- photos and the fitting engine -----------------------------------------------------


def face_photo(name: str = "london_001_neutral.jpg") -> bytes:
    return (FACES / name).read_bytes()


def faceless_photo() -> bytes:
    """A valid PNG with no face in it: a smooth gradient."""
    import io

    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, 320, dtype=np.uint8)
    image = np.stack([np.tile(ramp, (320, 1))] * 3, axis=2)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def assert_fit_outcome(job: dict) -> None:
    """What a game server must get for a good face photo: valid parameters and fit metrics."""
    assert job["status"] == "succeeded", job["error"]
    params = job["params"]
    assert params["continuous"] and all(
        0.0 <= float(v) <= 1.0 for v in params["continuous"].values()
    ), params
    assert isinstance(params.get("discrete"), dict)
    assert job["rig"] and job["models"]
    assert {"iterations", "loss", "similarity"} <= set(job["fit"])
    assert_runner_ups(job["fit"]["runner_ups"], params)
    assert job["error"] is None and job["finished_at"]


def assert_runner_ups(offered: dict[str, list[str]], params: dict) -> None:
    """The order the editor shows each style group's pictures in: every option of the rig's
    group once, the fit's choice first."""
    from facefit.rig.spec import load_spec

    groups = load_spec().discrete
    assert set(offered) == {g.name for g in groups}
    for group in groups:
        assert sorted(offered[group.name]) == sorted(group.options)
        assert offered[group.name][0] == params["discrete"][group.name]
