"""dlib's landmarks and 128-d face descriptors of photos and of rig renders, the likeness
measure's input."""

from __future__ import annotations

import numpy as np

from facefit.align import models
from facefit.align.detect import FaceBox, detect_faces, predict_landmarks68
from facefit.likeness.dlib_resnet import CHIP_PADDING, CHIP_SIZE


def face_descriptor(image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """(128,) float64 descriptor of the face with these (68, 2) landmarks in an RGB uint8 image."""
    import dlib

    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image.shape
    assert landmarks68.shape == (68, 2), landmarks68.shape
    left, top = landmarks68.min(axis=0)
    right, bottom = landmarks68.max(axis=0)
    rect = dlib.rectangle(round(left), round(top), round(right), round(bottom))
    shape = dlib.full_object_detection(
        rect, [dlib.point(round(x), round(y)) for x, y in landmarks68]
    )
    chip = dlib.get_face_chip(np.ascontiguousarray(image), shape, CHIP_SIZE, CHIP_PADDING)
    return models.face_recogniser().describe(chip[None])[0]


def photo_landmarks(photo: np.ndarray) -> np.ndarray | None:
    """dlib's (68, 2) landmarks of the largest face in an RGB uint8 photo, None if none found."""
    boxes = detect_faces(photo)
    return predict_landmarks68(photo, boxes[0]) if boxes else None


def photo_descriptor(photo: np.ndarray) -> np.ndarray | None:
    """The largest face's descriptor in an RGB uint8 photo, None if dlib finds no face."""
    landmarks = photo_landmarks(photo)
    return None if landmarks is None else face_descriptor(photo, landmarks)


def render_landmarks(render: np.ndarray, rig_landmarks68: np.ndarray) -> tuple[np.ndarray, bool]:
    """A rig render's dlib landmarks, and whether dlib's detector found the face itself.

    A character dlib's detector misses is still a character the player sees; placing the box
    from the rig's own landmarks keeps it in the measure (and the report counts how often).
    """
    boxes = detect_faces(render)
    if not boxes:
        return placed_landmarks(render, rig_landmarks68), False
    return predict_landmarks68(render, boxes[0]), True


def placed_landmarks(render: np.ndarray, rig_landmarks68: np.ndarray) -> np.ndarray:
    """dlib's landmarks found in the box of the rig's own: the fit knows where its face is."""
    (left, top), (right, bottom) = rig_landmarks68.min(axis=0), rig_landmarks68.max(axis=0)
    return predict_landmarks68(render, FaceBox(left, top, right, bottom, 0.0))


def placed_descriptor(render: np.ndarray, rig_landmarks68: np.ndarray) -> np.ndarray:
    """A rig render's descriptor at `placed_landmarks`, which skips the detector."""
    return face_descriptor(render, placed_landmarks(render, rig_landmarks68))
