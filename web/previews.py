"""Pictures of edited parameters drawn by the real rig, in the web process.

The rig `FACEFIT_RIG` selects (`facefit.rig.choice.make_renderer`: numpy, scipy and
moderngl; never torch) is loaded on the first request, after gunicorn forked, and each
renderer is used by one request at a time: an OpenGL context belongs to one thread while it
draws. A render is deterministic, so the answer is cached by the browser for its URL (undo
and redo show a picture already seen).
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from typing import Any

from flask import Response
from PIL import Image

from facefit.errors import SpecError
from facefit.rig.spec import RigSpec, load_spec
from web.errors import ApiError

log = logging.getLogger(__name__)

SIZES = (128, 256, 512)
STEPS = 1000  # a control travels in the URL as an integer 0..STEPS (the sliders' 0.001 step)


def params_from_query(spec: RigSpec, continuous: str, discrete: str) -> dict[str, Any]:
    """`c=500,120,...` (every control, spec order, 0..1000) and `d=0,3,1` (option per group)."""
    try:
        values = [int(v) for v in continuous.split(",")] if continuous else []
        options = [int(v) for v in discrete.split(",")] if discrete else []
    except ValueError as exc:
        raise ApiError(422, "INVALID_PARAMS", "c and d must be comma-separated integers.") from exc
    if len(values) != len(spec.continuous) or len(options) != len(spec.discrete):
        raise ApiError(
            422,
            "INVALID_PARAMS",
            f"c needs {len(spec.continuous)} values and d {len(spec.discrete)} option indices.",
        )
    if any(not 0 <= v <= STEPS for v in values):
        raise ApiError(422, "INVALID_PARAMS", f"c values must lie in 0..{STEPS}.")
    return {
        "continuous": {c.name: v / STEPS for c, v in zip(spec.continuous, values, strict=True)},
        "discrete": {g.name: o for g, o in zip(spec.discrete, options, strict=True)},
    }


class RenderPool:
    """One rig renderer per picture size, made when first asked for, shared by the threads."""

    def __init__(self) -> None:
        self._renderers: dict[int, tuple[threading.Lock, Any]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def timing(self) -> dict[str, float]:
        """Seconds the current thread's last picture spent waiting, rendering, encoding."""
        if not hasattr(self._local, "timing"):
            self._local.timing = {}
        return self._local.timing

    def _renderer(self, size: int) -> tuple[threading.Lock, Any]:
        with self._lock:
            if size not in self._renderers:
                # Mesa's llvmpipe rasterizes on the drawing thread instead of handing each
                # draw to its own thread pool: on cores kept busy by a fitting worker a
                # render then takes a steady time (42 to 44 ms a 512 px picture where the
                # pool took 36 to 66 ms; docs/benchmarks.md, "Editor"). Read when the
                # context is made; the environment may set it otherwise.
                os.environ.setdefault("LP_NUM_THREADS", "0")
                from facefit.rig.choice import make_renderer

                self._renderers[size] = (threading.Lock(), make_renderer(size))
            return self._renderers[size]

    def _render(self, params: dict[str, Any], size: int):
        if size not in SIZES:
            raise ApiError(422, "INVALID_PARAMS", f"size must be one of {SIZES}.")
        try:
            vector = load_spec().encode(params)
        except SpecError as exc:
            raise ApiError(422, "INVALID_PARAMS", exc.message) from exc
        lock, renderer = self._renderer(size)
        waited = time.perf_counter()
        with lock:
            started = time.perf_counter()
            render = renderer.render(vector)
        self.timing.update(wait=started - waited, render=time.perf_counter() - started)
        return vector, render

    def picture(self, params: dict[str, Any], size: int) -> bytes:
        """WebP of the rig's render of `params` (INVALID_PARAMS if the spec refuses them)."""
        image = self._render(params, size)[1].image
        started = time.perf_counter()
        buffer = io.BytesIO()
        # WebP at method 0: 20 ms and 15 kB for 512 px, where PNG took 40 ms and 140 kB.
        Image.fromarray(image).save(buffer, format="WEBP", quality=90, method=0)
        self.timing.update(encode=time.perf_counter() - started)
        return buffer.getvalue()

    def server_timing(self) -> str:
        """This thread's last picture as a Server-Timing header (queue, render, encode in ms)."""
        return ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in self.timing.items())

    def character(self, params: dict[str, Any]) -> bytes:
        """The character of `params` as binary glTF (`facefit.rig.gltf`)."""
        from facefit.rig.gltf import character_glb

        vector, render = self._render(params, 512)
        return character_glb(vector, render.labels)


def glb_response(glb: bytes, job) -> Response:
    """A GLB download named after the job and its version."""
    name = f"character-{job.id}-v{job.params_version}.glb"
    return Response(
        glb,
        mimetype="model/gltf-binary",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
