"""Contact sheets: random faces with labels and landmarks, and sweeps of one control."""

from __future__ import annotations

from functools import partial

import numpy as np

from facefit.errors import SpecError
from facefit.rig.choice import make_renderer, rig_spec
from facefit.rig.render import RigRender

# label colours in spec label order (background first)
LABEL_COLORS = np.array(
    [(0, 0, 0), (232, 190, 150), (90, 60, 30), (60, 200, 60), (40, 140, 40), (60, 120, 255),
     (30, 60, 200), (250, 220, 40), (230, 60, 80), (120, 0, 60), (255, 120, 150)],
    dtype=np.uint8,
)  # fmt: skip


def overlay(render: RigRender) -> np.ndarray:
    """The label map tinted over the image, with the 68 landmarks as dots: (H, W, 3) uint8."""
    import cv2

    colored = LABEL_COLORS[np.minimum(render.labels, len(LABEL_COLORS) - 1)]
    out = (0.45 * render.image + 0.55 * colored).astype(np.uint8)
    radius = max(1, render.image.shape[0] // 200)
    for x, y in render.landmarks68:
        cv2.circle(out, (round(float(x)), round(float(y))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    return out


def _grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = t
    return sheet


def random_sheet(
    n: int = 16,
    seed: int = 0,
    size: int = 256,
    cols: int = 8,
    rig: str | None = None,
    plausible: bool = False,
) -> np.ndarray:
    """n random faces (top) and their labels + landmarks (below each), as one image.

    `plausible` draws people as rig 3's `people.plausible_vector` does instead of uniformly.
    """
    spec = rig_spec(rig)
    rng = np.random.default_rng(seed)
    renderer = make_renderer(size, rig)
    draw = spec.random_vector
    if plausible:
        from facefit.rig.human.people import plausible_vector

        if spec.rig_id != rig_spec("human").rig_id:
            raise SpecError("--plausible draws people of the human rig (--rig human)")
        draw = partial(plausible_vector, spec)
    tiles = []
    for i in range(n):
        vec = spec.mean_vector() if i == 0 else draw(rng)
        r = renderer.render(vec)
        tiles.append(np.concatenate([r.image, overlay(r)], axis=0))
    return _grid(tiles, min(cols, n))


def sweep_sheet(name: str, steps: int = 7, size: int = 256, rig: str | None = None) -> np.ndarray:
    """One control from 0 to 1 (or every option of a discrete group), others at the mean."""
    spec = rig_spec(rig)
    renderer = make_renderer(size, rig)
    vecs = []
    if name in spec.continuous_index:
        for t in np.linspace(0.0, 1.0, steps):
            vecs.append(spec.encode({"continuous": {name: float(t)}}))
    elif name in spec.discrete_slices:
        group = next(g for g in spec.discrete if g.name == name)
        for option in group.options:
            vecs.append(spec.encode({"discrete": {name: option}}))
    else:
        raise SpecError(f"unknown control or group {name!r}")
    tiles = []
    for v in vecs:
        r = renderer.render(v)
        tiles.append(np.concatenate([r.image, overlay(r)], axis=0))
    return _grid(tiles, len(tiles))
