"""Standard Webhooks signatures (https://www.standardwebhooks.com): secrets, headers, body.

`webhook-signature` is `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")); while
a client's secret is being rotated, the header carries one signature per secret, separated
by spaces, so the game server may switch secrets whenever it likes within the overlap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
EVENT_TYPES = ("job.succeeded", "job.failed", "job.updated")


def new_secret() -> str:
    """A signing secret as the specification writes it: `whsec_` + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def new_webhook_id() -> str:
    """The `webhook-id` of one event: the same on every attempt, so receivers can deduplicate."""
    return f"msg_{uuid.uuid4().hex}"


def event_body(event_type: str, job_id: uuid.UUID | str, status: str) -> str:
    """The JSON body, fixed when the event is recorded: every attempt sends the same bytes."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return json.dumps(
        {"type": event_type, "job_id": str(job_id), "status": status}, separators=(",", ":")
    )


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `{id}.{timestamp}.{body}`."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets_in_use: Iterable[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt (newest secret first)."""
    signatures = [signature(secret, webhook_id, timestamp, body) for secret in secrets_in_use]
    if not signatures:
        raise ValueError("no signing secret")
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }
