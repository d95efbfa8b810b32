"""Callback events and their delivery attempts, each a small step in the caller's session.

An event is recorded in the same transaction as the change it announces (a job finishing),
so that committing the job commits its callback: a broker that is down when the message is
sent delays the callback (the sweep sends it) but never loses it.

Signing secrets are stored as they are, not encrypted with a key derived from SECRET_KEY:
the worker must hold the secret itself to sign, so encryption at rest would protect only
against a leak of the database alone, while making every worker need SECRET_KEY and making a
change of SECRET_KEY silently void every game server's secret. A leaked secret lets one forge
callbacks to that one client (never read a photo or a result); `webhook rotate` replaces it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.models import ApiClient, Job, WebhookAttempt, WebhookEvent, utcnow
from webhooks.signing import event_body, new_secret, new_webhook_id


def record_job_event(session: Session, job: Job, event_type: str) -> WebhookEvent | None:
    """A pending event announcing the job's current status, if its client asked for callbacks."""
    if not job.callback_url or job.client_id is None:
        return None
    event = WebhookEvent(
        id=new_webhook_id(),
        job_id=job.id,
        type=event_type,
        url=job.callback_url,
        body=event_body(event_type, job.id, job.status),
        state="pending",
        next_attempt_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def unsent_events(session: Session, job_id: uuid.UUID) -> list[str]:
    """Ids of the job's events waiting for their first message to the broker."""
    return list(
        session.scalars(
            select(WebhookEvent.id).where(
                WebhookEvent.job_id == job_id,
                WebhookEvent.state == "pending",
                WebhookEvent.attempts == 0,
                WebhookEvent.enqueued_at.is_(None),
            )
        )
    )


def mark_enqueued(session: Session, event_id: str) -> None:
    """Record that a message for the event's next attempt was handed to the broker."""
    session.execute(
        update(WebhookEvent).where(WebhookEvent.id == event_id).values(enqueued_at=utcnow())
    )


@dataclass(frozen=True)
class AttemptTarget:
    """What a worker needs to make one attempt, read in a short transaction."""

    webhook_id: str
    number: int
    url: str
    body: bytes
    secrets: tuple[str, ...]  # newest first; empty if the client has none


def signing_secrets(client: ApiClient, now: datetime) -> tuple[str, ...]:
    """The client's current secret, and its previous one while the rotation overlap lasts."""
    found = [client.webhook_secret] if client.webhook_secret else []
    until = client.previous_webhook_secret_until
    if client.previous_webhook_secret and until is not None and until > now:
        found.append(client.previous_webhook_secret)
    return tuple(found)


def claim_attempt(
    session: Session, event_id: str, number: int, lease: timedelta
) -> AttemptTarget | None:
    """Take attempt `number` of a pending event for `lease`; None if it is not this one's turn.

    One UPDATE decides, so a duplicated or late message (Celery redelivers unacknowledged
    ones; the sweep re-sends lost ones) finds the attempt taken or done and does nothing.
    """
    now = utcnow()
    claimed = session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event_id,
            WebhookEvent.state == "pending",
            WebhookEvent.attempts == number - 1,
            or_(WebhookEvent.lease_until.is_(None), WebhookEvent.lease_until < now),
        )
        .values(lease_until=now + lease)
    ).rowcount
    if claimed != 1:
        return None
    event = session.get_one(WebhookEvent, event_id)
    client = session.scalars(
        select(ApiClient).join(Job, Job.client_id == ApiClient.id).where(Job.id == event.job_id)
    ).one()
    return AttemptTarget(
        webhook_id=event.id,
        number=number,
        url=event.url,
        body=event.body.encode(),
        secrets=signing_secrets(client, now),
    )


def record_attempt(
    session: Session,
    event_id: str,
    number: int,
    *,
    attempted_at: datetime,
    http_status: int | None,
    error: str | None,
    delivered: bool,
    gone: bool,
    delay: float | None,
) -> WebhookAttempt:
    """Store an attempt and what follows: delivered, failed for good, or the next attempt's time.

    `delay` is the schedule's wait before the next attempt (None: the schedule is spent).
    """
    existing = session.get(WebhookAttempt, (event_id, number))
    if existing is not None:  # this attempt's commit whose answer was lost
        return existing
    event = session.get_one(WebhookEvent, event_id, with_for_update=True)
    now = utcnow()
    limit_reached = event.attempt_limit is not None and number >= event.attempt_limit
    if delivered:
        outcome, next_at = "delivered", None
    elif gone or delay is None or limit_reached:
        outcome, next_at = "failed", None
    else:
        outcome, next_at = "retrying", now + timedelta(seconds=delay)
    attempt = WebhookAttempt(
        event_id=event_id,
        number=number,
        attempted_at=attempted_at,
        http_status=http_status,
        error=error,
        outcome=outcome,
        next_attempt_at=next_at,
    )
    session.add(attempt)
    event.attempts = number
    event.lease_until = None
    event.enqueued_at = None
    event.next_attempt_at = next_at
    if outcome != "retrying":
        event.state = outcome
        event.finished_at = now
    return attempt


def due_events(
    session: Session, *, lost_after: timedelta, limit: int = 500
) -> list[tuple[str, int]]:
    """(event id, attempt number) of attempts nobody is sending: never handed to the broker
    and due, or handed over but not made `lost_after` past their time. Marked sent now."""
    now = utcnow()
    events = session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.state == "pending",
            or_(WebhookEvent.lease_until.is_(None), WebhookEvent.lease_until < now),
            or_(
                WebhookEvent.enqueued_at.is_(None) & (WebhookEvent.next_attempt_at <= now),
                WebhookEvent.next_attempt_at <= now - lost_after,
            ),
        )
        .order_by(WebhookEvent.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for event in events:
        # "Due now, message sent now": the next sweep leaves it alone for `lost_after`.
        event.next_attempt_at = event.enqueued_at = now
    return [(event.id, event.attempts + 1) for event in events]


def job_events(session: Session, job_id: uuid.UUID) -> list[WebhookEvent]:
    """The job's events, oldest first, with their attempts."""
    return list(
        session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.job_id == job_id)
            .order_by(WebhookEvent.created_at, WebhookEvent.id)
        )
    )


def redeliver(session: Session, job_id: uuid.UUID, webhook_id: str) -> WebhookEvent | None:
    """Make the event's next attempt due now (one more, if it had finished); None if unknown."""
    event = session.scalar(
        select(WebhookEvent)
        .where(WebhookEvent.id == webhook_id, WebhookEvent.job_id == job_id)
        .with_for_update()
    )
    if event is None:
        return None
    if event.state != "pending":
        event.state = "pending"
        event.attempt_limit = event.attempts + 1
        event.finished_at = None
    event.next_attempt_at = utcnow()
    event.enqueued_at = None
    return event


def rotate_secret(
    session: Session, client: ApiClient, overlap: timedelta
) -> tuple[str, datetime | None]:
    """A new signing secret; the old one keeps signing for `overlap` (none if zero)."""
    until = utcnow() + overlap if overlap > timedelta(0) and client.webhook_secret else None
    client.previous_webhook_secret = client.webhook_secret if until else None
    client.previous_webhook_secret_until = until
    client.webhook_secret = new_secret()
    return client.webhook_secret, until
