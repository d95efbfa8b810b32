"""Quality of a detected face from its landmarks: head pose, open eyes, sharpness.

Only a strong profile is an error (the rig is fitted to a frontal face, so the fit would be
meaningless); everything else is a warning the caller can show to the player.
"""

from __future__ import annotations

import cv2
import numpy as np

from facefit.errors import IntakeError

# Beyond this |yaw| (degrees) the far half of the face is hidden: refuse.
MAX_YAW_DEG = 40.0
# Warnings.
TURNED_YAW_DEG = 20.0
TILTED_ROLL_DEG = 20.0
# Eye aspect ratio (Soukupova & Cech 2016): about 0.3 open, below ~0.15 closed.
CLOSED_EYE_RATIO = 0.15
# Variance of the Laplacian of the aligned face's grey levels. Sharp studio photos score 8-120
# (small faces, upscaled by the warp, score lowest); a Gaussian blur of sigma 2 photo pixels
# brings nearly all below 5 (see docs/benchmarks.md, ## Alignment).
BLURRY_VARIANCE = 5.0
# A face narrower than this (photo pixels, outer eye corners) is upscaled by the warp.
LOW_RESOLUTION_EYE_DISTANCE = 60.0

# A generic head in camera-like axes (x right, y down, z away from the camera), arbitrary
# units, for the six landmarks: nose tip, chin, outer eye corners, mouth corners.
_POSE_POINTS = (30, 8, 36, 45, 48, 54)
_HEAD_MODEL = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, 330.0, 65.0),
        (-225.0, -170.0, 135.0),
        (225.0, -170.0, 135.0),
        (-150.0, 150.0, 125.0),
        (150.0, 150.0, 125.0),
    ]
)


def roll_degrees(landmarks68: np.ndarray) -> float:
    """In-plane tilt of the line through the eye centres, degrees (positive: clockwise)."""
    left = landmarks68[36:42].mean(axis=0)
    right = landmarks68[42:48].mean(axis=0)
    dx, dy = right - left
    return float(np.degrees(np.arctan2(dy, dx)))


def yaw_pitch_degrees(landmarks68: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float]:
    """Head yaw and pitch in degrees, from a generic 3-D head fitted to six landmarks.

    Yaw is positive when the face turns towards image-right. Accurate to some degrees, which
    is enough to tell a frontal photo from a profile.
    """
    h, w = image_size
    focal = float(max(h, w))
    camera = np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]], dtype=np.float64)
    image_points = np.ascontiguousarray(landmarks68[list(_POSE_POINTS)], dtype=np.float64)
    eye_distance = max(float(np.linalg.norm(image_points[3] - image_points[2])), 1.0)
    rvec = np.zeros((3, 1))
    tvec = np.array([[0.0], [0.0], [focal * 450.0 / eye_distance]])
    ok, rvec, tvec = cv2.solvePnP(
        _HEAD_MODEL, image_points, camera, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return float("nan"), float("nan")
    rotation, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) Ry(yaw) Rx(pitch): yaw from the third row.
    yaw = np.degrees(np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    return float(-yaw), float(pitch)


def eye_open_ratios(landmarks68: np.ndarray) -> tuple[float, float]:
    """Eye aspect ratio (lid gap / eye width) of the image-left and image-right eye."""

    def ratio(eye: np.ndarray) -> float:
        width = np.linalg.norm(eye[0] - eye[3])
        gap = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        return float(gap / (2.0 * width)) if width > 0 else 0.0

    return ratio(landmarks68[36:42]), ratio(landmarks68[42:48])


def blur_variance(aligned: np.ndarray, aligned_landmarks68: np.ndarray) -> float:
    """Variance of the Laplacian of the grey aligned face inside the landmarks' box."""
    assert aligned.dtype == np.uint8 and aligned.ndim == 3, aligned.shape
    grey = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    x0, y0 = np.floor(aligned_landmarks68.min(axis=0)).astype(int)
    x1, y1 = np.ceil(aligned_landmarks68.max(axis=0)).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, w), min(y1, h)
    region = grey[y0:y1, x0:x1] if x1 - x0 > 8 and y1 - y0 > 8 else grey
    return float(cv2.Laplacian(region, cv2.CV_64F).var())


def assess_quality(
    photo_landmarks68: np.ndarray,
    photo_size: tuple[int, int],
    aligned: np.ndarray,
    aligned_landmarks68: np.ndarray,
    faces_found: int,
) -> dict:
    """The quality report of a face; raises `IntakeError(FACE_NOT_FRONTAL)` for a profile."""
    yaw, pitch = yaw_pitch_degrees(photo_landmarks68, photo_size)
    roll = roll_degrees(photo_landmarks68)
    if not abs(yaw) <= MAX_YAW_DEG:  # also refuses NaN: a pose we cannot estimate
        raise IntakeError(
            f"The face is turned too far to the side (about {abs(yaw):.0f} degrees); "
            "please upload a photo looking into the camera.",
            code="FACE_NOT_FRONTAL",
        )
    left_eye, right_eye = eye_open_ratios(photo_landmarks68)
    blur = blur_variance(aligned, aligned_landmarks68)
    eye_distance = float(np.linalg.norm(photo_landmarks68[45] - photo_landmarks68[36]))
    warnings = []
    if faces_found > 1:
        warnings.append("MULTIPLE_FACES")
    if abs(yaw) > TURNED_YAW_DEG:
        warnings.append("FACE_TURNED")
    if abs(roll) > TILTED_ROLL_DEG:
        warnings.append("FACE_TILTED")
    if max(left_eye, right_eye) < CLOSED_EYE_RATIO:
        warnings.append("EYES_CLOSED")
    if blur < BLURRY_VARIANCE:
        warnings.append("BLURRY")
    if eye_distance < LOW_RESOLUTION_EYE_DISTANCE:
        warnings.append("LOW_RESOLUTION")
    return {
        "yaw": round(yaw, 2),
        "pitch": round(pitch, 2),
        "roll": round(roll, 2),
        "eye_open_ratio_left": round(left_eye, 4),
        "eye_open_ratio_right": round(right_eye, 4),
        "eyes_closed": max(left_eye, right_eye) < CLOSED_EYE_RATIO,
        "blur_variance": round(blur, 2),
        "eye_distance_px": round(eye_distance, 2),
        "warnings": warnings,
    }
