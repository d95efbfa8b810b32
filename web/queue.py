"""Sending fitting tasks by name, so that the web process never imports torch or dlib."""

from __future__ import annotations

import logging
import uuid

from celery import Celery
from flask import Flask, current_app

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    producer = Celery("facefit-web", set_as_current=False)
    producer.conf.update(
        broker_url=app.config["BROKER_URL"],
        broker_transport_options=app.config["BROKER_TRANSPORT_OPTIONS"],
        broker_connection_timeout=3,
        task_serializer="json",
        task_send_sent_event=True,
        # A broker that is down should fail the send quickly; the sweep re-sends later.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )
    app.extensions["facefit.celery"] = producer


def send_fit_job(job_id: uuid.UUID) -> None:
    """Queue `fit_job(job_id)` on the fitting queue."""
    producer: Celery = current_app.extensions["facefit.celery"]
    producer.send_task("fit_job", args=[str(job_id)], queue=current_app.config["FIT_QUEUE"])


def broker_reachable(timeout: float = 2.0) -> bool:
    """Whether a connection to the broker opens now (for /readyz)."""
    producer: Celery = current_app.extensions["facefit.celery"]
    try:
        with producer.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001  (any failure means: not ready)
        return False


def notify_job_updated(job_id: uuid.UUID) -> None:
    """Queue `job_updated(job_id)`: the game server's callback for a job whose result changed.

    Sent by name like `fit_job`; a broker that is down loses only this notice (the game
    server still sees the new version on its next `GET /jobs/<id>`).
    """
    producer: Celery = current_app.extensions["facefit.celery"]
    try:
        producer.send_task("job_updated", args=[str(job_id)], queue=current_app.config["FIT_QUEUE"])
    except Exception as exc:  # noqa: BLE001  (a notice is not worth failing a saved edit)
        log.warning("job %s: job_updated not sent (%s)", job_id, exc)
