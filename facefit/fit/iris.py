"""The eyes' colour read from the iris, in `full` and `fast` alike.

The colour match read the eyes by the mean colour of their parse region at the extractor's
128 px, where sclera, lids and lashes swamp the iris: every London photo with blue or grey
eyes but four got dark brown. Here the iris is read in the aligned photo at 512 px, inside
each eye's landmark outline (the pixels between the 20th and 50th percentile of lightness:
darker than the sclera, lighter than the pupil and the lashes), and the rig's iris the same
way on its average face drawn at each eye colour, once per process. A photo takes the eye
colour whose iris is nearest its own.

The rig's irises are more saturated than a photo's read this way (studio light, the lids'
shade), so the nearest is taken in CIE Lab with lightness at half weight (`WEIGHTS`): chosen on
the training folds' labelled eyes (`facefit/data/london_eyes.csv`), it gave dark eyes a brown
colour and light eyes a green or blue one most often (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from facefit.fit.color_tables import TABLE_STEPS, ColorTable

EYES = (slice(36, 42), slice(42, 48))  # iBUG-68 outlines of the two eyes
DARKEST, MIDDLE = 20, 50  # percentiles of lightness inside an eye kept as its iris
MIN_PIXELS = 10  # an eye smaller than this (closed, or a tiny face) is not read
WEIGHTS = np.array([0.5, 1.0, 1.0])  # of L*, a* and b* in the nearest iris (lightness at half)


def iris_lab(image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray | None:
    """CIE Lab (3,) of the irises of an (S, S, 3) uint8 RGB face with these (68, 2) landmarks:
    the mean of each eye's pixels between the `DARKEST` and `MIDDLE` percentile of lightness,
    averaged over the eyes read; None where neither eye is open enough to read."""
    irises = []
    for eye in EYES:
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(landmarks68[eye]).astype(np.int32)], 1)
        inside = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0  # the lid's edge left out
        if inside.sum() < MIN_PIXELS:
            continue
        # the eye's pixels converted alone: Lab is per pixel, and a frame costs 30 times more
        pixels = cv2.cvtColor(image[inside][None].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[0]
        low, high = np.percentile(pixels[:, 0], [DARKEST, MIDDLE])
        irises.append(pixels[(pixels[:, 0] >= low) & (pixels[:, 0] <= high)].mean(axis=0))
    return np.mean(irises, axis=0) if irises else None


def photo_irises(faces: list[Any]) -> list[np.ndarray | None]:
    """Each aligned face's iris colour (`iris_lab`), None where its eyes cannot be read."""
    return [iris_lab(face.image, face.aligned_landmarks68) for face in faces]


def match_irises(
    vectors: torch.Tensor, irises: list[np.ndarray | None], rig, spec, control: str
) -> torch.Tensor:
    """`vectors` (B, D) with `control` (the eye colour) set to the one whose iris on the rig's
    average face is nearest each photo's (`photo_irises`); a photo whose eyes could not be
    read keeps its value."""
    table = _table(rig, spec, control)
    vectors = vectors.clone()
    k = spec.continuous_index[control]
    for i, iris in enumerate(irises):
        if iris is not None and table is not None:
            vectors[i, k] = float(table.nearest(iris, np.ones(1), WEIGHTS)[0])
    return vectors


def _table(rig, spec, control: str) -> ColorTable | None:
    """The rig's iris colour on its average face over `control` (a `ColorTable` of one
    control), drawn once per process at the aligned frame's side; None where the average
    face's eyes cannot be read."""
    key = ("iris", control)
    if key not in rig.color_tables:
        values = np.linspace(0.0, 1.0, TABLE_STEPS[1])
        labs = []
        for value in values:
            drawn = rig.render(torch.as_tensor(spec.encode({"continuous": {control: value}})))
            labs.append(iris_lab(drawn.image, drawn.landmarks68))
        readable = all(lab is not None for lab in labs)
        rig.color_tables[key] = ColorTable([values], np.stack(labs)) if readable else None
    return rig.color_tables[key]
