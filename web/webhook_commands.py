"""`flask --app web webhook rotate NAME`: a new callback signing secret, with an overlap."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Blueprint
from sqlalchemy import select

from db.models import ApiClient
from db.webhooks import rotate_secret
from web.db import get_session

commands = Blueprint("webhook", __name__, cli_group="webhook")


@commands.cli.command("rotate")
@click.argument("name")
@click.option(
    "--overlap-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="How long callbacks also carry a signature by the old secret (0: none).",
)
def rotate_command(name: str, overlap_hours: float) -> None:
    """Give API client NAME a new callback signing secret; print it (shown once, last line)."""
    session = get_session()
    client = session.scalar(
        select(ApiClient).where(ApiClient.name == name, ApiClient.revoked_at.is_(None))
    )
    if client is None:
        raise click.ClickException(f"no active client named {name!r}")
    secret, until = rotate_secret(session, client, timedelta(hours=overlap_hours))
    session.commit()
    if until is not None:
        click.echo(
            f"Until {until:%Y-%m-%d %H:%M} UTC every callback to {name!r} carries two "
            "signatures, by the old and by the new secret: switch the game server meanwhile.",
            err=True,
        )
    click.echo(f"The new callback signing secret of {name!r} is shown only now:", err=True)
    click.echo(secret)
