"""Find faces and their 68 landmarks in an RGB photo with dlib."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facefit.align import models

DETECTORS = ("hog", "cnn")
# Detection runs on a copy at most this long: HOG cost grows with pixels, and faces worth
# fitting stay above the detector's 80 px window at this size.
DETECT_MAX_SIDE = 640
# The retry for small faces: a larger copy, upsampled once (finds faces down to ~40 px there).
RETRY_MAX_SIDE = 1280


@dataclass(frozen=True)
class FaceBox:
    """A detected face in photo pixels (left, top, right, bottom) with the detector's score."""

    left: float
    top: float
    right: float
    bottom: float
    score: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def area(self) -> float:
        return self.width * (self.bottom - self.top)


def _resized(photo: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return np.ascontiguousarray(photo), 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(photo, size, interpolation=cv2.INTER_AREA), scale


def _run(
    image: np.ndarray, detector: str, upsample: int
) -> list[tuple[float, float, float, float, float]]:
    if detector == "hog":
        rects, scores, _ = models.hog_detector().run(image, upsample, 0.0)
        return [
            (r.left(), r.top(), r.right(), r.bottom(), s)
            for r, s in zip(rects, scores, strict=True)
        ]
    found = models.cnn_detector()(image, upsample)
    return [
        (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.confidence) for d in found
    ]


def detect_faces(photo: np.ndarray, detector: str = "hog") -> list[FaceBox]:
    """All faces in an (H, W, 3) uint8 RGB photo, largest first, in photo pixels.

    One pass on a copy at most `DETECT_MAX_SIDE` long; if it finds nothing, one retry on a
    copy at most `RETRY_MAX_SIDE` long, upsampled once, for small faces.
    """
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, photo.shape
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
    boxes: list[FaceBox] = []
    for max_side, upsample in ((DETECT_MAX_SIDE, 0), (RETRY_MAX_SIDE, 1)):
        image, scale = _resized(photo, max_side)
        boxes = [
            FaceBox(left / scale, top / scale, right / scale, bottom / scale, float(score))
            for left, top, right, bottom, score in _run(image, detector, upsample)
        ]
        if boxes:
            break
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def predict_landmarks68(photo: np.ndarray, box: FaceBox) -> np.ndarray:
    """The 68 iBUG landmarks of the face in `box`: (68, 2) float64 photo pixels (x, y)."""
    import dlib

    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, photo.shape
    rect = dlib.rectangle(round(box.left), round(box.top), round(box.right), round(box.bottom))
    shape = models.shape_predictor()(np.ascontiguousarray(photo), rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
