"""Patches of an aligned face's skin, found from its 68 landmarks, and their colours.

The fit's evaluation compares the cheeks' colour between a photo and its fitted render, and
the fit reads a beard from how much darker or more textured the chin is than the cheeks:
both need the same patches, in photos and renders alike.
"""

from __future__ import annotations

import cv2
import numpy as np

LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45
# Cheek patches, each centred on the mean of three iBUG-68 points (jaw, nose wing, lower lid):
# skin that hair, brows, beards and shadows rarely cover, in photos and renders alike.
CHEEKS = ((2, 31, 41), (14, 35, 46))
CHIN_JAW = slice(5, 12)  # iBUG jaw points around the chin
LOWER_LIP_BOTTOM = 57
MOUTH = slice(48, 60)


def cheek_mask(shape: tuple[int, int], landmarks68: np.ndarray) -> np.ndarray:
    """(H, W) bool: two discs on the cheeks, radius 7 % of the outer-eye-corner distance."""
    radius = 0.07 * np.linalg.norm(landmarks68[LEFT_EYE_OUTER] - landmarks68[RIGHT_EYE_OUTER])
    mask = np.zeros(shape, bool)
    for points in CHEEKS:
        cx, cy = landmarks68[list(points)].mean(axis=0)
        # only the disc's box is tested: a whole frame's grid costs more than the rest
        y0, x0 = max(int(np.floor(cy - radius)), 0), max(int(np.floor(cx - radius)), 0)
        y1, x1 = int(np.ceil(cy + radius)) + 1, int(np.ceil(cx + radius)) + 1
        yy, xx = np.mgrid[y0 : min(y1, shape[0]), x0 : min(x1, shape[1])]
        mask[yy, xx] |= (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    return mask


def mean_lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean CIE Lab (L in 0-100) of the `mask` pixels of an (S, S, 3) uint8 RGB image."""
    pixels = image[mask][None].astype(np.float32) / 255.0  # converted alone: Lab is per pixel
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB)[0].mean(axis=0)


def cheek_lab(image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """Mean CIE Lab (L in 0-100) of the cheek patches of an (S, S, 3) uint8 RGB face."""
    return mean_lab(image, cheek_mask(image.shape[:2], landmarks68))


def chin_mask(shape: tuple[int, int], landmarks68: np.ndarray) -> np.ndarray:
    """(H, W) bool: inside the jaw below the lower lip, the lips and their shadow left out."""
    points = np.concatenate([landmarks68[CHIN_JAW], landmarks68[[LOWER_LIP_BOTTOM]]])
    chin = np.zeros(shape, np.uint8)
    cv2.fillPoly(chin, [cv2.convexHull(points.astype(np.int32))], 1)
    mouth = np.zeros_like(chin)
    cv2.fillPoly(mouth, [cv2.convexHull(landmarks68[MOUTH].astype(np.int32))], 1)
    chin &= 1 - cv2.dilate(mouth, np.ones((9, 9), np.uint8))
    return chin > 0


def _lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* (0-100) of an RGB uint8 image, from 8-bit Lab."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) * 100 / 255


def chin_minus_cheek_lightness(image: np.ndarray, landmarks68: np.ndarray) -> float:
    """CIE L* (0-100) of the chin (`chin_mask`) minus that of the cheeks, for an aligned
    RGB face. Stubble and beards darken it; so does a studio's light on a bare chin, by
    less (docs/decisions.md).
    """
    chin = chin_mask(image.shape[:2], landmarks68)
    return float(_lightness(image[chin][None]).mean() - cheek_lab(image, landmarks68)[0])


def chin_minus_cheek_texture(image: np.ndarray, landmarks68: np.ndarray) -> float:
    """Fine texture of the chin minus that of the cheeks, for an aligned RGB face: the mean
    absolute difference between L* and L* blurred by a pixel of the 512 px frame.

    Light stubble and grey beards leave the chin about as light as a bare one but dot it
    with hairs. The chin is `chin_mask` shrunk by 7 px of the 512 px frame: its rim holds
    the jaw's outline and the lip's shadow, edges that every chin has. Skin texture, noise
    and JPEG blocks show on the cheeks as much as on the chin, so they cancel.
    """
    scale = image.shape[0] / 512
    rim = 2 * round(7 * scale) + 1
    chin = chin_mask(image.shape[:2], landmarks68).astype(np.uint8)
    chin = cv2.erode(chin, np.ones((rim, rim), np.uint8)) > 0
    if not chin.any():  # a chin too small to read: no evidence
        return 0.0
    cheeks = cheek_mask(image.shape[:2], landmarks68)
    # L* and its blur on the patches' box alone, with a margin wider than the blur's kernel
    # (radius 4 sigma), so every pixel read is the one the whole frame would give
    rows, cols = (
        np.flatnonzero((chin | cheeks).any(axis=1)),
        np.flatnonzero((chin | cheeks).any(axis=0)),
    )
    margin = int(np.ceil(4 * scale)) + 2
    y0, y1 = max(rows[0] - margin, 0), rows[-1] + margin + 1
    x0, x1 = max(cols[0] - margin, 0), cols[-1] + margin + 1
    lightness = _lightness(image[y0:y1, x0:x1])
    fine = np.abs(lightness - cv2.GaussianBlur(lightness, (0, 0), scale))
    box = (slice(y0, y1), slice(x0, x1))
    return float(fine[chin[box]].mean() - fine[cheeks[box]].mean())
