"""Database and broker URLs: the embedded defaults and the one place URLs are normalised.

The web and the worker read their settings separately (`web/settings.py`,
`worker/settings.py`); both call these functions so that they always agree on where the jobs
and the queue live.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url

# Drivers the project ships: `postgresql://user@host/db` must work as users write it.
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def normalize_database_url(url: str) -> str:
    """Pick the project's driver for a plain URL (`postgresql://` -> `postgresql+psycopg://`)."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def create_private_sqlite_file(path: Path) -> None:
    """Create an empty SQLite file readable by its owner only, unless it exists.

    Done before SQLite opens it, since its journal, -wal and -shm files take the database's
    mode, whichever process opens it first. An existing file is never opened: closing any
    descriptor of a file drops every POSIX lock the process holds on it, SQLite's included,
    which lets two writers in (disk I/O errors) if another thread is inside a transaction.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def database_url(value: str | None, var_dir: Path) -> str:
    """`DATABASE_URL` if set, else a SQLite file under `var/` (the embedded default)."""
    if value:
        return normalize_database_url(value)
    var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = (var_dir / "facefit.sqlite3").resolve()
    create_private_sqlite_file(path)
    return f"sqlite:///{path}"


def broker_url(value: str | None) -> str:
    """`BROKER_URL` if set, else kombu's filesystem transport (folders from `broker_options`)."""
    # The host is ignored by the filesystem transport; naming one silences kombu's warning.
    return value or "filesystem://localhost/"


def broker_options(url: str, var_dir: Path) -> dict:
    """Transport options: the filesystem transport needs its folders, shared by web and worker."""
    if not url.startswith("filesystem://"):
        # Redis: a message unacknowledged for longer than a fit is redelivered.
        return {"visibility_timeout": 3600}
    folder = (var_dir / "broker").resolve()
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        # Broadcast exchanges (Flower, remote control) default to ./control: keep them in var/.
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def result_backend_url(broker: str, var_dir: Path) -> str:
    """Where task states (progress for Flower) go: Redis beside a Redis broker, else files."""
    if broker.startswith(("redis://", "rediss://")):
        return broker
    folder = (var_dir / "results").resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return f"file://{folder}"
