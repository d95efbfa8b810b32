"""Align a player's photo to the rig's reference face (patent CN109636886A, §0063-0065).

Detect the face, find its 68 landmarks, fit a similarity transform from them to the reference
face's landmarks by weighted least squares, and warp the photo so that its features sit where
the reference face's do, at the rig's render size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from facefit.align import detect, quality, transform
from facefit.align.intake import load_photo
from facefit.align.target import default_target_landmarks
from facefit.errors import IntakeError

log = logging.getLogger(__name__)

MIN_FACE_WIDTH = 80
# Similarity, not affine: see docs/benchmarks.md (## Alignment). An affine map also squeezes
# each face towards the reference's proportions, which are what the fit has to recover.
TRANSFORM_KIND = "similarity"


@dataclass(frozen=True)
class AlignedFace:
    """A photo warped onto the reference face, with its landmarks and quality report."""

    image: np.ndarray  # (size, size, 3) uint8 RGB
    faces_found: int
    photo_landmarks68: np.ndarray  # (68, 2) float64, photo pixels
    aligned_landmarks68: np.ndarray  # (68, 2) float64, aligned pixels
    transform: np.ndarray  # (2, 3) float64, photo pixels -> aligned pixels
    residual: float  # mean distance to the target over points 17-67, aligned pixels
    quality: dict = field(default_factory=dict)

    def to_photo(self, aligned_points: np.ndarray) -> np.ndarray:
        """Map (N, 2) aligned-frame points back to photo pixels."""
        return aligned_to_photo(aligned_points, self.transform)

    def to_json(self) -> dict:
        """The `lm.json` document: landmarks, transform, residual and quality, as plain lists."""
        return {
            "faces_found": self.faces_found,
            "photo_landmarks68": np.round(self.photo_landmarks68, 3).tolist(),
            "aligned_landmarks68": np.round(self.aligned_landmarks68, 3).tolist(),
            "transform": self.transform.tolist(),
            "residual": round(self.residual, 4),
            "quality": self.quality,
        }


def aligned_to_photo(aligned_points: np.ndarray, photo_to_aligned: np.ndarray) -> np.ndarray:
    """Map (N, 2) points of the aligned frame back to photo pixels (inverse of the transform)."""
    return transform.apply_transform(aligned_points, transform.invert_transform(photo_to_aligned))


def warp_to_frame(photo: np.ndarray, photo_to_aligned: np.ndarray, size: int) -> np.ndarray:
    """Warp an RGB photo into a `size` x `size` frame, area-averaging first when shrinking.

    Only the part of the photo that lands in the frame is resampled, so a large photo costs
    little more than a small one.
    """
    h, w = photo.shape[:2]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    source = aligned_to_photo(corners, photo_to_aligned)
    x0, y0 = np.maximum(np.floor(source.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(source.max(axis=0)).astype(int) + 3, [w, h])
    if x1 <= x0 or y1 <= y0:  # the frame lies outside the photo: nothing to warp
        return np.zeros((size, size, 3), dtype=np.uint8)
    crop = photo[y0:y1, x0:x1]
    matrix = photo_to_aligned.copy()
    matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], dtype=np.float64)
    scale = transform.transform_scale(matrix)
    if scale < 0.5:
        # warpAffine samples bilinearly: below half size, shrink by area first against aliasing.
        ch, cw = crop.shape[:2]
        new_w, new_h = max(1, round(cw * scale)), max(1, round(ch * scale))
        crop = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.diag([cw / new_w, ch / new_h, 1.0])
    return cv2.warpAffine(
        np.ascontiguousarray(crop),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def align_photo(
    data: bytes | np.ndarray,
    *,
    target_landmarks: np.ndarray | None = None,
    size: int = 512,
    detector: str = "hog",
) -> AlignedFace:
    """Align an upload (file bytes or (H, W, 3) uint8 RGB) onto the reference face.

    `target_landmarks` are the (68, 2) pixel positions to align onto, in the `size` x `size`
    output frame; by default the rig reference face's. `detector` is "hog" (fast) or "cnn"
    (dlib's MMOD network: harder faces, much slower). Raises `IntakeError` for any bad input:
    the intake codes of `load_photo`, then NO_FACE, FACE_TOO_SMALL, FACE_NOT_FRONTAL.
    """
    photo = load_photo(bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
    assert isinstance(photo, np.ndarray) and photo.dtype == np.uint8, type(photo)
    assert photo.ndim == 3 and photo.shape[2] == 3, photo.shape
    if target_landmarks is None:
        target_landmarks = default_target_landmarks(size)
    target = np.asarray(target_landmarks, dtype=np.float64)
    assert target.shape == (68, 2), target.shape

    faces = detect.detect_faces(photo, detector)
    if not faces:
        raise IntakeError(
            "No face was found in the photo; please upload a clear, frontal photo of one face.",
            code="NO_FACE",
        )
    face = faces[0]
    if face.width < MIN_FACE_WIDTH:
        raise IntakeError(
            f"The face is only {face.width:.0f} pixels wide; at least {MIN_FACE_WIDTH} are needed. "
            "Please upload a closer or larger photo.",
            code="FACE_TOO_SMALL",
        )
    photo_lm = detect.predict_landmarks68(photo, face)
    matrix = transform.fit_transform(
        photo_lm, target, transform.LANDMARK_WEIGHTS, kind=TRANSFORM_KIND
    )
    aligned_lm = transform.apply_transform(photo_lm, matrix)
    residual = float(np.linalg.norm(aligned_lm - target, axis=1)[transform.RESIDUAL_POINTS].mean())
    image = warp_to_frame(photo, matrix, size)
    report = quality.assess_quality(photo_lm, photo.shape[:2], image, aligned_lm, len(faces))
    log.debug("aligned: %d face(s), residual %.2f px, %s", len(faces), residual, report)
    return AlignedFace(
        image=image,
        faces_found=len(faces),
        photo_landmarks68=photo_lm,
        aligned_landmarks68=aligned_lm,
        transform=matrix,
        residual=residual,
        quality=report,
    )
