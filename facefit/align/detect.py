"""Find faces and their 68 landmarks in an RGB photo with dlib."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facefit.align import models

DETECTORS = ("hog", "cnn")
# Detection runs on a copy at most this long: HOG cost grows with pixels, and a face 16% of
# the photo's long side still fills the detector's 80 px window there.
DETECT_MAX_SIDE = 512
# The retry for small faces: a copy twice as long (upsampled by dlib when the photo is smaller),
# which finds faces down to ~40 px of the first copy.
RETRY_MAX_SIDE = 2 * DETECT_MAX_SIDE


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


def _grey(photo: np.ndarray) -> np.ndarray:
    # dlib's HOG detector and shape predictor work on grey levels; converting once here is
    # cheaper than letting dlib convert every copy.
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, photo.shape
    return cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)


def _resized(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return np.ascontiguousarray(image), 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), size[0] / w


def _run(image: np.ndarray, detector: str, upsample: int) -> list[tuple[float, ...]]:
    if detector == "hog":
        rects, scores, _ = models.hog_detector().run(image, upsample, 0.0)
        return [
            (r.left(), r.top(), r.right(), r.bottom(), s)
            for r, s in zip(rects, scores, strict=True)
        ]
    # The CNN detector wants colour.
    found = models.cnn_detector()(np.dstack([image] * 3) if image.ndim == 2 else image, upsample)
    return [
        (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.confidence) for d in found
    ]


def detect_faces(photo: np.ndarray, detector: str = "hog") -> list[FaceBox]:
    """All faces in an (H, W, 3) uint8 RGB photo, largest first, in photo pixels.

    One pass on a copy at most `DETECT_MAX_SIDE` long; if it finds nothing, one retry at twice
    that resolution (a larger copy of a large photo, dlib's upsampling for a small one).
    """
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
    grey = _grey(photo)
    boxes: list[FaceBox] = []
    for max_side in (DETECT_MAX_SIDE, RETRY_MAX_SIDE):
        image, scale = _resized(grey, max_side)
        # Upsample on the retry only when the photo itself is too small for twice the size.
        upsample = int(max_side == RETRY_MAX_SIDE and max(image.shape) < 0.75 * RETRY_MAX_SIDE)
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

    rect = dlib.rectangle(round(box.left), round(box.top), round(box.right), round(box.bottom))
    shape = models.shape_predictor()(_grey(photo), rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
