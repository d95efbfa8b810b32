"""The player portal in a real browser (headless Debian Chromium): upload, live progress, result."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from db.models import Job
from tests.conftest import FACES, LiveServer
from tests.editing import average_face, store_succeeded_job

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def live(pg_service):
    server = LiveServer(pg_service.create_app())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def upload_face(page, live) -> str:
    page.goto(live.url + "/")
    page.set_input_files("#photo", str(FACES / "london_024_neutral.jpg"))
    page.click("#submit")
    page.wait_for_url(re.compile(r"/j/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_the_upload_page_checks_type_and_size_before_sending(page, live):
    page.goto(live.url + "/")
    page.set_input_files("#photo", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"})
    assert page.is_visible("#client-error")
    assert "JPEG, PNG or WebP" in page.inner_text("#client-error")
    page.click("#submit")
    assert page.url == live.url + "/"  # nothing was sent


def test_upload_then_live_progress_then_result(page, live):
    upload_face(page, live)
    page.evaluate("window.notReloaded = true")
    # The job page follows the fit in place, then moves on to the result page.
    page.wait_for_url(re.compile(r"/result$"), timeout=240_000)
    assert page.locator("#sliders input[type=range]").count() > 10
    for alt in ("photo", "aligned", "preview render"):
        assert page.eval_on_selector(f"img[alt='{alt}']", "img => img.complete && img.naturalWidth")


def test_the_result_page_shows_images_sliders_curve_and_download(page, live, pg_service):
    """The result page of a succeeded job (stored here as a game server would see it)."""
    uploaded = uuid.UUID(upload_face(page, live))  # gives this browser its player session
    job_id, stored = _store_succeeded_result(pg_service, uploaded)
    page.goto(f"{live.url}/j/{job_id}")
    page.wait_for_url(re.compile(r"/result$"))
    for alt in ("photo", "aligned", "preview render"):
        width = page.eval_on_selector(
            f"img[alt='{alt}']", "img => img.complete && img.naturalWidth"
        )
        assert width, alt
    sliders = page.locator("#sliders input[type=range]")
    assert sliders.count() == len(stored["continuous"])
    assert page.locator("#sliders fieldset legend").count() >= 2  # grouped by face part
    assert page.get_attribute("#loss-curve polyline", "points").count(",") == 3
    with page.expect_download() as download:
        page.click("#download")
    document = json.loads(Path(download.value.path()).read_text())
    assert document["params"] == stored and document["rig"] == stored["rig"]


def _store_succeeded_result(pg_service, uploaded: uuid.UUID) -> tuple[uuid.UUID, dict]:
    """A finished job of the same player, written through `db.jobs` as the worker writes it.

    It is never queued, so no worker touches it; the parameters are the rig's average face.
    """
    with pg_service.sessions()() as session:
        player = session.get_one(Job, uploaded).portal_key_hash
    return store_succeeded_job(pg_service.sessions(), portal_key_hash=player), average_face()
