"""Game-server clients and their bearer tokens (stored as sha256, shown once at creation)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ApiClient, utcnow
from webhooks.signing import new_secret

TOKEN_PREFIX = "ff_"
# Names show up in `token list` (tab-separated), logs and commands: no spaces, tabs, newlines
# or escapes that could forge a row or a log line; a letter or digit first (not an option).
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_client_name(name: str) -> str:
    """`name` if it is a valid client name, else ValueError saying what a name may hold."""
    if not CLIENT_NAME.fullmatch(name):
        raise ValueError(
            "a client name is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def new_token() -> tuple[str, str]:
    """A new bearer token and its stored digest."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """sha256 is enough here: tokens are 256 random bits, not passwords a person chose."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_client(session: Session, name: str) -> tuple[ApiClient, str]:
    """Add a client; return it and its token, which is not stored and cannot be shown again.

    The client also gets the secret its callbacks are signed with (`client.webhook_secret`).
    """
    token, digest = new_token()
    client = ApiClient(name=check_client_name(name), token_hash=digest, webhook_secret=new_secret())
    session.add(client)
    session.flush()
    return client, token


@dataclass(frozen=True)
class Caller:
    """The client a valid token belongs to: what a request needs, read without the ORM."""

    id: int
    name: str


def client_for_token(session: Session, token: str) -> Caller | None:
    """The active client holding `token`, or None (unknown or revoked).

    The lookup is by the token's sha256, so the index walk reveals nothing about the token
    itself; the final comparison is constant-time anyway, as a stored secret's should be.
    One indexed row of four columns: this runs on every API request.
    """
    digest = hash_token(token)
    row = session.execute(
        select(ApiClient.id, ApiClient.name, ApiClient.token_hash, ApiClient.revoked_at).where(
            ApiClient.token_hash == digest
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None:
        return None
    return Caller(id=row.id, name=row.name)


def revoke_client(session: Session, name: str) -> bool:
    """Revoke a client's token; False if there is no such active client.

    Web processes cache valid tokens: after committing, the caller announces the revocation
    (`web.auth.TokenCache.announce_revocation`, as `flask --app web token revoke` does).
    """
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None or client.revoked_at is not None:
        return False
    client.revoked_at = utcnow()
    return True


def rotate_token(session: Session, name: str) -> str | None:
    """Give an active client a new token and return it; the old one stops matching at once.

    None if there is no such active client. As after a revocation, the caller announces the
    change to the web processes' token caches once committed.
    """
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None or client.revoked_at is not None:
        return None
    token, client.token_hash = new_token()
    return token
