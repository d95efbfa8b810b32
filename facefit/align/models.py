"""dlib's face detectors, 68-point shape predictor and face recogniser: found, checked, loaded once.

The model files ship in the `face_recognition_models` wheel. Its `__init__` needs
`pkg_resources`, which recent environments lack, so the files are located from the package's
spec without importing it. dlib itself is imported here, inside the loaders, so that importing
`facefit.align` (for the header checks of a web process) never loads it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from functools import cache
from pathlib import Path

from facefit.errors import ModelError

log = logging.getLogger(__name__)

SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"
FACE_RECOGNISER = "dlib_face_recognition_resnet_model_v1.dat"
# sha256 of the files of face-recognition-models 0.3.0; another file gives other landmarks.
MODEL_SHA256 = {
    SHAPE_PREDICTOR_68: "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    MMOD_DETECTOR: "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    FACE_RECOGNISER: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}


def models_dir() -> Path:
    """The `models/` folder of the installed `face_recognition_models` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ModelError(
            "The face landmark models are not installed (pip package face-recognition-models)."
        )
    return Path(spec.origin).parent / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_model_path(name: str) -> Path:
    """Path of a model file after checking that it exists and has the pinned sha256."""
    path = models_dir() / name
    if not path.is_file():
        raise ModelError(f"Model file {path} is missing.")
    found = sha256_of(path)
    if found != MODEL_SHA256[name]:
        raise ModelError(f"Model file {path} has sha256 {found}, expected {MODEL_SHA256[name]}.")
    return path


@cache
def shape_predictor():
    """dlib's 68-point shape predictor (iBUG-300W scheme), loaded once per process."""
    import dlib

    path = verified_model_path(SHAPE_PREDICTOR_68)
    log.debug("loading %s", path)
    return dlib.shape_predictor(str(path))


@cache
def hog_detector():
    """dlib's HOG + linear SVM frontal face detector, loaded once per process."""
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def cnn_detector():
    """dlib's CNN (MMOD) face detector: finds harder faces, about 20x slower on a CPU."""
    import dlib

    path = verified_model_path(MMOD_DETECTOR)
    log.debug("loading %s", path)
    return dlib.cnn_face_detection_model_v1(str(path))


@cache
def face_recogniser():
    """dlib's ResNet face recogniser (128-d descriptors; same person: distance under 0.6), run
    by torch from dlib's model file (`facefit.likeness.dlib_resnet`), loaded once per process."""
    from facefit.likeness.dlib_resnet import DlibResNet, read_model_file

    path = verified_model_path(FACE_RECOGNISER)
    log.debug("loading %s", path)
    return DlibResNet(read_model_file(path.read_bytes())).eval()
