"""Rig 3 frames each face the way a photo is aligned (`facefit.align.photo`): the similarity
that carries the face's 68 landmarks onto the reference face's, with the aligner's weights,
is applied to the picture. A render and an aligned photo of the same face then agree point
for point, whatever the face's size (the macros change a head's size by about a tenth, which
a fixed camera would show and an aligned photo never does).

Coordinates are [0, 1] of the frame, x right and y down, as `camera.project(points, 1)`.
"""

from __future__ import annotations

import numpy as np

from facefit.align.transform import LANDMARK_WEIGHTS, apply_transform, fit_similarity
from facefit.rig import camera
from facefit.rig.reference import reference_landmarks68


def frame_transform(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) similarity carrying `landmarks` (68, 2) onto the reference face's."""
    target = reference_landmarks68(1).astype(np.float64)
    return fit_similarity(np.asarray(landmarks, np.float64), target, LANDMARK_WEIGHTS)


def framed(landmarks: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(N, 2) points moved by a `frame_transform`."""
    return apply_transform(np.asarray(landmarks, np.float64), transform)


def _about_centre(transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A `frame_transform` as (2, 2) linear part and (2,) shift about the frame's centre,
    with y up (as in space and in normalised device coordinates), the shift in frame units."""
    flip = np.diag([1.0, -1.0])
    half = np.array([0.5, 0.5])
    a, b = transform[:, :2], transform[:, 2]
    return flip @ a @ flip, flip @ (a @ half + b - half)


def clip_matrix(transform: np.ndarray) -> np.ndarray:
    """(4, 4) matrix that applies `transform` to clip-space positions: the rasterizer then
    draws the picture the similarity would warp the unframed render into."""
    a, shift = _about_centre(transform)
    out = np.eye(4)
    out[:2, :2] = a
    out[:2, 3] = 2.0 * shift  # the frame spans 2 in device units; times w: after the divide
    return out


def framed_in_space(
    points: np.ndarray, normals: np.ndarray, transform: np.ndarray, depth: float
) -> tuple[np.ndarray, np.ndarray]:
    """(points, normals) (N, 3) in cm moved in space so that the camera sees them framed:
    the similarity's scale and rotation about the camera's axis at `depth` (cm, the face's
    z), its shift at that depth. Exact for points at `depth`; a head's own depth moves the
    rest by a fraction of a pixel. For exports (glTF), where there is no picture to warp."""
    a, shift = _about_centre(transform)
    scale = float(np.sqrt(abs(np.linalg.det(a))))
    axis = np.array([0.0, camera.CAM_Y])
    out = np.array(points, np.float64, copy=True)
    out[:, :2] = (out[:, :2] - axis) @ a.T + axis
    out[:, :2] += shift * (camera.CAM_DIST - depth) / camera.focal_px(1)
    out[:, 2] = depth + scale * (out[:, 2] - depth)
    turned = np.array(normals, np.float64, copy=True)
    turned[:, :2] = turned[:, :2] @ (a / scale).T
    return out.astype(np.float32), turned.astype(np.float32)
