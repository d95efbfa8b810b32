"""Weighted least-squares 2-D transforms between landmark sets, and their use on points.

A transform is a (2, 3) float64 matrix `M` mapping column points: `dst = M[:, :2] @ p + M[:, 2]`
(OpenCV's `warpAffine` convention).
"""

from __future__ import annotations

import numpy as np

# Fitting weights per iBUG-68 point: the jaw outline follows the face's shape and the
# detector's guess more than its pose, and the mouth moves with expression.
JAW_WEIGHT = 0.2
MOUTH_WEIGHT = 0.5
LANDMARK_WEIGHTS = np.ones(68)
LANDMARK_WEIGHTS[0:17] = JAW_WEIGHT
LANDMARK_WEIGHTS[48:68] = MOUTH_WEIGHT
LANDMARK_WEIGHTS.flags.writeable = False
# Points whose distance to the target is the reported residual: all but the jaw outline.
RESIDUAL_POINTS = np.arange(17, 68)

TRANSFORM_KINDS = ("similarity", "affine")


def _check(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None) -> tuple:
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    assert src.shape == dst.shape and src.ndim == 2 and src.shape[1] == 2, (src.shape, dst.shape)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    assert w.shape == (len(src),), w.shape
    return src, dst, w


def fit_similarity(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Rotation, uniform scale and shift (no reflection) minimising sum w*|M src - dst|^2."""
    src, dst, w = _check(src, dst, weights)
    # Unknowns (a, b, tx, ty): x' = a x - b y + tx, y' = b x + a y + ty.
    n = len(src)
    rows = np.zeros((2 * n, 4))
    rows[0::2] = np.column_stack([src[:, 0], -src[:, 1], np.ones(n), np.zeros(n)])
    rows[1::2] = np.column_stack([src[:, 1], src[:, 0], np.zeros(n), np.ones(n)])
    sw = np.sqrt(np.repeat(w, 2))
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows * sw[:, None], dst.reshape(-1) * sw, rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def fit_affine(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """General affine map (6 parameters) minimising sum w*|M src - dst|^2."""
    src, dst, w = _check(src, dst, weights)
    design = np.column_stack([src, np.ones(len(src))]) * np.sqrt(w)[:, None]
    solution, *_ = np.linalg.lstsq(design, dst * np.sqrt(w)[:, None], rcond=None)
    return solution.T.copy()


def fit_transform(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None, kind: str = "similarity"
) -> np.ndarray:
    """Dispatch on `kind` ("similarity" or "affine")."""
    if kind == "similarity":
        return fit_similarity(src, dst, weights)
    if kind == "affine":
        return fit_affine(src, dst, weights)
    raise ValueError(f"kind must be one of {TRANSFORM_KINDS}, got {kind!r}")


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a (2, 3) transform."""
    points = np.asarray(points, dtype=np.float64)
    transform = np.asarray(transform, dtype=np.float64)
    assert points.ndim == 2 and points.shape[1] == 2 and transform.shape == (2, 3)
    return points @ transform[:, :2].T + transform[:, 2]


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """The (2, 3) transform that undoes `transform`."""
    transform = np.asarray(transform, dtype=np.float64)
    assert transform.shape == (2, 3), transform.shape
    linear = np.linalg.inv(transform[:, :2])
    return np.column_stack([linear, -linear @ transform[:, 2]])


def transform_scale(transform: np.ndarray) -> float:
    """The mean linear scale of a transform (sqrt of |det|)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(transform)[:, :2]))))
