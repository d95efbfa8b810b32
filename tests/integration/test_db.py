"""The schema (Alembic on PostgreSQL and SQLite) and the job state changes the worker relies on."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from db import jobs as job_store
from db.models import Job, utcnow
from db.session import make_engine, make_session_factory
from db.urls import broker_url, database_url, normalize_database_url
from tests.conftest import ROOT, migrate

UPLOAD = job_store.PhotoUpload(
    content=b"\xff\xd8\xff photo", media_type="image/jpeg", width=4, height=3
)


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="module")
def pg_sessions(postgres_url):
    migrate(postgres_url)
    engine = make_engine(normalize_database_url(postgres_url))
    yield make_session_factory(engine)
    engine.dispose()


def test_plain_postgresql_url_gets_the_project_driver(tmp_path):
    assert (
        normalize_database_url("postgresql://u@db/facefit") == "postgresql+psycopg://u@db/facefit"
    )
    assert (
        normalize_database_url("postgres://u:p@db:5433/x") == "postgresql+psycopg://u:p@db:5433/x"
    )
    assert database_url(None, tmp_path).startswith("sqlite:///")
    assert broker_url(None).startswith("filesystem://")
    assert broker_url("redis://r:6379/0") == "redis://r:6379/0"


def test_postgresql_schema_matches_the_models(pg_sessions, postgres_url):
    command.check(alembic_config(postgres_url))  # raises if the models drifted from migrations
    tables = set(inspect(pg_sessions.kw["bind"]).get_table_names())
    assert {"jobs", "photos", "result_images", "api_clients", "alembic_version"} <= tables


def test_sqlite_migrates_up_down_and_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'facefit.sqlite3'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.check(config)
    command.downgrade(config, "base")
    assert set(inspect(make_engine(url)).get_table_names()) == {"alembic_version"}
    command.upgrade(config, "head")


def test_one_task_claims_a_job_and_a_retry_of_it_may_claim_again(pg_sessions):
    with pg_sessions.begin() as session:
        job_id = job_store.create_job(session, UPLOAD).id
    long_ago = utcnow() - timedelta(minutes=5)
    with pg_sessions.begin() as session:
        assert job_store.claim_job(session, job_id, "task-a", long_ago)
        assert not job_store.claim_job(
            session, job_id, "task-b", long_ago
        )  # a's heartbeat is fresh
        assert job_store.claim_job(session, job_id, "task-a", long_ago)  # a's own retry
    with pg_sessions() as session:
        job = session.get_one(Job, job_id)
        assert (job.status, job.task_id, job.attempts) == ("running", "task-a", 2)


def test_a_silent_running_job_is_stale_and_can_be_taken_over(pg_sessions):
    with pg_sessions.begin() as session:
        job_id = job_store.create_job(session, UPLOAD).id
        job_store.claim_job(session, job_id, "task-dead", utcnow())
        session.get_one(Job, job_id).heartbeat_at = utcnow() - timedelta(minutes=10)
    with pg_sessions.begin() as session:
        stale = job_store.stale_jobs(
            session, now=utcnow(), queued_for=timedelta(minutes=5), silent_for=timedelta(minutes=5)
        )
        assert job_id in {job.id for job in stale}
        assert job_store.claim_job(session, job_id, "task-new", utcnow() - timedelta(minutes=5))


def test_finished_jobs_are_never_claimed_again(pg_sessions):
    with pg_sessions.begin() as session:
        job_id = job_store.create_job(session, UPLOAD).id
        job_store.claim_job(session, job_id, "task-a", utcnow())
        job_store.fail_job(session, job_id, "NO_FACE", "no face")
    with pg_sessions.begin() as session:
        assert not job_store.claim_job(session, job_id, "task-a", utcnow())
        assert not job_store.claim_job(session, uuid.uuid4(), "task-a", utcnow())
        assert session.get_one(Job, job_id).status == "failed"
