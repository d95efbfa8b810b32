"""The Celery application of the workers: `celery -A worker.app worker -Q cpu` (or `gpu,cpu`),
and `-Q webhooks` for the small worker that delivers callbacks.

Importing this module reads the settings and configures Celery; it loads no network and
touches no torch (that happens in the first job of each worker process, after the fork).
"""

from __future__ import annotations

import logging
from functools import cache

from celery import Celery, signals
from kombu import Queue
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_session_factory
from facefit.logs import configure_logging
from facefit.settings import keep_private
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

settings = WorkerSettings.from_env()
keep_private(settings.core.var_dir)  # before this process writes anything there


def make_celery(settings: WorkerSettings) -> Celery:
    """A Celery app configured for long, idempotent fitting jobs."""
    app = Celery("facefit", include=["worker.tasks", "worker.deliveries"])
    transport = dict(settings.broker_options)
    if "visibility_timeout" in transport:
        # Redis redelivers an unacknowledged message after this; it must outlast any fit.
        transport["visibility_timeout"] = max(
            transport["visibility_timeout"], 2 * settings.time_limit
        )
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        result_backend=settings.result_backend,
        result_expires=24 * 3600,
        task_default_queue="cpu",
        task_queues=(Queue("cpu"), Queue("gpu"), Queue(settings.webhook_queue)),
        task_serializer="json",
        accept_content=["json"],
        # Long jobs: acknowledge after the work, give the message back if the worker dies,
        # and take one message at a time so that a long fit does not hold others hostage.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.soft_time_limit,
        task_time_limit=settings.time_limit,
        task_track_started=True,
        # Events for Flower: workers, tasks, runtimes, failures.
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "sweep-stale-jobs": {
                "task": "sweep_stale_jobs",
                "schedule": float(settings.sweep_interval),
                # To the fitting queue: the workers that fit are the ones listening.
                "options": {"expires": float(settings.sweep_interval), "queue": settings.fit_queue},
            },
            # Callbacks whose message was lost, never sent (broker down) or due after a long wait.
            "sweep-webhooks": {
                "task": "sweep_webhooks",
                "schedule": float(settings.webhook_sweep_interval),
                "options": {
                    "expires": float(settings.webhook_sweep_interval),
                    "queue": settings.webhook_queue,
                },
            },
        },
        beat_schedule_filename=str(settings.core.var_dir / "celerybeat-schedule"),
    )
    return app


celery = make_celery(settings)
app = celery  # `celery -A worker.app` finds `app`


@cache
def session_factory() -> sessionmaker[Session]:
    """The worker process's sessions, created on first use (so after the fork)."""
    return make_session_factory(make_engine(settings.database_url))


@signals.setup_logging.connect
def _configure_logging(**_kwargs) -> None:
    # Connecting this signal stops Celery from configuring logging its own way.
    configure_logging(settings.core.log_level)


@signals.worker_process_init.connect
def _after_fork(**_kwargs) -> None:
    # A connection pool inherited from the parent must not be shared with it.
    if session_factory.cache_info().currsize:
        session_factory().kw["bind"].dispose(close=False)
