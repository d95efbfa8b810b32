"""Training of the attribute reader (`facefit.nets.attributes`) on the labelled shared photos.

Each photo's dlib descriptor, with its manifest's gender, age and ethnicity, trains three
linear heads at once (logistic, least squares, softmax) with weight decay. The people of
the held-out identity fold (`facefit.data.faces.fold_identities`, the networks' split)
are left out and measured; the smiling photos of the London people count as photos of
their own person, so they stay on the same side of the split.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facefit.nets.attributes import CONFIG_NAME, ETHNICITIES, NETWORK, AttributeReader

logger = logging.getLogger(__name__)
ANY_RIG = "any"  # the reader reads photos: the weights are not tied to a rig


@dataclass(frozen=True)
class AttributesTrainConfig:
    steps: int = 2000  # full-batch steps; a few seconds
    lr: float = 0.05
    weight_decay: float = 0.01
    age_weight: float = 0.01  # years are in tens: this keeps the age loss near the others'
    holdout_fold: int = 0


@dataclass(frozen=True)
class LabelledPhotos:
    """Descriptors (N, 128) and labels; a missing label is NaN (age) or all zeros (ethnicity)."""

    descriptors: np.ndarray
    male: np.ndarray  # (N,) 1.0 man, 0.0 woman
    years: np.ndarray  # (N,) NaN where unknown
    ethnicity: np.ndarray  # (N, 4) shares of ETHNICITIES, zeros where unknown
    identities: list[str]


def ethnicity_shares(label: str | None) -> np.ndarray:
    """A manifest label ("white", "east_asian/white") -> shares of `ETHNICITIES`."""
    shares = np.zeros(len(ETHNICITIES))
    for part in (label or "").split("/"):
        if part in ETHNICITIES:
            shares[ETHNICITIES.index(part)] += 1.0
    return shares / max(shares.sum(), 1.0)


def labelled_photos(faces: Path | None = None) -> LabelledPhotos:
    """Every manifest photo with a gender label, with the descriptor dlib finds in it."""
    from facefit.align import load_photo
    from facefit.data.faces import read_manifest
    from facefit.likeness.descriptors import photo_descriptor

    rows = []
    for record in read_manifest(faces):
        if record.gender not in ("female", "male"):
            continue
        descriptor = photo_descriptor(load_photo(record.image.read_bytes()))
        if descriptor is None:
            logger.warning("no face found in %s: left out", record.name)
            continue
        rows.append((record, descriptor))
    return LabelledPhotos(
        descriptors=np.stack([d for _, d in rows]).astype(np.float32),
        male=np.array([r.gender == "male" for r, _ in rows], np.float32),
        years=np.array([np.nan if r.age is None else r.age for r, _ in rows], np.float32),
        ethnicity=np.stack([ethnicity_shares(r.ethnicity) for r, _ in rows]).astype(np.float32),
        identities=[r.identity for r, _ in rows],
    )


def _loss(model: AttributeReader, x, male, years, ethnicity, cfg: AttributesTrainConfig):
    male_logit, years_out, ethnicity_logits = model(x)
    loss = F.binary_cross_entropy_with_logits(male_logit, male)
    aged = ~torch.isnan(years)
    if aged.any():
        loss = loss + cfg.age_weight * F.smooth_l1_loss(years_out[aged], years[aged], beta=5.0)
    labelled = ethnicity.sum(dim=1) > 0
    if labelled.any():
        log_p = torch.log_softmax(ethnicity_logits[labelled], dim=1)
        loss = loss - (ethnicity[labelled] * log_p).sum(dim=1).mean()
    return loss


def fit_reader(data: LabelledPhotos, rows: np.ndarray, cfg: AttributesTrainConfig):
    """A reader trained on `rows` of `data`."""
    torch.manual_seed(0)
    x = torch.from_numpy(data.descriptors[rows])
    model = AttributeReader()
    model.mean.copy_(x.mean(dim=0))
    model.scale.copy_(x.std(dim=0).clamp_min(1e-4))
    with torch.no_grad():  # start the age head at the average age
        model.heads.bias[1] = float(np.nanmean(data.years[rows]))
    tensors = [torch.from_numpy(a[rows]) for a in (data.male, data.years, data.ethnicity)]
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    for _ in range(cfg.steps):
        optimiser.zero_grad()
        loss = _loss(model, x, *tensors, cfg) + cfg.weight_decay * model.heads.weight.square().sum()
        loss.backward()
        optimiser.step()
    return model.eval()


def measure(model: AttributeReader, data: LabelledPhotos, rows: np.ndarray) -> dict[str, Any]:
    """Sex accuracy, age error and main-ethnicity accuracy of `model` on `rows`."""
    read = model.read(torch.from_numpy(data.descriptors[rows]))
    male = np.array([a.male for a in read])
    years = np.array([a.years for a in read])
    main = np.array([np.argmax(list(a.ethnicity.values())) for a in read])
    aged = ~np.isnan(data.years[rows])
    labelled = data.ethnicity[rows].sum(axis=1) > 0
    truth = data.ethnicity[rows].argmax(axis=1)
    return {
        "photos": int(len(rows)),
        "sex_accuracy": round(float(((male > 0.5) == (data.male[rows] > 0.5)).mean()), 4),
        "age_mae_years": round(float(np.abs(years - data.years[rows])[aged].mean()), 2),
        "ethnicity_accuracy": round(float((main == truth)[labelled].mean()), 4),
    }


def train_attributes(
    out: Path, cfg: AttributesTrainConfig = AttributesTrainConfig(), faces: Path | None = None
) -> dict[str, Any]:
    """Train on every labelled photo outside the held-out fold, write the weights to `out`."""
    from facefit.data.faces import fold_identities
    from facefit.nets.weights import save_weights, weights_name

    t0 = time.perf_counter()
    data = labelled_photos(faces)
    held = fold_identities(cfg.holdout_fold, root=faces)
    is_held = np.array([who in held for who in data.identities])
    train_rows, held_rows = np.flatnonzero(~is_held), np.flatnonzero(is_held)
    model = fit_reader(data, train_rows, cfg)
    validation = {"heldout": measure(model, data, held_rows)}
    validation["training"] = measure(model, data, train_rows)
    logger.info("attribute reader: %s", validation)
    save_weights(
        Path(out) / weights_name(NETWORK, CONFIG_NAME),
        network=NETWORK,
        config_name=CONFIG_NAME,
        config={"ethnicities": list(ETHNICITIES)},
        rig=ANY_RIG,
        layout={},
        state_dict=model.state_dict(),
        provenance={
            "data": {"photos": "shared faces (gender-labelled)", "samples": len(train_rows)},
            "train_config": asdict(cfg),
            "seconds": round(time.perf_counter() - t0, 1),
            "validation": validation,
        },
    )
    return validation
