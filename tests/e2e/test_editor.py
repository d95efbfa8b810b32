"""The result page's editor in a real browser (headless Debian Chromium, software WebGL)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_browser import CHROMIUM_ARGS, live, upload_face  # noqa: F401  (fixture)
from tests.editing import SPEC, store_succeeded_job, validate_glb

# three.js needs WebGL: SwiftShader, Chromium's CPU implementation, stands in for a GPU.
WEBGL_ARGS = [*CHROMIUM_ARGS, "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

PIXEL_SUM = """img => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  return g.getImageData(0, 0, c.width, c.height).data.reduce((a, b) => a + b, 0);
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=WEBGL_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    yield context
    context.close()


def open_page(context):
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


@pytest.fixture
def editor(context, live, pg_service):  # noqa: F811
    """A player's browser on the editor of one of its finished jobs (the rig's average face)."""
    page = open_page(context)
    uploaded = uuid.UUID(upload_face(page, live))  # gives this browser its player session
    with pg_service.sessions()() as session:
        from db.models import Job

        player = session.get_one(Job, uploaded).portal_key_hash
    job_id = store_succeeded_job(pg_service.sessions(), portal_key_hash=player)
    page.goto(f"{live.url}/j/{job_id}/result")
    wait_for_picture(page)
    yield page, job_id
    assert not page.errors, f"JavaScript errors: {page.errors}"


def wait_for_picture(page) -> None:
    page.wait_for_function(
        "() => { const i = document.getElementById('character');"
        " return i.complete && i.naturalWidth > 0 }"
    )


def picture_sum(page) -> int:
    return page.eval_on_selector("#character", PIXEL_SUM)


def drag_slider(page, name: str, fraction: float) -> None:
    """Press the slider's thumb, move it along the track to `fraction`, release."""
    slider = page.locator(f"#c-{name}")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for step in range(1, 6):
        target = 0.5 + (fraction - 0.5) * step / 5
        page.mouse.move(box["x"] + box["width"] * target, y)
    page.mouse.up()


def wait_for_shown(page, count: int) -> dict:
    """The `count`-th picture shown after a release (the editor's own timing record)."""
    page.wait_for_function(f"() => window.facefitEditor.timings.length >= {count}")
    return page.evaluate(f"window.facefitEditor.timings[{count - 1}]")


def test_the_character_is_the_largest_thing_and_the_details_fold_away(editor):
    page, _ = editor
    width = page.eval_on_selector("#character", "i => i.getBoundingClientRect().width")
    assert width >= 384
    others = page.eval_on_selector_all(
        "img:not(#character)", "imgs => imgs.map(i => i.getBoundingClientRect().width)"
    )
    assert max(others) < width
    assert not page.is_visible("#loss-curve")  # folded under "details"
    page.click("#details summary")
    assert page.is_visible("#loss-curve") and page.is_visible("#metrics")
    # every control of the rig, grouped by face region, with its documented meaning
    assert page.locator("#sliders input[type=range]").count() == len(SPEC["continuous"])
    assert page.locator("#sliders fieldset legend").count() >= 4
    doc = page.inner_text("#c-jaw_width >> xpath=.. >> .doc")
    assert doc == next(c["doc"] for c in SPEC["continuous"] if c["name"] == "jaw_width")
    # every option of every discrete group, each drawn on this character
    hairstyles = page.locator(".option-row[data-group=hairstyle] .option img")
    assert hairstyles.count() == len(SPEC["discrete"][0]["options"])
    page.wait_for_function(
        "() => [...document.querySelectorAll('.option img')].every(i => i.complete && i.naturalWidth)",
        timeout=120_000,
    )
    # each picture drawn at the size it is shown at, not larger (this page: 1 pixel a CSS px)
    drawn = page.eval_on_selector_all(
        "#character, .option img", "imgs => imgs.map(i => [i.naturalWidth, i.clientWidth])"
    )
    assert all(shown <= natural < 1.5 * shown for natural, shown in drawn), drawn


def test_the_style_pictures_come_in_the_fits_order(context, live):  # noqa: F811
    """A photo fitted by the worker: each row of style pictures starts with the fit's choice,
    then the options as the fit ranked them (`fit.runner_ups` of the job)."""
    page = open_page(context)
    job_id = upload_face(page, live)
    page.wait_for_url(re.compile(r"/result$"), timeout=240_000)
    document = json.loads(page.evaluate(f"fetch('/j/{job_id}/status.json').then(r => r.text())"))
    rows = page.eval_on_selector_all(
        ".option-row",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.group,"
        " [...r.querySelectorAll('.option')].map(o => o.dataset.option)]))",
    )
    assert rows == document["fit"]["runner_ups"]
    assert not page.errors, f"JavaScript errors: {page.errors}"


def test_drag_pick_undo_redo_reset_and_save(editor):
    page, job_id = editor
    before = picture_sum(page)
    drag_slider(page, "jaw_width", 0.95)
    shown = wait_for_shown(page, 1)
    assert "s=512" in shown["url"]
    wait_for_picture(page)
    dragged = picture_sum(page)
    assert dragged != before  # the picture changed
    jaw = int(page.input_value("#c-jaw_width"))
    assert jaw > 800

    bob = page.locator(".option-row[data-group=hairstyle] .option[data-option=bob]")
    bob.click()
    assert bob.get_attribute("aria-pressed") == "true"
    wait_for_shown(page, 2)
    wait_for_picture(page)
    assert picture_sum(page) != dragged

    page.click("#undo")  # the hairstyle goes back
    wait_for_shown(page, 3)
    assert bob.get_attribute("aria-pressed") == "false"
    assert int(page.input_value("#c-jaw_width")) == jaw
    page.click("#undo")  # then the slider
    assert page.input_value("#c-jaw_width") == "500"
    page.click("#redo")
    assert int(page.input_value("#c-jaw_width")) == jaw
    page.click("#c-jaw_width >> xpath=.. >> .reset")  # one control back to the fit
    assert page.input_value("#c-jaw_width") == "500"
    page.click("#undo")
    bob.click()

    page.click("#save")
    page.wait_for_function("() => document.getElementById('version')?.textContent === '2'")
    document = json.loads(page.evaluate(f"fetch('/j/{job_id}/status.json').then(r => r.text())"))
    assert document["version"] == 2
    assert document["params"]["discrete"]["hairstyle"] == "bob"
    assert document["params"]["continuous"]["jaw_width"] == pytest.approx(jaw / 1000)
    assert document["fitted_params"]["continuous"]["jaw_width"] == 0.5
    assert page.is_disabled("#save")  # nothing left to save


def test_a_second_tab_cannot_overwrite_a_newer_save(editor, context):
    page, job_id = editor
    other = open_page(context)
    other.goto(page.url)
    wait_for_picture(other)
    drag_slider(page, "nose_width", 0.9)
    page.click("#save")
    page.wait_for_function("() => document.getElementById('version')?.textContent === '2'")
    drag_slider(other, "nose_width", 0.1)
    other.click("#save")
    other.wait_for_function(
        "() => document.getElementById('save-status').dataset.code === 'VERSION_CONFLICT'"
    )
    document = json.loads(page.evaluate(f"fetch('/j/{job_id}/status.json').then(r => r.text())"))
    assert document["version"] == 2 and document["params"]["continuous"]["nose_width"] > 0.8


def test_the_character_downloads_as_gltf_and_turns_in_3d(editor, tmp_path):
    page, _ = editor
    with page.expect_download() as download:
        page.click("#download-glb")
    content = Path(download.value.path()).read_bytes()
    assert validate_glb(content, tmp_path)["issues"]["numErrors"] == 0

    page.click("#turn")
    page.wait_for_function("() => document.getElementById('orbit').dataset.loaded", timeout=120_000)
    assert page.is_visible("#orbit") and not page.is_visible("#character")
    views = {}
    for yaw in (0, 60, -60):
        page.evaluate(f"window.facefitOrbit.setYaw({yaw})")
        views[yaw] = page.eval_on_selector("#orbit", "c => c.toDataURL('image/png')")
    assert len(set(views.values())) == 3  # three different views of the head
    # dragging turns it too
    box = page.locator("#orbit").bounding_box()
    page.mouse.move(box["x"] + 250, box["y"] + 250)
    page.mouse.down()
    page.mouse.move(box["x"] + 150, box["y"] + 250, steps=5)
    page.mouse.up()
    assert abs(page.evaluate("window.facefitOrbit.yawDegrees()") - (-60 + 57.3)) < 1
