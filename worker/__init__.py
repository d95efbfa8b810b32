"""Celery workers: `worker.app` (the Celery application) and `worker.tasks` (fit_job, sweep)."""
