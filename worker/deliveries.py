"""The callback tasks: deliver one attempt of a webhook event, and sweep up attempts nobody sends.

They run on their own queue (`FACEFIT_WEBHOOK_QUEUE`, `webhooks`) in a small worker of their
own: a game server that answers slowly holds a delivery slot, never a fit. Like a view, a
task here handles ids, state and retries; signing, the address check and the HTTP exchange
live in `webhooks`, state changes in `db.webhooks`. No transaction is open during a POST.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta

from celery import Task, shared_task
from sqlalchemy.orm import Session, sessionmaker

from db import webhooks as webhook_store
from db.models import utcnow
from webhooks.sending import AttemptResult, post
from webhooks.signing import signed_headers
from worker.app import celery, session_factory, settings
from worker.writes import TRANSIENT_ERRORS, write_with_retry

log = logging.getLogger(__name__)


def send_attempt(
    sessions: sessionmaker[Session], event_id: str, number: int, countdown: float = 0.0
) -> bool:
    """Queue attempt `number` of an event (committed before); False if the broker is away.

    An attempt that could not be queued stays due in the database: the sweep queues it.
    """
    try:
        celery.send_task(
            "deliver_webhook",
            args=[event_id, number],
            queue=settings.webhook_queue,
            countdown=countdown or None,
        )
    except Exception as exc:  # noqa: BLE001  (broker down: the webhook sweep sends it later)
        log.warning(
            "webhook %s: could not reach the broker (%s); the sweep sends it", event_id, exc
        )
        return False
    write_with_retry(
        sessions,
        lambda session: webhook_store.mark_enqueued(session, event_id),
        f"webhook {event_id}: enqueued",
    )
    return True


def send_first_attempts(sessions: sessionmaker[Session], event_ids: Iterable[str]) -> None:
    """Queue the first attempt of newly recorded events."""
    for event_id in event_ids:
        send_attempt(sessions, event_id, 1)


@shared_task(
    bind=True,
    name="deliver_webhook",
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def deliver_webhook(self: Task, event_id: str, number: int) -> str:
    """Make attempt `number` of a webhook event, record it, and queue the next one if due soon.

    Idempotent: a message for an attempt already made or being made does nothing.
    """
    sessions = session_factory()
    lease = timedelta(seconds=settings.webhook_timeouts.total + 30)
    target = write_with_retry(
        sessions,
        lambda session: webhook_store.claim_attempt(session, event_id, number, lease),
        f"webhook {event_id}: claim attempt {number}",
    )
    if target is None:
        log.info("webhook %s: attempt %d made or taken already; nothing to do", event_id, number)
        return "skipped"
    attempted_at = utcnow()
    if target.secrets:
        headers = signed_headers(target.secrets, target.webhook_id, int(time.time()), target.body)
        result = post(
            target.url, target.body, headers, settings.callback_policy, settings.webhook_timeouts
        )
    else:  # a client from before callbacks were signed: never send unsigned
        result = AttemptResult(error="NO_SECRET: the client has no webhook signing secret yet")
    delay = settings.webhook_schedule.delay_after(number, result.retry_after)
    attempt = write_with_retry(
        sessions,
        lambda session: webhook_store.record_attempt(
            session,
            event_id,
            number,
            attempted_at=attempted_at,
            http_status=result.http_status,
            error=result.error,
            delivered=result.delivered,
            gone=result.gone,
            delay=delay,
        ),
        f"webhook {event_id}: record attempt {number}",
    )
    log.info(
        "webhook %s attempt %d: %s (%s)",
        event_id,
        number,
        attempt.outcome,
        result.http_status or result.error,
    )
    # A longer wait is left to the sweep, which queues the attempt when it is due.
    if (
        attempt.outcome == "retrying"
        and delay is not None
        and delay <= settings.webhook_countdown_max
    ):
        send_attempt(sessions, event_id, number + 1, countdown=delay)
    return attempt.outcome


@shared_task(bind=True, name="sweep_webhooks")
def sweep_webhooks(self: Task) -> int:
    """Queue the attempts that are due and that no message carries (lost, never sent, or long
    waits left to the sweep)."""
    sessions = session_factory()
    lost_after = timedelta(seconds=settings.webhook_countdown_max + 60)
    with sessions.begin() as session:
        due = webhook_store.due_events(session, lost_after=lost_after)
    for event_id, number in due:
        send_attempt(sessions, event_id, number)
    if due:
        log.info("webhook sweep: queued %d attempt(s)", len(due))
    return len(due)
