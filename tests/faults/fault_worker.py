"""The real worker with faults injected into its fitting step, for `tests/faults` only.

`celery -A tests.faults.fault_worker worker ...` runs `worker.app` unchanged except that
`worker.pipeline.align` and `worker.pipeline.fit` are wrapped. When the folder named by
FACEFIT_TEST_FAULTS_DIR holds a file named after the sha256 of a job's photo, its first word
says what that job's fit does:

    slow <s>    the real fit, sleeping <s> seconds at each step (time to kill it mid-fit)
    raise       the real fit, whose first step raises RuntimeError
    hang        never returns and ignores SIGUSR1, the soft time limit's signal (like a fit
                stuck in native code, which never gets back to Python to raise); only the
                hard limit ends it
    hang-soft   never returns, but the soft time limit's exception interrupts it

Every fit writes `<sha256>.pid` there with the id of the process fitting it. Each pool
process loads the fitting engine when it starts (after the fork), so that kills and time
limits fall on the fit and not on torch's import.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from pathlib import Path

from celery import signals

from worker import pipeline
from worker.app import app, settings

__all__ = ["app"]

log = logging.getLogger(__name__)
FAULTS = Path(os.environ["FACEFIT_TEST_FAULTS_DIR"])
app.conf.worker_proc_alive_timeout = 120  # the engine loads before the process reports up

_real_align, _real_fit = pipeline.align, pipeline.fit
_current: dict[str, str] = {}


def align(photo: bytes):
    digest = hashlib.sha256(photo).hexdigest()
    _current["sha256"] = digest
    (FAULTS / f"{digest}.pid").write_text(str(os.getpid()))
    return _real_align(photo)


def fit(aligned, settings, *, on_step, **options):
    digest = _current.get("sha256", "")
    plan = FAULTS / digest
    fault = plan.read_text().split() if digest and plan.exists() else []
    kind = fault[0] if fault else None
    if kind == "slow":
        delay = float(fault[1])

        def slow_step(*step):
            time.sleep(delay)
            on_step(*step)

        return _real_fit(aligned, settings, on_step=slow_step, **options)
    if kind == "raise":

        def failing_step(*step):
            raise RuntimeError("injected fault: the fit raised")

        return _real_fit(aligned, settings, on_step=failing_step, **options)
    if kind == "hang":
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        while True:
            time.sleep(1)
    if kind == "hang-soft":
        while True:
            time.sleep(1)
    return _real_fit(aligned, settings, on_step=on_step, **options)


pipeline.align, pipeline.fit = align, fit


@signals.worker_process_init.connect
def _load_engine(**_kwargs) -> None:
    try:
        pipeline._load_fitter(settings.core)
    except pipeline.FitUnavailable as exc:
        log.info("no fitting engine in this worker: %s", exc)
