"""Bearer tokens of game servers, and the `flask --app web token ...` commands."""

from __future__ import annotations

import functools
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable

import click
import redis
from flask import Blueprint, current_app, g, request
from sqlalchemy import select

from db.clients import (
    CLIENT_NAME,
    Caller,
    check_client_name,
    client_for_token,
    create_client,
    hash_token,
    revoke_client,
    rotate_token,
)
from db.models import ApiClient
from web.db import get_session
from web.errors import ApiError

log = logging.getLogger(__name__)

commands = Blueprint("token", __name__, cli_group="token")

# One key per Redis database, shared by every site that uses it: a revocation anywhere makes
# every web process re-read its tokens once (cheap, revocations are rare), and no two
# spellings of one DATABASE_URL (CLI and web) can ever disagree on which key to bump.
REVOCATION_EPOCH_KEY = "facefit:token-revocation-epoch"


class TokenCache:
    """Valid tokens seen by this process, trusted only while no token was revoked since.

    The token lookup in PostgreSQL was half the cost of a poll. Instead, each
    request reads one Redis key, the revocation epoch: a random value that `token revoke`
    replaces after committing the revocation. An entry is used only if it was filled under
    the epoch Redis holds now, so a revocation holds at the very next request in every web
    process. The epoch is read *before* the database lookup that fills an entry: a lookup
    racing a revocation is then stored under the old epoch and never used.

    Random values rather than a counter: if Redis loses the key (restart without its
    append-only file, FLUSHDB), the next reader sets a new random epoch and every entry
    filled before is dropped; a counter restarting at 1 could match an old entry.

    Without Redis (error or timeout) the database decides on every request, the cache is
    emptied (a revocation may have happened meanwhile) and Redis is retried after
    `retry_after` seconds. `ttl` bounds what remains: a revocation made while the revoking
    command could not reach Redis, or one written to the database by hand.
    """

    def __init__(
        self, client: redis.Redis, ttl: float = 30.0, size: int = 4096, retry_after: float = 5.0
    ) -> None:
        self.ttl, self.size, self.retry_after = ttl, size, retry_after
        self.client = client
        self._local = threading.local()
        self._entries: dict[str, tuple[Caller, bytes, float]] = {}
        self._lock = threading.Lock()
        self._redis_down_until = -math.inf

    def _read_epoch(self) -> bytes | None:
        """GET of the epoch on a connection of this thread's own.

        redis-py's pooled `get` costs ~0.09 ms of CPU (checkout, a poll of the socket, retry
        and metrics bookkeeping), a plain connection ~0.03 ms: a tenth of a poll's CPU, for
        the one command every API request sends.
        """
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pool = self.client.connection_pool
            connection = self._local.connection = pool.connection_class(**pool.connection_kwargs)
        try:
            connection.send_command("GET", REVOCATION_EPOCH_KEY)  # connects when needed
            return connection.read_response()
        except BaseException:
            connection.disconnect()  # a half-read reply must not meet the next command
            raise

    def _epoch(self) -> bytes | None:
        """The current revocation epoch, or None when Redis cannot say."""
        now = time.monotonic()
        if now < self._redis_down_until:
            return None
        try:
            epoch = self._read_epoch()
            if epoch is None:  # first start, or Redis lost the key
                self.client.set(REVOCATION_EPOCH_KEY, secrets.token_hex(16), nx=True)
                epoch = self.client.get(REVOCATION_EPOCH_KEY)
            return epoch
        except redis.RedisError as exc:
            log.warning("token cache off for %.0f s: Redis unavailable (%s)", self.retry_after, exc)
            self._redis_down_until = now + self.retry_after
            with self._lock:
                self._entries.clear()
            return None

    def caller(self, token: str, lookup: Callable[[], Caller | None]) -> Caller | None:
        """The client of `token`: from the cache if still valid, else from `lookup()`."""
        digest = hash_token(token)
        epoch = self._epoch()
        if epoch is None:
            return lookup()
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is not None and entry[1] == epoch and now < entry[2]:
            return entry[0]
        caller = lookup()
        with self._lock:
            if caller is None:
                self._entries.pop(digest, None)
            else:
                if len(self._entries) >= self.size:
                    self._entries.clear()  # only valid tokens get here: a bound, not an LRU
                self._entries[digest] = (caller, epoch, now + self.ttl)
        return caller

    def announce_revocation(self, attempts: int = 3) -> None:
        """A new epoch: every web process re-reads its tokens at its next request."""
        for attempt in range(attempts):
            try:
                self.client.set(REVOCATION_EPOCH_KEY, secrets.token_hex(16))
                return
            except redis.RedisError:
                if attempt == attempts - 1:
                    raise
                time.sleep(1)


def make_token_cache(client: redis.Redis | None) -> TokenCache | None:
    """A token cache on the site's Redis (`web.site_redis`); without it every request asks
    the database."""
    return None if client is None else TokenCache(client)


def authenticate(token: str) -> Caller | None:
    """The active client holding `token`, or None."""
    tokens: TokenCache | None = current_app.extensions.get("facefit.tokens")
    if tokens is None:
        return client_for_token(get_session(), token)
    return tokens.caller(token, lambda: client_for_token(get_session(), token))


def require_client(view):
    """Let the view run only for a request with a valid `Authorization: Bearer <token>`."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        client = None
        if scheme.lower() == "bearer" and token.strip():
            client = authenticate(token.strip())
        if client is None:
            raise ApiError(
                401,
                "UNAUTHORIZED",
                "A valid `Authorization: Bearer <token>` header is required.",
                {"WWW-Authenticate": 'Bearer realm="facefit"'},
            )
        g.client = client
        return view(*args, **kwargs)

    return wrapped


def _client_name(_ctx, _param, name: str) -> str:
    try:
        return check_client_name(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@commands.cli.command("create")
@click.argument("name", callback=_client_name)
def create_command(name: str) -> None:
    """Create an API client NAME and print its token (shown once, on the last line)."""
    session = get_session()
    if session.scalar(select(ApiClient).where(ApiClient.name == name)) is not None:
        raise click.ClickException(f"a client named {name!r} exists already")
    client, token = create_client(session, name)
    session.commit()
    click.echo(f"Created API client {name!r}.", err=True)
    # On stderr, so that `TOKEN=$(flask --app web token create NAME)` still takes the token.
    click.echo(
        f"Its callback signing secret (verifies callbacks; shown only now): {client.webhook_secret}",
        err=True,
    )
    click.echo("Its token is shown only now:", err=True)
    click.echo(token)


def _announce(name: str, done: str) -> None:
    """After committing a token change: every web process re-reads its tokens (see TokenCache)."""
    tokens: TokenCache | None = current_app.extensions.get("facefit.tokens")
    if tokens is None:
        return
    try:
        tokens.announce_revocation()
    except redis.RedisError as exc:
        raise click.ClickException(
            f"{name!r} is {done} in the database, but Redis could not be told ({exc}): "
            f"web processes may accept its old token for up to {tokens.ttl:.0f} s more "
            "(restart the web to end that at once)"
        ) from exc


@commands.cli.command("revoke")
@click.argument("name", callback=_client_name)
def revoke_command(name: str) -> None:
    """Revoke the token of API client NAME."""
    session = get_session()
    if not revoke_client(session, name):
        raise click.ClickException(f"no active client named {name!r}")
    session.commit()  # first the database, then the epoch (see TokenCache)
    _announce(name, "revoked")
    click.echo(f"Revoked {name!r}.")


@commands.cli.command("rotate")
@click.argument("name", callback=_client_name)
def rotate_command(name: str) -> None:
    """Give API client NAME a new token (printed on the last line); the old one stops at once."""
    session = get_session()
    token = rotate_token(session, name)
    if token is None:
        raise click.ClickException(f"no active client named {name!r}")
    session.commit()  # first the database, then the epoch (see TokenCache)
    _announce(name, "given a new token")
    click.echo(f"New token of API client {name!r}, shown only now:", err=True)
    click.echo(token)


@commands.cli.command("list")
def list_command() -> None:
    """List API clients: name, state and creation time, one per line, tab-separated."""
    for client in get_session().scalars(select(ApiClient).order_by(ApiClient.id)):
        state = "revoked" if client.revoked_at else "active"
        # A name stored before names were checked is shown escaped, never as raw text.
        name = client.name if CLIENT_NAME.fullmatch(client.name) else repr(client.name)
        click.echo(f"{name}\t{state}\t{client.created_at:%Y-%m-%d %H:%M}")
