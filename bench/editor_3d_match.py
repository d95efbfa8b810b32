"""How closely three.js draws the character file to the rig's own render, frontally.

    .venv/bin/python bench/editor_3d_match.py --faces 8     # JSON: mean abs difference

Runs the service as bench/editor_latency.py does (without fitting load), opens the editor
of a fitted photo in headless Chromium (WebGL on SwiftShader), and for the average face and
`--faces - 1` random parameter sets loads the editor's 3D view of those parameters
(`character.glb?c=..&d=..`), reads the canvas at yaw 0, and compares it with
`facefit.rig.render.Renderer(512)` of the same parameters: mean absolute difference of the
RGB values (0..255) over the face region (the rig's label map: skin, brows, eyes, nose,
lips, mouth; hair and background left out) and over the whole picture.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_service import celery_worker, free_port, gunicorn, site  # noqa: E402
from editor_latency import CHROMIUM_ARGS, open_editor  # noqa: E402

from facefit.rig.render import Renderer  # noqa: E402
from facefit.rig.spec import load_spec  # noqa: E402

FACE_CLASSES = (1, 3, 4, 5, 6, 7, 8, 9, 10)  # spec.labels without background and hair


def query(spec, vec: np.ndarray) -> tuple[str, np.ndarray]:
    """The editor's query of a vector, and the vector it stands for (controls in 0.001 steps)."""
    values = np.round(vec[: spec.continuous_size] * 1000).astype(int)
    options = [int(np.argmax(vec[s])) for s in spec.discrete_slices.values()]
    quantised = spec.encode(
        {
            "continuous": {c.name: v / 1000 for c, v in zip(spec.continuous, values, strict=True)},
            "discrete": {g.name: o for g, o in zip(spec.discrete, options, strict=True)},
        }
    )
    return f"c={','.join(map(str, values))}&d={','.join(map(str, options))}", quantised


def canvas_image(page) -> np.ndarray:
    url = page.eval_on_selector("#orbit", "c => c.toDataURL('image/png')")
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write a picture: rig | three.js, per face")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    spec = load_spec()
    rng = np.random.default_rng(args.seed)
    vectors = [spec.mean_vector()] + [spec.random_vector(rng) for _ in range(args.faces - 1)]
    renderer = Renderer(512)
    rows, face_diffs, all_diffs = [], [], []
    with site(str(ROOT / "weights"), None) as bench_site:
        port = free_port()
        with (
            gunicorn(bench_site.env, port, 2, "gthread", 4, reuse_port=True),
            celery_worker(bench_site),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_editor(page, f"http://127.0.0.1:{port}")
            page.click("#turn")
            page.wait_for_function("() => document.getElementById('orbit').dataset.loaded")
            for vec in vectors:
                q, quantised = query(spec, vec)
                page.evaluate(f"window.facefitOrbit.load('{q}').then(() => 0)")
                page.evaluate("window.facefitOrbit.setYaw(0)")
                drawn = canvas_image(page).astype(np.int16)
                rig = renderer.render(quantised)
                diff = np.abs(drawn - rig.image.astype(np.int16)).mean(axis=2)
                face = np.isin(rig.labels, FACE_CLASSES)
                face_diffs.append(float(diff[face].mean()))
                all_diffs.append(float(diff.mean()))
                rows.append(np.concatenate([rig.image, drawn.astype(np.uint8)], axis=1))
            browser.close()
    if args.save:
        Image.fromarray(np.concatenate(rows[:4], axis=0)).save(args.save)
    print(
        json.dumps(
            {
                "faces": len(vectors),
                "face_region_mean_abs_diff": round(float(np.mean(face_diffs)), 2),
                "face_region_per_face": [round(d, 2) for d in face_diffs],
                "whole_picture_mean_abs_diff": round(float(np.mean(all_diffs)), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
