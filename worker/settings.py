"""Settings of a worker process, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from db.deployment import SettingsError, deployment_mode, production_url_problems
from db.urls import broker_options, broker_url, database_url, result_backend_url
from facefit.fit.config import SERVICE_MODES
from facefit.settings import CoreSettings
from webhooks.destinations import CallbackPolicy
from webhooks.schedule import RetrySchedule
from webhooks.sending import Timeouts


@dataclass(frozen=True)
class WorkerSettings:
    """Database, broker, fitting mode and thresholds, time limits, and the lost-job sweep."""

    core: CoreSettings
    database_url: str
    broker_url: str
    result_backend: str
    broker_options: dict = field(default_factory=dict)
    env: str = "development"
    fit_queue: str = "cpu"  # where the sweep re-sends jobs (the web sends to the same)
    fit_mode: str = "full"  # full or fast (facefit.fit.config.SERVICE_MODES)
    fit_threshold: float | None = None  # None: the fitting engine's default
    fit_max_iters: int | None = None
    soft_time_limit: int = 600
    time_limit: int = 660
    progress_interval: float = 0.5  # seconds between progress writes of one job
    stale_after: int = 300  # seconds without a heartbeat before a job counts as lost
    sweep_interval: int = 60
    max_attempts: int = 3
    write_retry_s: float = 120.0  # how long a result write waits for the database to return
    # Callbacks: their own queue and worker, so that a slow game server never waits behind
    # fits (or fits behind it).
    webhook_queue: str = "webhooks"
    webhook_schedule: RetrySchedule = RetrySchedule()
    webhook_timeouts: Timeouts = Timeouts()
    callback_policy: CallbackPolicy = CallbackPolicy()
    webhook_sweep_interval: int = 30
    # A wait up to this long is a countdown on the broker; a longer one is left to the sweep
    # (a message parked for hours on Redis outlives its visibility timeout).
    webhook_countdown_max: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        core = CoreSettings.from_env(env)
        mode = deployment_mode(env)
        if mode == "production":
            _check_production(env)
        broker = broker_url(env.get("BROKER_URL"))
        soft = int(env.get("FACEFIT_SOFT_TIME_LIMIT", cls.soft_time_limit))
        fit_mode = env.get("FACEFIT_FIT_MODE", cls.fit_mode)
        if fit_mode not in SERVICE_MODES:
            raise ValueError(f"FACEFIT_FIT_MODE must be one of {SERVICE_MODES}, got {fit_mode!r}")
        return cls(
            core=core,
            database_url=database_url(env.get("DATABASE_URL"), core.var_dir),
            broker_url=broker,
            result_backend=env.get("RESULT_BACKEND") or result_backend_url(broker, core.var_dir),
            broker_options=broker_options(broker, core.var_dir),
            env=mode,
            fit_queue=env.get("FACEFIT_FIT_QUEUE", cls.fit_queue),
            fit_mode=fit_mode,
            fit_threshold=_optional(env.get("FACEFIT_FIT_THRESHOLD"), float),
            fit_max_iters=_optional(env.get("FACEFIT_FIT_MAX_ITERS"), int),
            soft_time_limit=soft,
            time_limit=int(env.get("FACEFIT_TIME_LIMIT", soft + 60)),
            progress_interval=float(env.get("FACEFIT_PROGRESS_INTERVAL", cls.progress_interval)),
            stale_after=int(env.get("FACEFIT_STALE_AFTER", cls.stale_after)),
            sweep_interval=int(env.get("FACEFIT_SWEEP_INTERVAL", cls.sweep_interval)),
            max_attempts=int(env.get("FACEFIT_MAX_ATTEMPTS", cls.max_attempts)),
            write_retry_s=float(env.get("FACEFIT_WRITE_RETRY_S", cls.write_retry_s)),
            webhook_queue=env.get("FACEFIT_WEBHOOK_QUEUE", cls.webhook_queue),
            webhook_schedule=RetrySchedule.from_env(env),
            webhook_timeouts=Timeouts(
                connect=float(env.get("FACEFIT_WEBHOOK_CONNECT_TIMEOUT", Timeouts.connect)),
                total=float(env.get("FACEFIT_WEBHOOK_TIMEOUT", Timeouts.total)),
            ),
            callback_policy=CallbackPolicy.from_env(env),
            webhook_sweep_interval=int(
                env.get("FACEFIT_WEBHOOK_SWEEP_INTERVAL", cls.webhook_sweep_interval)
            ),
            webhook_countdown_max=int(
                env.get("FACEFIT_WEBHOOK_COUNTDOWN_MAX", cls.webhook_countdown_max)
            ),
        )


def _check_production(env: Mapping[str, str]) -> None:
    """The web's refusal of the embedded defaults (`web.settings`), for the worker's URLs."""
    missing, problems = production_url_problems(env)
    if missing:
        problems.insert(0, f"{', '.join(missing)} not set")
    if problems:
        raise SettingsError(f"FACEFIT_ENV=production: {'; '.join(problems)}.")


def _optional(value: str | None, kind: type):
    return kind(value) if value not in (None, "") else None
