"""SQLAlchemy models and session helpers shared by the web and the worker."""

from db.models import (
    ApiClient,
    Base,
    Job,
    ParamVersion,
    Photo,
    ResultImage,
    WebhookAttempt,
    WebhookEvent,
)
from db.session import make_engine, make_session_factory
from db.urls import normalize_database_url

__all__ = [
    "ApiClient",
    "Base",
    "Job",
    "ParamVersion",
    "Photo",
    "ResultImage",
    "WebhookAttempt",
    "WebhookEvent",
    "make_engine",
    "make_session_factory",
    "normalize_database_url",
]
