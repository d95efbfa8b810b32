"""Label maps of real photos, drawn from their human-placed 189-point templates.

The `frl189_masks.csv` polygons (face, brows, eyes, nose, lips, teeth, ears, neck, head oval)
are warped into the aligned frame and rasterised into the rig's 11 classes. Pixels that
cannot be labelled are `IGNORE` (255): the band between the head oval and the face, which
is hair or background, and a thin band around the head oval itself.

For training, `photo_label_map(..., image=...)` resolves part of that band from the photo
itself: the studio backgrounds are plain, so a pixel far in colour from both the background
and the face's skin is hair, a pixel close to the background is background, and anything in
between (blond hair against a pale wall, bald scalp, soft edges) stays ignored. Evaluation
uses the template labels only, so its numbers measure against human-placed ground truth.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np

IGNORE = 255
# Rig class index of each template region, by the rig's label names.
RIG_LABELS = (
    "background", "skin", "hair", "left_brow", "right_brow", "left_eye", "right_eye",
    "nose", "upper_lip", "inner_mouth", "lower_lip",
)  # fmt: skip
# Lip outlines of the template (README: 87-93 upper lip outline, 94-98 bottom of upper lip,
# 99-103 top of lower lip, 104-108 bottom of lower lip; 87 and 93 are the mouth corners).
UPPER_LIP = (87, 88, 89, 90, 91, 92, 93, 98, 97, 96, 95, 94)
INNER_MOUTH = (87, 94, 95, 96, 97, 98, 93, 103, 102, 101, 100, 99)
LOWER_LIP = (87, 99, 100, 101, 102, 103, 93, 108, 107, 106, 105, 104)
MOUTH_CORNERS = [87, 93]
# Lab distances (OpenCV 8-bit Lab) that separate hair from background and from skin; chosen
# by looking at label sheets of the training folds, not per photo.
BACKGROUND_NEAR = 14.0
BACKGROUND_FAR = 32.0
SKIN_NEAR = 22.0
# Classes with ground truth in photo label maps (hair is never drawn).
PHOTO_CLASSES = tuple(name for name in RIG_LABELS if name != "hair")


@cache
def read_masks(path: Path) -> dict[str, tuple[int, ...]]:
    """Polygons of `frl189_masks.csv` as one closed outline of point indices per region."""
    masks = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            points = [int(v) for piece in row["points"].split(";") for v in piece.split(",")]
            masks[row["mask"]] = tuple(points)
    return masks


def photo_label_map(
    points189: np.ndarray,
    photo_to_aligned: np.ndarray,
    size: int,
    masks: dict[str, tuple[int, ...]],
    labels: tuple[str, ...] | list[str] = RIG_LABELS,
    oval_band: float = 0.02,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """(size, size) uint8 class indices of one photo in the aligned frame.

    `points189` (189, 2) are photo pixels; `photo_to_aligned` (2, 3) the alignment transform.
    With `image`, the (size, size, 3) uint8 RGB aligned photo, hair and background outside
    the template's regions are resolved by colour (module docstring); without it they are
    ground truth only.
    Later regions paint over earlier ones: background, ignored hair band, skin (face, ears,
    neck, as the rig labels them), nose, brows, eyes, lips, inner mouth.
    """
    import cv2

    points189 = np.asarray(points189, np.float64)
    assert points189.shape == (189, 2), points189.shape
    aligned = points189 @ photo_to_aligned[:, :2].T + photo_to_aligned[:, 2]
    index = {name: k for k, name in enumerate(labels)}
    out = np.full((size, size), index["background"], np.uint8)

    def fill(poly: tuple[int, ...], value: int, target: np.ndarray = out) -> None:
        pts = np.round(aligned[list(poly)] * 16).astype(np.int32)
        cv2.fillPoly(target, [pts], int(value), cv2.LINE_8, 4)

    band = max(1, round(oval_band * size))
    oval = np.zeros_like(out)
    fill(masks["oval"], 1, oval)
    fill(masks["neck"], 1, oval)
    # Hair may fall outside the oval: its rim is ignored, not called background.
    out[cv2.dilate(oval, np.ones((2 * band + 1, 2 * band + 1), np.uint8)) > 0] = IGNORE
    for name in ("face", "left_ear", "right_ear", "neck"):
        fill(masks[name], index["skin"])
    fill(masks["nose"], index["nose"])
    for side in ("left", "right"):
        fill(masks[f"{side}_brow"], index[f"{side}_brow"])
        fill(masks[f"{side}_eye"], index[f"{side}_eye"])
    fill(UPPER_LIP, index["upper_lip"])
    fill(LOWER_LIP, index["lower_lip"])
    fill(INNER_MOUTH, index["inner_mouth"])
    if image is not None:
        above_mouth = np.arange(size)[:, None] < aligned[MOUTH_CORNERS, 1].mean()
        out = _hair_from_colour(image, out, index, above_mouth)
    return out


def _hair_from_colour(
    image: np.ndarray, labels: np.ndarray, index: dict[str, int], may_be_hair: np.ndarray
) -> np.ndarray:
    """`labels` with the pixels the template leaves open resolved by colour (module docstring).

    Only pixels that are `IGNORE` or background change: near the background colour ->
    background; far from it and from the skin colour, and where hair may be (`may_be_hair`:
    above the mouth; lower down a collar looks the same) -> hair; otherwise ignored. So long
    hair outside the head oval is no longer called background.
    """
    import cv2

    size = labels.shape[0]
    lab = cv2.cvtColor(cv2.GaussianBlur(image, (3, 3), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    edge = max(2, size // 32)
    border = np.concatenate(
        [lab[:edge].reshape(-1, 3), lab[: size // 2, :edge].reshape(-1, 3),
         lab[: size // 2, -edge:].reshape(-1, 3)]
    )  # fmt: skip
    to_background = np.linalg.norm(lab - np.median(border, axis=0), axis=-1)
    skin = labels == index["skin"]
    to_skin = np.linalg.norm(lab - np.median(lab[skin], axis=0), axis=-1)
    open_ = (labels == IGNORE) | (labels == index["background"])
    out = labels.copy()
    out[open_] = IGNORE
    out[open_ & (to_background < BACKGROUND_NEAR)] = index["background"]
    hair = open_ & may_be_hair & (to_background > BACKGROUND_FAR) & (to_skin > SKIN_NEAR)
    out[hair] = index["hair"]
    return out
