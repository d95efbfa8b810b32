"""Sending tasks by name (fits, callback attempts), so that the web never imports torch or dlib."""

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


def send_webhook_attempt(event_id: str, number: int) -> None:
    """Queue `deliver_webhook(event_id, number)` on the callback queue."""
    producer: Celery = current_app.extensions["facefit.celery"]
    producer.send_task(
        "deliver_webhook", args=[event_id, number], queue=current_app.config["WEBHOOK_QUEUE"]
    )


def broker_reachable(timeout: float = 2.0) -> bool:
    """Whether a connection to the broker opens now (for /readyz)."""
    producer: Celery = current_app.extensions["facefit.celery"]
    try:
        with producer.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001  (any failure means: not ready)
        return False
