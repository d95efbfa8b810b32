"""Measuring the recogniser's response to rig 3's face shape (`facefit.nets.recognition`).

Each of `faces` random rig faces (its shape average, the rest random, sexes alternating) is
drawn at the aligned frame's side with each shape control pushed a quarter down and a quarter
up; dlib's descriptor of every render is read at dlib's landmarks in the box of the rig's
own. A control's response is the central difference, so its low pole moves the descriptor
exactly opposite to its high pole: one-sided differences of a pole and its opposite agreed
(cosine 0.2-0.4), a part common to any change of the face rather than a direction
(docs/decisions.md). The response is the mean over the faces. Validation: the share of each
face's own response that the mean of the other faces explains (leave one face out), which says
how much of the response is common to faces rather than one face's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facefit.nets.recognition import CONFIG_NAME, NETWORK, RecognitionResponse

logger = logging.getLogger(__name__)
# the other faces explain about half of one face's response: the mean needs many (72 over 24:
# both recognisers found more people, docs/decisions.md)
FACES = 72
PUSH = 0.5  # of a pole: the control moved from 0.5 to 0.25 and to 0.75
SEED = 11


def face_responses(faces: int, seed: int = SEED, poles: int | None = None) -> np.ndarray:
    """(faces, 128, P) each face's descriptor change per unit of each pole (the first
    `poles` only, for a quick look; they come in pairs, a control's low then high pole)."""
    from facefit.likeness.descriptors import placed_descriptor
    from facefit.rig.choice import make_renderer
    from facefit.rig.human.landmark_model import landmark_model
    from facefit.rig.reference import REFERENCE_SIZE
    from facefit.rig.spec import load_spec

    spec, renderer = load_spec(), make_renderer(REFERENCE_SIZE)
    index = spec.continuous_index
    chosen = landmark_model().poles[:poles]
    assert all(
        not low.high and high.high for low, high in zip(chosen[::2], chosen[1::2], strict=True)
    )
    rng = np.random.default_rng(seed)

    def descriptor(base: np.ndarray, control: str, value: float) -> np.ndarray:
        pushed = base.copy()
        pushed[index[control]] = value
        render = renderer.render(pushed)
        return placed_descriptor(render.image, render.landmarks68)

    out = np.zeros((faces, 128, len(chosen)))
    for k in range(faces):
        base = spec.random_vector(rng)
        for pole in chosen:
            base[index[pole.control]] = 0.5
        base[index["sex"]] = float(k % 2)
        base[index["age"]] = rng.uniform(0.0, 0.6)  # 18 to 50 years, as players mostly are
        for j in range(0, len(chosen), 2):
            control = chosen[j].control
            up = descriptor(base, control, 0.5 + PUSH / 2)
            down = descriptor(base, control, 0.5 - PUSH / 2)
            out[k, :, j + 1] = (up - down) / (2 * PUSH)  # a pole's amount runs from 0 to 1
            out[k, :, j] = -out[k, :, j + 1]
        logger.info("face %d of %d measured", k + 1, faces)
    return out


def explained_by_others(responses: np.ndarray) -> float:
    """Mean over faces of the share of a face's response the other faces' mean explains."""
    shares = []
    for k in range(len(responses)):
        own = responses[k].ravel()
        others = np.delete(responses, k, axis=0).mean(axis=0).ravel()
        scale = own @ others / max(others @ others, 1e-12)
        shares.append(1.0 - ((own - scale * others) ** 2).sum() / (own**2).sum())
    return float(np.mean(shares))


def train_recognition(out: Path, faces: int = FACES, seed: int = SEED) -> dict[str, Any]:
    """Measure the response on `faces` rig faces; write it to `out`."""
    from facefit.nets.weights import save_weights, weights_name
    from facefit.rig.spec import load_spec

    t0 = time.perf_counter()
    responses = face_responses(faces, seed)
    validation = {
        "faces": faces,
        "explained_by_other_faces": round(explained_by_others(responses), 4),
    }
    logger.info("recognition response: %s", validation)
    model = RecognitionResponse(responses.shape[2])
    model.response.copy_(torch.as_tensor(responses.mean(axis=0)))
    save_weights(
        Path(out) / weights_name(NETWORK, CONFIG_NAME),
        network=NETWORK,
        config_name=CONFIG_NAME,
        config={"poles": responses.shape[2]},
        rig=load_spec().rig_id,
        layout={},
        state_dict=model.state_dict(),
        provenance={
            "data": {
                "renders": "real rig, dlib_face_recognition_resnet_model_v1",
                "samples": faces,
            },
            "train_config": {"faces": faces, "push": PUSH, "seed": seed},
            "seconds": round(time.perf_counter() - t0, 1),
            "validation": validation,
        },
    )
    return validation
