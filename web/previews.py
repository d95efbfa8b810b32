"""Pictures of edited parameters drawn by the real rig, in the web process.

The rig `FACEFIT_RIG` selects (`facefit.rig.choice.make_renderer`: numpy, scipy and
moderngl; never torch) is loaded after gunicorn forked: as each web process starts
(`RenderPool.warm`, from deploy/gunicorn.conf.py), else on the first picture. Each renderer
is used by one request at a time: an OpenGL context belongs to one thread while it draws. A
render is deterministic, so the answer is cached by the browser for its URL (undo and redo
show a picture already seen).
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Response
from PIL import Image

from facefit.errors import ExportError, FacefitError, SpecError
from facefit.rig.spec import RigSpec, load_spec
from web.errors import ApiError

log = logging.getLogger(__name__)

# Square sizes (px) a picture may be drawn at: the editor asks for the smallest that covers
# what the browser shows (CSS px x device pixels per CSS px), so no pixel is drawn to be
# thrown away; each size in use is one renderer (an OpenGL context) per web process.
SIZES = (72, 128, 144, 256, 384, 512)
PICTURE_SIZE = 512  # CSS px of the editor's character (web/static/portal.css, #character)
THUMBNAIL_SIZE = 72  # ... and of a style's thumbnail (.option img)
STEPS = 1000  # a control travels in the URL as an integer 0..STEPS (the sliders' 0.001 step)
# libjpeg-turbo at quality 90: 1 ms and 24 kB a 512 px picture, where WebP (method 0) took
# 11 ms (43 ms at p95 on a loaded machine) for 18 kB, and PNG 21 ms for 154 kB.
JPEG_QUALITY = 90


def checked_size(size: int) -> int:
    """`size` if pictures are drawn at it, else INVALID_PARAMS."""
    if size not in SIZES:
        raise ApiError(422, "INVALID_PARAMS", f"size must be one of {SIZES}.")
    return size


def render_cost(size: int) -> int:
    """What a picture of `size` px spends of its player's budget, in thumbnails: a render
    takes a fixed 12 ms (the mesh, uniforms, a frame's set-up) and 32 ms more for each
    512 x 512 pixels it draws, so a 512 px picture costs 4 and anything up to 144 px 1."""
    return 1 + round(3 * (checked_size(size) / 512) ** 2)


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


@dataclass(frozen=True)
class Picture:
    """A JPEG of the rig's render, and the seconds it spent waiting for the renderer,
    rendering and encoding."""

    content: bytes
    timing: dict[str, float]


class RenderPool:
    """One rig renderer per picture size, made when first asked for, shared by the threads."""

    def __init__(self) -> None:
        self._renderers: dict[int, tuple[threading.Lock, Any]] = {}
        self._lock = threading.Lock()

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

    @staticmethod
    def _vector(params: dict[str, Any]):
        try:
            return load_spec().encode(params)
        except SpecError as exc:
            raise ApiError(422, "INVALID_PARAMS", exc.message) from exc

    def _render(self, params: dict[str, Any], size: int, timing: dict[str, float]):
        checked_size(size)
        vector = self._vector(params)
        lock, renderer = self._renderer(size)
        waited = time.perf_counter()
        with lock:
            started = time.perf_counter()
            render = renderer.render(vector)
        timing.update(wait=started - waited, render=time.perf_counter() - started)
        return vector, render

    def picture(self, params: dict[str, Any], size: int) -> Picture:
        """The rig's render of `params` as a JPEG (INVALID_PARAMS if the spec refuses them)."""
        timing: dict[str, float] = {}
        image = self._render(params, size, timing)[1].image
        started = time.perf_counter()
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
        timing["encode"] = time.perf_counter() - started
        return Picture(buffer.getvalue(), timing)

    def warm(self, sizes: tuple[int, ...] = (PICTURE_SIZE, THUMBNAIL_SIZE)) -> None:
        """Make the editor's renderers and draw every option once with each, so that no
        player's picture waits for an OpenGL context, shaders or a hairstyle's mesh (1.3 s
        for a process's first picture, 30 ms for a hairstyle's first)."""
        spec = load_spec()
        try:
            for size in sizes:
                for group in spec.discrete:
                    for option in group.options:
                        self._render({"discrete": {group.name: option}}, size, {})
        except FacefitError as exc:  # no OpenGL here: each picture will answer with the code
            log.warning("the editor's renderers could not be made: %s", exc)

    def character(self, params: dict[str, Any]) -> bytes:
        """The character of `params` as binary glTF (`facefit.rig.choice.character_glb`, with
        the 512 px renderer); GLTF_UNAVAILABLE (501) for a rig without a glTF export."""
        from facefit.rig.choice import character_glb

        vector = self._vector(params)
        lock, renderer = self._renderer(512)
        with lock:
            try:
                return character_glb(vector, renderer=renderer)
            except ExportError as exc:
                raise ApiError(501, exc.code, exc.message) from exc


def server_timing(seconds: dict[str, float]) -> str:
    """A Server-Timing header of named parts (seconds), in ms: the browser shows where a
    picture's time went (the bench reads it too)."""
    return ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in seconds.items())


def glb_response(glb: bytes, job) -> Response:
    """A GLB download named after the job and its version."""
    name = f"character-{job.id}-v{job.params_version}.glb"
    return Response(
        glb,
        mimetype="model/gltf-binary",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
