"""The editor's latency: slider released -> the rig's new picture shown, in a real browser,
while a worker fits photos.

    .venv/bin/python bench/editor_latency.py --drags 60        # JSON with p50, p95, max (ms)

Runs the service as `make run` does (gunicorn, 2 processes x 4 threads, with
deploy/gunicorn.conf.py; a Celery worker at
nice 10 with one torch thread and the trained networks of weights/) on its own PostgreSQL
database and Redis queue (bench/bench_service.py), uploads a photo in headless Chromium,
opens its editor once the fit is done, then keeps the worker fitting (an API client queues
a photo whenever the queue runs low) while the browser drags one slider after another
like a player: press, move in a few steps, release, look at the picture for 1 to 2 s. The
time of each drag is the editor's own record (web/static/editor.js): from the slider's
`change` event to the moment the new picture is put on the page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_service import FACE, celery_worker, free_port, gunicorn, site, upload  # noqa: E402

from db.models import Job  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip


class KeepFitting(threading.Thread):
    """An API client that keeps the fitting queue a few photos deep until stopped."""

    def __init__(self, bench_site, port: int, depth: int = 2) -> None:
        super().__init__(daemon=True)
        self.site, self.port, self.depth = bench_site, port, depth
        self.stopped = threading.Event()
        self.sent: list[str] = []

    def waiting(self) -> int:
        with self.site.sessions() as session:
            return sum(
                1
                for job_id in self.sent[-self.depth * 2 :]
                if session.get(Job, uuid.UUID(job_id)).status in ("queued", "running")
            )

    def run(self) -> None:
        photo = FACE.read_bytes()
        while not self.stopped.is_set():
            if self.waiting() < self.depth:
                status, _, body = upload(self.port, self.site.token, photo)
                if status == 202:
                    self.sent.append(body["id"])
            self.stopped.wait(0.5)

    def fitted(self) -> int:
        with self.site.sessions() as session:
            return sum(session.get(Job, uuid.UUID(j)).status == "succeeded" for j in self.sent)


def open_editor(page, base_url: str) -> str:
    """Upload a photo as a player, wait for its fit, land on its editor; the job id."""
    page.goto(base_url + "/")
    page.set_input_files("#photo", str(FACE))
    page.click("#submit")
    page.wait_for_url(re.compile(r"/result$"), timeout=600_000)
    page.wait_for_function("() => document.getElementById('character').naturalWidth > 0")
    return page.url.split("/j/")[1].split("/")[0]


def drag(page, name: str, fraction: float) -> None:
    slider = page.locator(f"#c-{name}")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    value = int(page.input_value(f"#c-{name}")) / 1000
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * value, y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(box["x"] + box["width"] * (value + (fraction - value) * step / 5), y)
        time.sleep(0.03)
    page.mouse.up()


# Where one picture's time went, from the browser's resource timing: the server's own parts
# (Server-Timing), the whole request and its parts (queued in the browser, sent until the
# first byte came back, the bytes), and when it started and ended on the page's clock.
RESOURCE = """url => {
  const href = new URL(url, location.href).href;
  const e = performance.getEntriesByType('resource').filter(r => r.name === href).at(-1);
  if (!e) return null;
  const server = Object.fromEntries(e.serverTiming.map(t => [t.name, t.duration]));
  return { ...server, request: e.responseEnd - e.startTime, started: e.startTime,
           ended: e.responseEnd, queued: e.requestStart - e.startTime,
           first_byte: e.responseStart - e.requestStart, bytes: e.responseEnd - e.responseStart };
}"""
PARTS = ("sent_after_release", "request", "queued", "first_byte", "bytes", "shown_after_response",
         "app", "job", "limit", "wait", "render", "encode")  # fmt: skip


def count_pictures(page) -> Counter:
    """Every picture answer from now on, by size and HTTP status ("512 200": n)."""
    answers: Counter = Counter()

    def seen(response) -> None:
        if "/render." in response.url:
            size = parse_qs(urlparse(response.url).query).get("s", ["?"])[0]
            answers[f"{size} {response.status}"] += 1

    page.on("response", seen)
    return answers


def measure(page, drags: int, rng: random.Random) -> tuple[list[float], list[dict]]:
    """Release-to-picture times (ms), and where each picture's request spent its time."""
    names = page.eval_on_selector_all(
        "#sliders input[type=range]", "s => s.map(i => i.dataset.name)"
    )
    page.evaluate("performance.setResourceTimingBufferSize(100000)")
    latencies, parts = [], []
    for _ in range(drags):
        seen = page.evaluate("window.facefitEditor.timings.length")
        drag(page, rng.choice(names), rng.uniform(0.05, 0.95))
        try:
            page.wait_for_function(
                f"() => window.facefitEditor.timings.length > {seen}", timeout=10_000
            )
        except Exception:  # noqa: BLE001  (the release landed on the same value: no new picture)
            continue
        timing = page.evaluate("window.facefitEditor.timings.at(-1)")
        latencies.append(timing["shown"] - timing["requested"])
        part = page.evaluate(RESOURCE, timing["url"]) or {}
        if part:  # how long the page held the request back, and took to show the answer
            part["sent_after_release"] = max(0.0, part.pop("started") - timing["requested"])
            part["shown_after_response"] = max(0.0, timing["shown"] - part.pop("ended"))
        parts.append(part)
        time.sleep(rng.uniform(1.0, 2.0))
    return latencies, parts


def percentiles(values: list[float]) -> dict[str, float]:
    """{"p50", "p95"} of `values` in ms, rounded."""
    if len(values) < 2:
        return {"p50": round(values[0], 1), "p95": round(values[0], 1)}
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(statistics.quantiles(values, n=20)[18], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drags", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fitting", action="store_true", help="an idle worker, for comparison")
    parser.add_argument("--screenshot", type=Path, help="save the editor's picture here first")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with site(str(ROOT / "weights"), None) as bench_site:
        port = free_port()
        env = {**bench_site.env, "FACEFIT_LOG_LEVEL": "WARNING"}
        with (
            # as make run: its settings file too (each process makes its renderers as it starts)
            gunicorn(env, port, 2, "gthread", 4, reuse_port=True, config="deploy/gunicorn.conf.py"),
            celery_worker(bench_site),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            base_url = f"http://127.0.0.1:{port}"
            open_editor(page, base_url)
            if args.screenshot:
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.option img')]"
                    ".every(i => i.complete && i.naturalWidth)",
                    timeout=300_000,
                )
                page.screenshot(path=str(args.screenshot))
            load = KeepFitting(bench_site, port)
            if not args.no_fitting:
                load.start()
                time.sleep(3)  # the first photos are queued and being fitted
            started = time.monotonic()
            answers = count_pictures(page)
            latencies, parts = measure(page, args.drags, random.Random(args.seed))
            seconds = time.monotonic() - started
            load.stopped.set()
            browser.close()
            fitted = load.fitted()
    if not latencies:
        return
    shown = percentiles(latencies)
    print(
        json.dumps(
            {
                "drags": len(latencies),
                "p50_ms": shown["p50"],
                "p95_ms": shown["p95"],
                "max_ms": round(max(latencies), 1),
                "seconds": round(seconds, 1),
                "photos_fitted_meanwhile": fitted,
                "picture_answers": dict(sorted(answers.items())),  # "size status": count
                "load_average_1min": os.getloadavg()[0],
                # median and p95 (ms) of each part of a picture's time: held back by the
                # page after the release, the request as the browser saw it (queued in
                # the browser, sent until its first byte, its bytes), the decode and show
                # after it; on the server, all of the app's time, the job's lookup, the
                # rate limit, the wait for the renderer, render and encoding
                "parts_ms": {
                    key: percentiles([p[key] for p in parts if key in p])
                    for key in PARTS
                    if any(key in p for p in parts)
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
