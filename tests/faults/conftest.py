"""Fault tests: the real service (PostgreSQL, Redis, Celery prefork workers) with things broken
on purpose: processes killed, Redis and PostgreSQL restarted, fits that raise or hang.

Each test gets its own queue and fault workers (`tests/faults/fault_worker.py`), all sharing
one migrated database of this test session. A trigger records every change of a job's status
or finish time, so that "finished exactly once" is read from the database itself.
Services restarted by a test are started again in a `finally`, outages last seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from db import clients
from db.models import FINISHED_STATUSES
from tests.conftest import (
    DEFAULT_DATABASE_URL,
    ROOT,
    WorkerProcess,
    face_photo,
    forget_queue,
    migrate,
    service_env,
)
from tests.outcomes import expected_face_outcome, wait_for_jobs

AUDIT = """
CREATE TABLE job_transitions (
    id bigserial PRIMARY KEY,
    job_id uuid NOT NULL,
    old_status text,
    new_status text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION record_job_transition() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO job_transitions (job_id, new_status) VALUES (NEW.id, NEW.status);
    ELSIF NEW.status IS DISTINCT FROM OLD.status
          OR NEW.finished_at IS DISTINCT FROM OLD.finished_at THEN
        INSERT INTO job_transitions (job_id, old_status, new_status)
        VALUES (NEW.id, OLD.status, NEW.status);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_transitions AFTER INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION record_job_transition();
"""


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """As in tests/conftest.py, but without a pooled admin connection: PostgreSQL restarts here."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from db.urls import normalize_database_url

    base = make_url(
        normalize_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    )
    name = f"{base.database}_faults_{secrets.token_hex(4)}"
    admin = create_engine(
        base.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        wait_until(postgres_up, 30, "postgresql up")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fault_database(postgres_url) -> str:
    migrate(postgres_url)
    from db.session import make_engine
    from db.urls import normalize_database_url

    engine = make_engine(normalize_database_url(postgres_url))
    with engine.begin() as connection:
        connection.exec_driver_sql(AUDIT)
    engine.dispose()
    return postgres_url


class FaultWorker(WorkerProcess):
    """A `celery worker` (prefork, one process fitting) in its own process group."""

    def kill_all(self) -> None:
        """SIGKILL to the main process, its pool and its beat: a machine lost."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self.kill_all()  # whatever is left of the group (pool processes, beat)


@dataclass
class FaultService:
    env: dict[str, str]
    queue: str
    var_dir: Path
    faults_dir: Path
    sessions: object
    redis_url: str
    workers: list[FaultWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = self._create_app()
        with self.sessions.begin() as session:
            self.token = clients.create_client(session, f"faults-{uuid.uuid4().hex[:8]}")[1]

    def _create_app(self):
        from tests.conftest import Service

        service = Service(self.env, self.env["DATABASE_URL"], self.queue, self.var_dir)
        return service.create_app(JOBS_PER_MINUTE_PER_CLIENT=100_000)

    def start_webhook_worker(self, allow: str) -> FaultWorker:
        """The callback worker, and a web app that admits callbacks to `allow` (host:port)."""
        self.env["FACEFIT_CALLBACK_ALLOW"] = allow
        self.app = self._create_app()
        # The production command of the webhook worker: no faults, no fitting engine to load.
        return self.start_worker(
            app="worker.app",
            queue=self.env["FACEFIT_WEBHOOK_QUEUE"],
            pool="threads",
            beat=False,
        )

    def start_worker(
        self,
        app: str = "tests.faults.fault_worker",
        queue: str | None = None,
        pool: str = "prefork",
        beat: bool = True,
        **env: str,
    ) -> FaultWorker:
        """The production worker command (one process fitting, beat for the sweeps)."""
        number = len(self.workers)
        log_path = self.var_dir / f"worker-{number}.log"
        queue = queue or self.queue
        command = [
            sys.executable, "-m", "celery", "-A", app, "worker", "--pool", pool,
            "-Q", queue, "-n", f"{queue}-{number}@%h", "--concurrency", "1", "-E",
            *(["-B", "--schedule", str(self.var_dir / f"beat-{number}")] if beat else []),
            "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            env={**os.environ, **self.env, **env},
            cwd=ROOT,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = FaultWorker(process, log_path)
        self.workers.append(worker)
        return worker

    def photo(self, fault: str | None = None) -> bytes:
        """A copy of a face photo with its own sha256 (bytes after the JPEG's end are ignored)."""
        photo = face_photo() + f"#{uuid.uuid4().hex}".encode()
        if fault:
            (self.faults_dir / hashlib.sha256(photo).hexdigest()).write_text(fault)
        return photo

    def fitting_pid(self, photo: bytes) -> int | None:
        path = self.faults_dir / f"{hashlib.sha256(photo).hexdigest()}.pid"
        return int(path.read_text()) if path.exists() else None

    def submit(self, photo: bytes, **fields: str) -> str:
        response = self.app.test_client().post(
            "/jobs",
            headers={"Authorization": f"Bearer {self.token}"},
            data={"photo": (io.BytesIO(photo), "p.jpg"), **fields},
        )
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def finish_entries(self, job_ids) -> dict[str, list[tuple[str | None, str]]]:
        """Per job, every recorded change into a finished state (more than one: finished twice)."""
        entries: dict[str, list] = defaultdict(list)
        with self.sessions() as session:
            rows = session.execute(
                text(
                    "SELECT job_id, old_status, new_status FROM job_transitions "
                    "WHERE job_id = ANY(:ids) ORDER BY id"
                ),
                {"ids": [uuid.UUID(j) for j in job_ids]},
            )
            for job_id, old, new in rows:
                if new in FINISHED_STATUSES:
                    entries[str(job_id)].append((old, new))
        return entries

    def assert_each_finished_once(self, job_ids, timeout: float, expected=None) -> dict:
        """Every job finished, as expected (default: a good face's outcome), exactly once."""
        jobs = wait_for_jobs(self.sessions, job_ids, timeout=timeout)
        expected = expected or expected_face_outcome(self.env)
        wrong = {
            i: (j.status, j.error_code, j.error_message)
            for i, j in jobs.items()
            if (j.status, j.error_code) != expected
        }
        assert not wrong, wrong
        entries = self.finish_entries(job_ids)
        twice = {i: e for i, e in entries.items() if len(e) != 1}
        assert not twice and len(entries) == len(list(job_ids)), twice
        return jobs


@pytest.fixture
def fault_service(fault_database, redis_url, tmp_path) -> FaultService:
    queue = f"faults-{secrets.token_hex(4)}"
    faults_dir = tmp_path / "faults"
    faults_dir.mkdir()
    env = service_env(fault_database, redis_url, tmp_path, queue) | {
        "FACEFIT_TEST_FAULTS_DIR": str(faults_dir),
        "FACEFIT_FIT_MAX_ITERS": "8",
        "FACEFIT_PROGRESS_INTERVAL": "0.2",
        "FACEFIT_STALE_AFTER": "6",
        "FACEFIT_SWEEP_INTERVAL": "2",
        "FACEFIT_WEBHOOK_SWEEP_INTERVAL": "2",
        "FACEFIT_MAX_ATTEMPTS": "5",
        "FACEFIT_WRITE_RETRY_S": "60",
        "FACEFIT_LOG_LEVEL": "INFO",
    }
    from db.session import make_engine, make_session_factory
    from db.urls import normalize_database_url

    engine = make_engine(normalize_database_url(fault_database))
    service = FaultService(
        env, queue, tmp_path, faults_dir, make_session_factory(engine), redis_url
    )
    try:
        yield service
    finally:
        for worker in service.workers:
            worker.stop()
        engine.dispose()
        with contextlib.suppress(redis.RedisError):
            forget_queue(redis_url, queue)
            forget_queue(redis_url, env["FACEFIT_WEBHOOK_QUEUE"])


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not after {timeout} s")


# --- the private services, the only ones restarted here ----------------------------------
# `make test-faults` (tools/private_services.sh) starts a PostgreSQL cluster and a Redis
# server of this run's own and names the scripts that stop and start them; the shared
# instances other work uses are never touched.

SERVICES_DIR = os.environ.get("FACEFIT_FAULTS_SERVICES_DIR", "")


@pytest.fixture(scope="session", autouse=True)
def private_services_only() -> None:
    """Refuse to run on services this run did not start: the tests stop and restart them."""
    if not SERVICES_DIR or not Path(SERVICES_DIR, "pg-start").is_file():
        pytest.exit(
            "tests/faults restarts PostgreSQL and Redis: run it as `make test-faults`, which "
            "starts private instances for it (tools/private_services.sh)",
            returncode=4,
        )


def _private(script: str) -> None:
    subprocess.run([str(Path(SERVICES_DIR, script))], check=True, capture_output=True, timeout=90)


def _redis_port() -> str:
    from urllib.parse import urlsplit

    return str(urlsplit(os.environ["TEST_BROKER_URL"]).port)


def _postgres_port() -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(os.environ["TEST_DATABASE_URL"]).port)


def redis_up() -> bool:
    answer = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", _redis_port(), "ping"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return answer.stdout.strip() == "PONG"


def restart_redis(down_for: float = 1.0) -> None:
    """Redis shut down without saving (its queues are lost), then started again."""
    try:
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", _redis_port(), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
        )
        wait_until(lambda: not redis_up(), 10, "redis stopping")
        time.sleep(down_for)
    finally:
        if not redis_up():
            _private("redis-start")
        wait_until(redis_up, 20, "redis starting")


def postgres_up() -> bool:
    command = ["pg_isready", "-h", "127.0.0.1", "-p", _postgres_port(), "-q"]
    return subprocess.run(command, timeout=10).returncode == 0


class PostgresOutage:
    """`with PostgresOutage(): ...` PostgreSQL is down inside the block, up again after it."""

    def __enter__(self):
        _private("pg-stop")
        return self

    def __exit__(self, *exc):
        if not postgres_up():
            _private("pg-start")
        wait_until(postgres_up, 30, "postgresql starting")
        return False
