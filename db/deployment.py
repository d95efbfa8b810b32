"""The deployment mode, read alike by the web and the worker, and what production refuses.

`FACEFIT_ENV` is exactly `development` (the default: SQLite and a filesystem broker under var/
are fine) or `production`. Any other spelling refuses to start: `Production` or `prod` silently
meaning development would run a public site on the embedded defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MODES = ("development", "production")


class SettingsError(RuntimeError):
    """A setting is missing or wrong; the process refuses to start, naming it (never its value)."""


def deployment_mode(env: Mapping[str, str]) -> str:
    """`FACEFIT_ENV`, checked: `development` when unset, else exactly one of `MODES`."""
    mode = env.get("FACEFIT_ENV", "development")
    if mode not in MODES:
        raise SettingsError(
            f"FACEFIT_ENV={mode!r} is not a mode: set it to exactly 'development' or "
            "'production' (lower case), or leave it unset for development."
        )
    return mode


def production_url_problems(env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(names not set, other problems) of the URLs every process of a production site shares.

    Production keeps jobs in PostgreSQL and messages in Redis: a SQLite file or a filesystem
    broker serves only the processes of one machine and has none of their durability.
    """
    missing = [name for name in ("DATABASE_URL", "BROKER_URL") if not env.get(name)]
    problems = []
    database = env.get("DATABASE_URL")
    if database and _backend(database) != "postgresql":
        problems.append("DATABASE_URL is not a postgresql:// URL (production refuses SQLite)")
    broker = env.get("BROKER_URL")
    if broker and not broker.startswith(("redis://", "rediss://")):
        problems.append(
            "BROKER_URL is not a redis:// URL (production refuses the filesystem broker)"
        )
    return missing, problems


def _backend(url: str) -> str | None:
    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        return None
