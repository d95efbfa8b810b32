"""Training of the expression basis (`facefit.nets.expressions`) on the shared photo pairs.

Every person outside the held-out identity fold with a neutral and a smiling photo gives
one difference of their aligned landmarks, smiling minus neutral, with the similarity
between the two removed (the aligner places each photo on its own). The basis is the first
`components` right singular vectors of those differences, uncentred so that the mean smile
is the first, each scaled by its singular value's root mean square and signed so that a smile
has a positive amount. Validation: the share of
the differences' energy the basis explains, on the training and the held-out people.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facefit.nets.expressions import CONFIG_NAME, NETWORK, ExpressionBasis

logger = logging.getLogger(__name__)
ANY_RIG = "any"  # photos' landmarks in the aligned frame, which every rig shares
COMPONENTS = 1  # the mean smile; more also took identity from neutral faces (docs/decisions.md)
PAIR = ("neutral", "smiling")


def smile_differences(faces: Path | None = None) -> tuple[np.ndarray, list[str]]:
    """(N, 136) smiling minus neutral aligned landmarks ([0, 1] of the frame), the similarity
    removed, for every person with both photos; and their identities."""
    from facefit.align import align_photo, load_photo
    from facefit.data.faces import read_manifest
    from facefit.errors import FacefitError
    from facefit.fit.shape import similarity_columns
    from facefit.rig.reference import REFERENCE_SIZE

    points: dict[str, dict[str, np.ndarray]] = {}
    for record in read_manifest(faces):
        if record.expression not in PAIR:
            continue
        try:
            face = align_photo(load_photo(record.image.read_bytes()))
        except FacefitError as exc:
            logger.warning("%s not aligned (%s): left out", record.name, exc.code)
            continue
        points.setdefault(record.identity, {})[record.expression] = (
            face.aligned_landmarks68.astype(np.float64) / REFERENCE_SIZE
        )
    rows, identities = [], []
    for identity, pair in sorted(points.items()):
        if set(pair) != set(PAIR):
            continue
        neutral = pair["neutral"]
        difference = (pair["smiling"] - neutral).ravel()
        similarity = similarity_columns(neutral)
        amounts, *_ = np.linalg.lstsq(similarity, difference, rcond=None)
        rows.append(difference - similarity @ amounts)
        identities.append(identity)
    return np.array(rows), identities


def basis_of(differences: np.ndarray, components: int) -> np.ndarray:
    """(K, 136) the main directions of `differences` (N, 136), at their typical size, each
    signed so that the photos' smiles have a positive amount of it on average."""
    _, values, directions = np.linalg.svd(differences, full_matrices=False)
    basis = directions[:components] * (values[:components, None] / np.sqrt(len(differences)))
    sign = np.where((differences @ basis.T).mean(axis=0) < 0, -1.0, 1.0)
    return basis * sign[:, None]


def explained(basis: np.ndarray, differences: np.ndarray) -> float:
    """The share of the differences' squared length the basis explains (least squares)."""
    amounts, *_ = np.linalg.lstsq(basis.T, differences.T, rcond=None)
    left = differences.T - basis.T @ amounts
    return float(1.0 - (left**2).sum() / (differences**2).sum())


def train_expressions(
    out: Path, components: int = COMPONENTS, faces: Path | None = None, holdout_fold: int = 0
) -> dict[str, Any]:
    """Build the basis from the people outside the held-out fold; write it to `out`."""
    from facefit.data.faces import fold_identities
    from facefit.nets.weights import save_weights, weights_name

    t0 = time.perf_counter()
    differences, identities = smile_differences(faces)
    held = fold_identities(holdout_fold, root=faces)
    is_held = np.array([who in held for who in identities])
    train, heldout = differences[~is_held], differences[is_held]
    basis = basis_of(train, components)
    validation = {
        "training": {"pairs": len(train), "explained": round(explained(basis, train), 4)},
        "heldout": {"pairs": len(heldout), "explained": round(explained(basis, heldout), 4)},
    }
    logger.info("expression basis: %s", validation)
    model = ExpressionBasis(components)
    model.directions.copy_(torch.as_tensor(basis.reshape(components, 68, 2)))
    save_weights(
        Path(out) / weights_name(NETWORK, CONFIG_NAME),
        network=NETWORK,
        config_name=CONFIG_NAME,
        config={"components": components},
        rig=ANY_RIG,
        layout={},
        state_dict=model.state_dict(),
        provenance={
            "data": {"photos": "shared faces, neutral and smiling pairs", "samples": len(train)},
            "train_config": {"components": components, "holdout_fold": holdout_fold},
            "seconds": round(time.perf_counter() - t0, 1),
            "validation": validation,
        },
    )
    return validation
