"""A toy face rig drawn with OpenCV, writing the real shard format.

It exists so the training loops, loaders and CLI can be tested and timed without the real
rig: 8 continuous controls (face width, eye size and spacing, brow height, nose length,
mouth width and opening, skin tone) and one 3-way discrete block (hair colour), rendered
with label maps in the rig's 11 classes and 68 landmarks in the iBUG layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facefit.train.shards import write_shards

LABELS = [
    "background", "skin", "hair", "left_brow", "right_brow", "left_eye", "right_eye",
    "nose", "upper_lip", "inner_mouth", "lower_lip",
]  # fmt: skip
CONTINUOUS = 8
HAIR_COLOURS = ((40, 30, 20), (150, 110, 60), (200, 190, 160))
VECTOR_SIZE = CONTINUOUS + len(HAIR_COLOURS)
RIG_ID = "toy/1"


def random_vector(rng: np.random.Generator) -> np.ndarray:
    """Continuous controls in [0, 1] and a one-hot hair colour."""
    vec = np.zeros(VECTOR_SIZE, np.float32)
    vec[:CONTINUOUS] = rng.random(CONTINUOUS)
    vec[CONTINUOUS + rng.integers(len(HAIR_COLOURS))] = 1.0
    return vec


def _ellipse_points(cx, cy, ax, ay, start, stop, n):
    t = np.deg2rad(np.linspace(start, stop, n))
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], 1)


def render(vec: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image HxWx3 uint8, labels HxW uint8, landmarks (68, 2) float32 pixels)."""
    import cv2

    s = size / 128.0
    w, eye, spacing, brow, nose, mouth, opening, tone = (float(v) for v in vec[:CONTINUOUS])
    hair = HAIR_COLOURS[int(np.argmax(vec[CONTINUOUS:]))]
    image = np.full((size, size, 3), 90, np.uint8)
    labels = np.zeros((size, size), np.uint8)
    cx, cy = 64 * s, 68 * s
    fax, fay = (30 + 10 * w) * s, 46 * s

    def fill_ellipse(c, axes, colour, label):
        centre = (round(c[0] * 16), round(c[1] * 16))
        ax = (max(1, round(axes[0] * 16)), max(1, round(axes[1] * 16)))
        cv2.ellipse(image, centre, ax, 0, 0, 360, colour, -1, cv2.LINE_AA, 4)
        cv2.ellipse(labels, centre, ax, 0, 0, 360, label, -1, cv2.LINE_8, 4)

    fill_ellipse((cx, cy - 10 * s), (fax + 6 * s, fay), hair, 2)
    skin = (int(150 + 80 * tone), int(120 + 70 * tone), int(100 + 60 * tone))
    fill_ellipse((cx, cy + 4 * s), (fax, fay - 6 * s), skin, 1)
    ex, ey, er = (12 + 6 * spacing) * s, cy - 6 * s, (3 + 3 * eye) * s
    by = ey - (7 + 5 * brow) * s
    for side, (eye_l, brow_l) in ((-1, (5, 3)), (1, (6, 4))):
        fill_ellipse((cx + side * ex, ey), (er * 1.6, er), (40, 40, 60), eye_l)
        fill_ellipse((cx + side * ex, by), (er * 1.8, 1.6 * s), (50, 40, 30), brow_l)
    nl = (10 + 8 * nose) * s
    tri = np.array([[cx, ey], [cx - 5 * s, ey + nl], [cx + 5 * s, ey + nl]])
    cv2.fillPoly(
        image,
        [np.round(tri * 16).astype(np.int32)],
        (skin[0] - 30, skin[1] - 30, skin[2] - 30),
        cv2.LINE_AA,
        4,
    )
    cv2.fillPoly(labels, [np.round(tri * 16).astype(np.int32)], 7, cv2.LINE_8, 4)
    my, mw, mo = ey + nl + 10 * s, (8 + 8 * mouth) * s, (0.5 + 4 * opening) * s
    fill_ellipse((cx, my - mo / 2 - 1.5 * s), (mw, 2 * s), (150, 60, 70), 8)
    fill_ellipse((cx, my + mo / 2 + 1.5 * s), (mw, 2.2 * s), (160, 70, 80), 10)
    fill_ellipse((cx, my), (mw * 0.9, mo / 2), (30, 10, 10), 9)
    lm = np.concatenate(
        [
            _ellipse_points(cx, cy + 4 * s, fax, fay - 6 * s, 180, 0, 17),  # jaw
            _ellipse_points(cx - ex, by, er * 1.8, 1.6 * s, 180, 360, 5),
            _ellipse_points(cx + ex, by, er * 1.8, 1.6 * s, 180, 360, 5),
            np.stack([np.full(9, cx), np.linspace(ey, ey + nl, 9)], 1),
            _ellipse_points(cx - ex, ey, er * 1.6, er, 180, 540, 7)[:6],
            _ellipse_points(cx + ex, ey, er * 1.6, er, 0, 360, 7)[:6],
            _ellipse_points(cx, my, mw, mo / 2 + 3 * s, 180, 540, 13)[:12],
            _ellipse_points(cx, my, mw * 0.9, mo / 2, 180, 540, 9)[:8],
        ]
    ).astype(np.float32)
    return image, labels, lm


def write_toy_shards(root: Path, n: int, size: int = 64, seed: int = 0) -> Path:
    """`n` random toy faces at `size` px in the shard format under `root`."""
    rng = np.random.default_rng(seed)
    params = np.stack([random_vector(rng) for _ in range(n)])
    out = [render(p, size) for p in params]
    return write_shards(
        root,
        rig=RIG_ID,
        params=params,
        images=np.stack([o[0] for o in out]),
        labels=np.stack([o[1] for o in out]),
        landmarks=np.stack([o[2] for o in out]),
        label_names=LABELS,
        shard_size=max(1, n // 2),
        spec={
            "continuous_size": CONTINUOUS,
            "discrete_slices": {"hair": [CONTINUOUS, VECTOR_SIZE]},
        },
    )
