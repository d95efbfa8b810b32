"""The service's tables: jobs, their photos, result images and parameter versions, the game
servers (clients), and the callbacks sent to them (webhook events and each delivery attempt)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Alembic "naming" docs: deterministic constraint names, so migrations can drop them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
IMAGE_KINDS = ("aligned", "preview")
WEBHOOK_STATES = ("pending", "delivered", "failed")
ATTEMPT_OUTCOMES = ("delivered", "retrying", "failed")
VERSION_AUTHORS = ("fit", "player", "client")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database (SQLite drops the offset; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use db.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class ApiClient(Base):
    """A game server allowed to call the API; only the sha256 of its bearer token is stored."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # The `whsec_…` secret callbacks are signed with, kept as it is (unlike the token, it
    # must be usable to sign: db.webhooks says why it is not encrypted). During a rotation the
    # previous one signs too, until `previous_webhook_secret_until`.
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    previous_webhook_secret: Mapped[str | None] = mapped_column(String(100))
    previous_webhook_secret_until: Mapped[datetime | None]

    def __repr__(self) -> str:
        return (
            f"ApiClient(id={self.id!r}, name={self.name!r}, revoked={self.revoked_at is not None})"
        )


class Job(Base):
    """One photo to fit: its state, progress, and once finished its parameters or its error."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # Who may read it: a game server (API), or a browser holding the portal key whose sha256
    # is stored here (`web.portal`). Never both; a job with neither is nobody's. The column
    # keeps its first name, `player_session`, so that existing databases need no migration.
    client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"), index=True)
    portal_key_hash: Mapped[str | None] = mapped_column("player_session", String(64), index=True)
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    photo_sha256: Mapped[str] = mapped_column(String(64))

    # Progress, written by the worker at most a few times a second.
    iteration: Mapped[int] = mapped_column(default=0)
    max_iterations: Mapped[int | None]
    loss: Mapped[float | None] = mapped_column(Float)
    similarity: Mapped[float | None] = mapped_column(Float)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Touched by every progress write: a running job whose heartbeat is old lost its worker.
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    task_id: Mapped[str | None] = mapped_column(String(64))

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    params: Mapped[dict[str, Any] | None]
    fit: Mapped[dict[str, Any] | None]
    loss_curve: Mapped[list[Any] | None]
    rig: Mapped[str | None] = mapped_column(String(100))
    models: Mapped[dict[str, Any] | None]
    # The number of the newest row in `param_versions` (1: the fit, never edited). Saves bump
    # it with a compare-and-set, so two editors working from the same version cannot both win.
    params_version: Mapped[int] = mapped_column(default=1, server_default="1")

    photo: Mapped[Photo] = relationship(back_populates="job", cascade="all, delete-orphan")
    images: Mapped[list[ResultImage]] = relationship(
        back_populates="job", cascade="all, delete-orphan"
    )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def __repr__(self) -> str:
        return f"Job(id={self.id!s}, status={self.status!r}, iteration={self.iteration!r})"


class Photo(Base):
    """The uploaded bytes, in the database so that workers on other machines need no shared disk."""

    __tablename__ = "photos"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)

    job: Mapped[Job] = relationship(back_populates="photo")

    def __repr__(self) -> str:
        return f"Photo(job_id={self.job_id!s}, {self.media_type}, {self.width}x{self.height})"


class ResultImage(Base):
    """An image the worker made for a job: the aligned face, the preview render."""

    __tablename__ = "result_images"
    __table_args__ = (CheckConstraint(f"kind IN {IMAGE_KINDS!r}", name="kind"),)

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(32), default="image/png")
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="images")

    def __repr__(self) -> str:
        return f"ResultImage(job_id={self.job_id!s}, kind={self.kind!r})"


class WebhookEvent(Base):
    """One callback to send (job finished or updated): its fixed body and where it stands.

    The id is the `webhook-id` header, the same on every attempt. `attempts` counts the
    attempts made; the one numbered `attempts + 1` is due at `next_attempt_at`. A worker
    sending an attempt holds `lease_until`, after which the attempt counts as lost and is
    sent again.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (CheckConstraint(f"state IN {WEBHOOK_STATES!r}", name="state"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2000))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # None: as many attempts as the retry schedule has; a redelivery grants one more.
    attempt_limit: Mapped[int | None]
    next_attempt_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]  # a message for the next attempt went to the broker
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="WebhookAttempt.number"
    )

    def __repr__(self) -> str:
        return f"WebhookEvent(id={self.id!r}, type={self.type!r}, state={self.state!r})"


class WebhookAttempt(Base):
    """One attempt to deliver an event: when, what the receiver answered, what came next."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (CheckConstraint(f"outcome IN {ATTEMPT_OUTCOMES!r}", name="outcome"),)

    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(primary_key=True)
    attempted_at: Mapped[datetime]
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    next_attempt_at: Mapped[datetime | None]

    event: Mapped[WebhookEvent] = relationship(back_populates="attempt_log")

    def __repr__(self) -> str:
        return f"WebhookAttempt(event_id={self.event_id!r}, number={self.number}, {self.outcome})"


class ParamVersion(Base):
    """One saved set of a job's parameters: version 1 is the fit, later ones a player's edits.

    `jobs.params` keeps the fitted original; the newest version is what the game gets.
    """

    __tablename__ = "param_versions"
    __table_args__ = (CheckConstraint(f"author IN {VERSION_AUTHORS!r}", name="author"),)

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    params: Mapped[dict[str, Any]]
    author: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"ParamVersion(job_id={self.job_id!s}, version={self.version!r}, {self.author!r})"
