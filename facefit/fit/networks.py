"""Load the fit's frozen networks from the weights folder, with their held-out errors.

The imitator and the extractor are required; the predictor, the controls reader and the
detail readers (`facefit.nets.detail`) are used where installed. Which of them owns which
control is decided from the errors read here (`facefit.fit.ownership`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from facefit.errors import ModelError
from facefit.fit.ownership import HeldOutErrors, complete

logger = logging.getLogger(__name__)

PREDICTOR_CONFIG = "lite"


@dataclass(frozen=True)
class FitNetworks:
    """The frozen networks and their files' sha256."""

    imitator: torch.nn.Module  # params (B, D) -> (image (B, 3, s, s), landmarks (B, 68, 2))
    extractor: torch.nn.Module  # image (B, 3, e, e) -> ExtractorOutput (features, probs)
    predictor: torch.nn.Module | None  # photo features -> params (B, D)
    models: dict[str, str]  # file name -> sha256
    # aligned photo (B, 3, S, S) -> the continuous controls (B, C) in [0, 1]
    controls_reader: torch.nn.Module | None = None
    # file name -> detail reader: aligned photo -> a group's logits, or a few controls
    detail: dict[str, torch.nn.Module] = field(default_factory=dict)
    errors: HeldOutErrors | None = None  # what the manifests say of the readings
    # photo's dlib descriptor -> sex, age, ethnic group: a rig's macro controls
    attributes: torch.nn.Module | None = None
    # how a smile moves a photo's landmarks: the shape solve reads it as expression, not shape
    expressions: torch.nn.Module | None = None
    # how dlib's descriptor of a render moves with each shape pole: the fit's last shape solve
    recognition: torch.nn.Module | None = None
    # parameters -> dlib's descriptor of their real render: the recogniser's step's reading
    descriptor: torch.nn.Module | None = None

    @property
    def extractor_size(self) -> int:
        return self.extractor.cfg.size


def validation_of(path: Path) -> dict[str, Any]:
    """The held-out measures a weights file's manifest entry records."""
    from facefit.nets.weights import read_manifest

    return read_manifest(path.parent)["weights"][path.name].get("validation", {})


def _required(weights_dir: Path, network: str, config: str) -> Path:
    from facefit.nets.weights import weights_name

    path = weights_dir / weights_name(network, config)
    if not path.exists():
        raise ModelError(
            f"the {network} is not installed ({path} is missing)", code="MODEL_MISSING"
        )
    return path


def load_networks(weights_dir: Path, device: torch.device) -> FitNetworks:
    """The installed networks, checked against the manifest and rig.

    Raises `ModelError` (code MODEL_MISSING) when the imitator or the extractor is missing.
    """
    from facefit.nets.controls import DEFAULT_CONFIG as CONTROLS_CONFIG
    from facefit.nets.controls import load_controls_reader
    from facefit.nets.detail import READERS, load_reader
    from facefit.nets.extractor import DEFAULT_CONFIG as EXTRACTOR_CONFIG
    from facefit.nets.extractor import load_extractor
    from facefit.nets.imitator import DEFAULT_CONFIG as IMITATOR_CONFIG
    from facefit.nets.imitator import load_imitator
    from facefit.nets.weights import sha256_of, weights_name
    from facefit.rig.spec import load_spec

    names = tuple(control.name for control in load_spec().continuous)
    paths = {
        "imitator": _required(weights_dir, "imitator", IMITATOR_CONFIG),
        "extractor": _required(weights_dir, "extractor", EXTRACTOR_CONFIG),
    }
    imitator = load_imitator(paths["imitator"], device)
    extractor = load_extractor(paths["extractor"], device)
    predictor, predictor_errors = None, None
    path = weights_dir / weights_name("predictor", PREDICTOR_CONFIG)
    if path.exists():
        from facefit.nets.predictor import load_predictor

        predictor = load_predictor(path, extractor, device, paths["extractor"])
        paths["predictor"] = path
        predictor_errors = complete(validation_of(path).get("continuous_mae_per_control"), names)
    else:
        logger.warning("no predictor installed: mode full starts from the average face")
    controls_reader, controls_errors = None, None
    path = weights_dir / weights_name("controls", CONTROLS_CONFIG)
    if path.exists():  # without it the predictor reads the controls alone
        controls_reader = load_controls_reader(path, device)
        paths["controls"] = path
        controls_errors = complete(validation_of(path).get("per_control"), names)
    detail, detail_errors = {}, []
    for name in READERS:
        path = weights_dir / weights_name("detail", name)
        if not path.exists():  # without one the predictor and the search decide
            continue
        reader = load_reader(path, device)
        if reader.cfg.controls:
            if controls_errors is None:  # it is weighed against the controls reader's errors
                logger.warning(
                    "%s is installed without the controls reader (or its held-out errors): "
                    "not used",
                    path.name,
                )
                continue
            errors = validation_of(path)["per_control"]
            detail_errors.append((path.name, reader.cfg.controls, errors))
        detail[path.name] = reader
        paths[path.name] = path
    attributes = None
    path = weights_dir / weights_name("attributes", "linear")
    if path.exists():  # without it the start's networks read the macro controls too
        from facefit.nets.attributes import load_attribute_reader

        attributes = load_attribute_reader(path, device)
        paths["attributes"] = path
    expressions = None
    path = weights_dir / weights_name("expressions", "smile")
    if path.exists():  # without it every landmark move is read as the face's shape
        from facefit.nets.expressions import load_expression_basis

        expressions = load_expression_basis(path)
        paths["expressions"] = path
    recognition = None
    path = weights_dir / weights_name("recognition", "response")
    if path.exists():  # without it the fit's shape is the landmarks' alone
        from facefit.nets.recognition import load_recognition_response

        recognition = load_recognition_response(path, load_spec().rig_id)
        paths["recognition"] = path
    descriptor = None
    path = weights_dir / weights_name("descriptor", "mlp")
    if path.exists():  # without it `fast` reads its character's real render, as `full` does
        from facefit.nets.descriptor import load_descriptor_imitator

        descriptor = load_descriptor_imitator(path, load_spec().rig_id, device)
        paths["descriptor"] = path
    return FitNetworks(
        imitator=imitator,
        extractor=extractor,
        predictor=predictor,
        models={p.name: sha256_of(p) for p in paths.values()},
        controls_reader=controls_reader,
        detail=detail,
        errors=HeldOutErrors(names, predictor_errors, controls_errors, tuple(detail_errors)),
        attributes=attributes,
        expressions=expressions,
        recognition=recognition,
        descriptor=descriptor,
    )
