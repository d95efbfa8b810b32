"""Bearer tokens of game servers, and the `flask --app web token ...` commands."""

from __future__ import annotations

import functools

import click
from flask import Blueprint, g, request
from sqlalchemy import select

from db.clients import client_for_token, create_client, revoke_client
from db.models import ApiClient
from web.db import get_session
from web.errors import ApiError

commands = Blueprint("token", __name__, cli_group="token")


def require_client(view):
    """Let the view run only for a request with a valid `Authorization: Bearer <token>`."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        client = None
        if scheme.lower() == "bearer" and token.strip():
            client = client_for_token(get_session(), token.strip())
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


@commands.cli.command("create")
@click.argument("name")
def create_command(name: str) -> None:
    """Create an API client NAME and print its token (shown once, on the last line)."""
    session = get_session()
    if session.scalar(select(ApiClient).where(ApiClient.name == name)) is not None:
        raise click.ClickException(f"a client named {name!r} exists already")
    _client, token = create_client(session, name)
    session.commit()
    click.echo(f"Created API client {name!r}. Its token is shown only now:", err=True)
    click.echo(token)


@commands.cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the token of API client NAME."""
    session = get_session()
    if not revoke_client(session, name):
        raise click.ClickException(f"no active client named {name!r}")
    session.commit()
    click.echo(f"Revoked {name!r}.")


@commands.cli.command("list")
def list_command() -> None:
    """List API clients."""
    for client in get_session().scalars(select(ApiClient).order_by(ApiClient.id)):
        state = "revoked" if client.revoked_at else "active"
        click.echo(f"{client.name}\t{state}\t{client.created_at:%Y-%m-%d %H:%M}")
