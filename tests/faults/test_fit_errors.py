"""A fit that raises or hangs: the job keeps its error code and message, the worker serves on."""

from __future__ import annotations

from tests.outcomes import wait_for_jobs


def test_a_fit_that_raises_fails_its_job_and_the_worker_serves_on(fault_service):
    worker = fault_service.start_worker()
    broken, good = fault_service.photo("raise"), fault_service.photo()
    broken_id, good_id = fault_service.submit(broken), fault_service.submit(good)
    fault_service.assert_each_finished_once(
        [broken_id], timeout=90, expected=("failed", "INTERNAL_ERROR")
    )
    job = wait_for_jobs(fault_service.sessions, [broken_id], timeout=1)[broken_id]
    assert job.error_message == "RuntimeError: injected fault: the fit raised"
    assert job.params is None and job.attempts == 1
    fault_service.assert_each_finished_once([good_id], timeout=60)
    # The same pool process fitted both: nothing was restarted to keep serving.
    assert fault_service.fitting_pid(broken) == fault_service.fitting_pid(good)
    assert worker.process.poll() is None


def test_time_limits_end_a_hanging_fit_with_TIMEOUT(fault_service):
    """Soft limit: the fit is interrupted and stores TIMEOUT. Hard limit: a fit deaf to the soft
    one (stuck in native code) is killed with its process; the worker stores TIMEOUT for it.
    Neither is retried (documented: a photo that hung once would hang again)."""
    worker = fault_service.start_worker(
        FACEFIT_SOFT_TIME_LIMIT="12", FACEFIT_TIME_LIMIT="16", FACEFIT_STALE_AFTER="60"
    )
    soft, hard, good = (fault_service.photo(f) for f in ("hang-soft", "hang", None))
    soft_id, hard_id, good_id = (fault_service.submit(p) for p in (soft, hard, good))
    jobs = fault_service.assert_each_finished_once(
        [soft_id, hard_id], timeout=90, expected=("failed", "TIMEOUT")
    )
    assert jobs[soft_id].error_message == "the fit took over 12 s"
    assert jobs[hard_id].error_message == "the fit was stopped at the hard time limit of 16 s"
    assert jobs[soft_id].attempts == jobs[hard_id].attempts == 1
    hung = fault_service.fitting_pid(hard)
    fault_service.assert_each_finished_once([good_id], timeout=90)
    assert fault_service.fitting_pid(good) != hung  # a new pool process took over
    assert worker.process.poll() is None
    assert "Hard time limit (16s) exceeded" in worker.log_path.read_text()
