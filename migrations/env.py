"""Alembic environment: the template's two functions, the URL from `DATABASE_URL`."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool

from db.models import Base
from db.session import make_engine
from db.urls import database_url
from facefit.settings import CoreSettings, keep_private

config = context.config

# Logging from alembic.ini only when run as the `alembic` command, not from a caller that
# configured logging itself (tests, `make run`).
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def _url() -> str:
    # A caller (the tests) may pass a URL in the config; otherwise the process environment.
    if config.attributes.get("database_url"):
        return config.attributes["database_url"]
    # `make run` migrates first: the SQLite file it may create is private like the rest of var/.
    var_dir = keep_private(CoreSettings.from_env().var_dir)
    return database_url(os.environ.get("DATABASE_URL"), var_dir)


def run_migrations_offline() -> None:
    """Emit the SQL to stdout (`alembic upgrade head --sql`) without a database."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a connection to `DATABASE_URL`."""
    url = _url()
    connectable = make_engine(url, poolclass=pool.NullPool)

    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite alters tables by copying them; batch mode does that for us.
            render_as_batch=url.startswith("sqlite"),
        )

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
