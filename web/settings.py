"""Settings of the web process, read once from the environment at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from db.deployment import SettingsError, deployment_mode, production_url_problems
from db.urls import broker_options, broker_url, database_url
from facefit.settings import CoreSettings

__all__ = ["SettingsError", "WebSettings"]


@dataclass(frozen=True)
class WebSettings:
    """What the portal and the API need: database, broker, secrets, upload and rate limits."""

    env: str
    secret_key: str
    database_url: str
    broker_url: str
    broker_options: dict = field(default_factory=dict)
    var_dir: Path = CoreSettings.var_dir
    fit_queue: str = "cpu"
    webhook_queue: str = "webhooks"
    log_level: str = "INFO"
    max_upload_bytes: int = 16 * 1024 * 1024
    jobs_per_minute_per_client: int = 60
    jobs_per_minute_per_ip: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        env = os.environ if env is None else env
        core = CoreSettings.from_env(env)
        mode = deployment_mode(env)
        secret = env.get("SECRET_KEY") or env.get("FLASK_SECRET_KEY")
        if mode == "production":
            _check_production(env, secret)
        if not secret:
            secret = _development_secret(core.var_dir)
        broker = broker_url(env.get("BROKER_URL"))
        return cls(
            env=mode,
            secret_key=secret,
            database_url=database_url(env.get("DATABASE_URL"), core.var_dir),
            broker_url=broker,
            broker_options=broker_options(broker, core.var_dir),
            var_dir=core.var_dir,
            fit_queue=env.get("FACEFIT_FIT_QUEUE", cls.fit_queue),
            webhook_queue=env.get("FACEFIT_WEBHOOK_QUEUE", cls.webhook_queue),
            log_level=core.log_level,
            jobs_per_minute_per_client=int(
                env.get("FACEFIT_JOBS_PER_MINUTE_PER_CLIENT", cls.jobs_per_minute_per_client)
            ),
            jobs_per_minute_per_ip=int(
                env.get("FACEFIT_JOBS_PER_MINUTE_PER_IP", cls.jobs_per_minute_per_ip)
            ),
        )


def _check_production(env: Mapping[str, str], secret: str | None) -> None:
    """Refuse the embedded defaults in production, naming what is missing (never a value)."""
    missing, url_problems = production_url_problems(env)
    if not secret:
        missing.insert(0, "SECRET_KEY")
    problems = [f"{', '.join(missing)} not set"] if missing else []
    problems += url_problems
    if secret and len(secret) < 32:
        problems.append("SECRET_KEY is shorter than 32 characters")
    if problems:
        raise SettingsError(
            f"FACEFIT_ENV=production: {'; '.join(problems)}. It needs a long random SECRET_KEY "
            '(python -c "import secrets; print(secrets.token_hex(32))"), and the PostgreSQL '
            "DATABASE_URL and Redis BROKER_URL that every process of the site shares."
        )


def _development_secret(var_dir: Path) -> str:
    """A key kept under var/ so that portal sessions survive a restart of `make run`."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
