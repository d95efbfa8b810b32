"""Training of the amortised predictor (photo -> parameters) on renders and real photos.

Two signals per step:
- supervised: rig renders whose parameters are known, made to look like photos
  (`photometric`), with an L1 on the continuous controls and a cross-entropy per group;
- self-supervised: aligned training photos (identity folds other than the held-out one)
  whose predicted parameters are rendered by the frozen imitator and judged by the same loss
  terms as the fit, so the predictor learns to land where the search would go.

Training photos may also carry option labels from their manifest entry (`photo_labels`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facefit.fit.config import FitConfig
from facefit.fit.losses import color_vector, region_colors
from facefit.fit.params import ParamLayout
from facefit.fit.search import loss_terms, photo_targets, total_loss
from facefit.nets.predictor import NETWORK, Predictor, build_predictor
from facefit.nets.weights import sha256_of
from facefit.train.common import Progress, run_training
from facefit.train.extractor import photometric
from facefit.train.shards import ShardArrays, split_indices

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorTrainConfig:
    """Everything that decides a predictor run besides the data and the frozen networks."""

    config: str = "lite"
    steps: int = 3000
    batch_size: int = 32
    photo_batch: int = 8  # real photos per step for the self-supervised term (0: off)
    photo_weight: float = 0.5
    # Option labels of training photos, "field=value:group=option[|option...]" over the
    # photo manifest's fields and the London men's by-eye facial hair
    # (`facefit.data.faces.record_fields`; `--photo-label`): a matching photo is pulled
    # toward those options (-log of their summed probability), the others carry no label.
    # Off by default: the women's rule alone, "gender=female:facial_hair=none", ends the
    # stubble that `fast` gives women's photos, but with no labelled beards among the
    # photos the head learns "photo, so no facial hair" and shaves the men too; with the
    # men's by-eye labels as well, see docs/benchmarks.md.
    photo_labels: tuple[str, ...] = ()
    photo_label_weight: float = 0.1
    discrete_weight: float = 0.2
    lr: float = 1e-3
    warmup: int = 100
    val_n: int = 300
    val_every: int = 500
    holdout_fold: int = 0  # identities of this fold never train (5 folds, seed 0)
    seed: int = 0
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    init: str | None = None  # weights file to fine-tune from (else a fresh network)


def predict_raw(
    model: Predictor,
    images: torch.Tensor,
    labels: list[str],
    color_images: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, D) raw outputs for images (B, 3, S, S) at the extractor's size, read the way the
    fitter reads a photo. `color_images` (default: `images`) are where the region colours
    are measured."""
    out = model.extractor(images)
    source = images if color_images is None else color_images
    colors = color_vector(region_colors(source, out.probs, labels))
    return model.raw(out.features, out.probs, colors)


def supervised_loss(
    model: Predictor,
    images: torch.Tensor,
    clean: torch.Tensor,
    params: torch.Tensor,
    labels: list[str],
    tcfg: PredictorTrainConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, continuous MAE) of predictions for renders with known parameters (B, D).

    The extractor reads the photo-like `images`; the colours come from the `clean` renders,
    because the colour jitter that makes the features robust would make the colour controls
    unlearnable (the fit's colour term, too, compares the photo's colours as they are).
    """
    continuous, logits = model.split(predict_raw(model, images, labels, color_images=clean))
    c = model.cfg.continuous_size
    mae = (continuous - params[:, :c]).abs().mean()
    ce, start = 0.0, c
    for lg in logits:
        stop = start + lg.shape[1]
        ce = ce + F.cross_entropy(lg, params[:, start:stop].argmax(1))
        start = stop
    return mae + tcfg.discrete_weight * ce / max(len(logits), 1), mae.detach()


@torch.no_grad()
def validate(
    model: Predictor,
    data: ShardArrays,
    index: np.ndarray,
    labels: list[str],
    device,
    control_names: list[str] | None = None,
) -> dict[str, Any]:
    """Continuous MAE and discrete accuracy per group on held-out renders (no augmentation);
    with `control_names`, also the MAE of each continuous control."""
    model.eval()
    c = model.cfg.continuous_size
    preds, truths = [], []
    for start in range(0, len(index), 64):
        batch = data.batch(index[start : start + 64])
        raw = predict_raw(model, batch["image"].to(device), labels)
        preds.append(model.vector(raw).cpu())
        truths.append(batch["params"])
    model.head.train()
    pred, truth = torch.cat(preds), torch.cat(truths)
    errors = (pred[:, :c] - truth[:, :c]).abs()
    out: dict[str, Any] = {"continuous_mae": float(errors.mean())}
    if control_names is not None:
        per_control = errors.mean(0).tolist()
        out["continuous_mae_per_control"] = {
            name: round(v, 4) for name, v in zip(control_names, per_control, strict=True)
        }
    start = c
    accs = []
    for size in model.cfg.discrete_sizes:
        stop = start + size
        accs.append(
            float((pred[:, start:stop].argmax(1) == truth[:, start:stop].argmax(1)).float().mean())
        )
        start = stop
    out["discrete_accuracy"] = accs
    return out


def photo_option_labels(records: list, rules: tuple[str, ...], spec) -> torch.Tensor:
    """(N, G, K) bool: the options each photo may have per discrete group of the rig (K: the
    largest group's size), from `photo_labels` rules "field=value:group=option[|option...]"
    over `facefit.data.faces.record_fields`; all False where no rule applies. Several
    options make a partial label ("a beard": moustache, goatee or full beard). Refuses
    (`SpecError`) names the rig or the fields do not have, so that a rule written for
    another rig fails loudly."""
    from facefit.data.faces import record_field_names, record_fields
    from facefit.errors import SpecError

    groups = [g.name for g in spec.discrete]
    known_fields = set(record_field_names())
    width = max(len(g.options) for g in spec.discrete)
    out = torch.zeros((len(records), len(groups), width), dtype=torch.bool)
    fields_of = [record_fields(r) for r in records]  # once per photo, not once per rule
    for rule in rules:
        try:
            match, target = rule.split(":")
            field, value = match.split("=")
            group, chosen = target.split("=")
        except ValueError:
            raise SpecError(
                f"photo label {rule!r} is not 'field=value:group=option[|option...]'"
            ) from None
        if field not in known_fields:
            raise SpecError(f"photo label {rule!r}: photos have no field {field!r}")
        if group not in groups:
            raise SpecError(f"photo label {rule!r}: the rig has no group {group!r} ({groups})")
        g = groups.index(group)
        options = list(spec.discrete[g].options)
        unknown = [o for o in chosen.split("|") if o not in options]
        if unknown:
            raise SpecError(f"photo label {rule!r}: {group} has no option {unknown} ({options})")
        allowed = [options.index(o) for o in chosen.split("|")]
        for i, fields_ in enumerate(fields_of):
            if fields_[field] == value:
                out[i, g, allowed] = True
    return out


def photo_label_loss(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """Mean over the labelled (photo, group) pairs of a batch of -log P(an allowed option);
    0 if none. `labels` (B, G, K) bool as `photo_option_labels` gives them."""
    total, count = 0.0, 0
    for g, lg in enumerate(logits):
        allowed = labels[:, g, : lg.shape[1]]
        rows = allowed.any(1)
        if rows.any():
            picked = lg[rows].masked_fill(~allowed[rows], float("-inf"))
            total = total + (lg[rows].logsumexp(1) - picked.logsumexp(1)).sum()
            count += int(rows.sum())
    return total / max(count, 1) if count else logits[0].sum() * 0.0


def aligned_training_photos(
    holdout_fold: int, size: int
) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Training-fold photos aligned by dlib like uploads: images (N, 3, S, S), landmarks
    (N, 68, 2) and the manifest records of the photos kept."""
    from facefit.align import align_photo
    from facefit.data.faces import fold_identities, read_manifest
    from facefit.errors import FacefitError

    held = fold_identities(holdout_fold)
    train = [r for r in read_manifest() if r.set in ("london", "canada") and r.identity not in held]
    images, landmarks, kept = [], [], []
    for record in train:
        try:
            face = align_photo(record.image.read_bytes(), size=size * 4)
        except FacefitError as exc:
            logger.warning("skipping %s: %s", record.name, exc.code)
            continue
        kept.append(record)
        small = torch.from_numpy(face.image).permute(2, 0, 1).float().div(255.0)[None]
        images.append(F.interpolate(small, size=(size, size), mode="area")[0])
        landmarks.append(
            torch.as_tensor(face.aligned_landmarks68 / (size * 4), dtype=torch.float32)
        )
    return torch.stack(images), torch.stack(landmarks), kept


def train_predictor(
    data_dir: Path,
    imitator_path: Path,
    extractor_path: Path,
    out_dir: Path,
    tcfg: PredictorTrainConfig,
    *,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    on_step: Callable[[Progress], None] | None = None,
) -> Path:
    """Train the predictor head on frozen networks; writes weights + manifest to `out_dir`."""
    from facefit.nets.extractor import load_extractor
    from facefit.nets.imitator import load_imitator
    from facefit.rig.spec import load_spec

    torch.manual_seed(tcfg.seed)
    spec = load_spec()
    photo_option_labels([], tcfg.photo_labels, spec)  # a bad rule fails now, not after aligning
    layout = ParamLayout.from_spec(spec)
    labels = list(spec.labels)
    extractor = load_extractor(extractor_path, device)
    imitator = load_imitator(imitator_path, device).requires_grad_(False)
    size = extractor.cfg.size
    data = ShardArrays(data_dir, size=size)
    train_idx, val_idx = split_indices(len(data), tcfg.val_n, seed=0)
    model = build_predictor(tcfg.config, extractor, layout).to(device)
    photos = landmarks = photo_options = None
    if tcfg.photo_batch > 0:
        photos, landmarks, records = aligned_training_photos(tcfg.holdout_fold, size)
        photo_options = photo_option_labels(records, tcfg.photo_labels, spec)
        logger.info(
            "self-supervised term on %d aligned training photos, %d with option labels",
            len(photos), int(photo_options.flatten(1).any(1).sum()),
        )  # fmt: skip
    fit_cfg = FitConfig()
    opt = torch.optim.Adam(model.head.parameters(), lr=tcfg.lr)
    rng = np.random.default_rng(tcfg.seed)

    def step_loss() -> torch.Tensor:
        index = np.sort(rng.choice(train_idx, size=tcfg.batch_size, replace=False))
        batch = data.batch(index)
        # Photo-like augmentation works on the uint8 renders, before the float conversion.
        images = torch.stack([
            torch.from_numpy(photometric(np.asarray(img), rng)).permute(2, 0, 1).float().div(255.0)
            for img in data.images[index]
        ]).to(device)  # fmt: skip
        clean = batch["image"].to(device)
        loss, _ = supervised_loss(model, images, clean, batch["params"].to(device), labels, tcfg)
        if photos is None:
            return loss
        pick = torch.from_numpy(rng.choice(len(photos), size=tcfg.photo_batch, replace=False))
        real, lm = photos[pick].to(device), landmarks[pick].to(device)
        targets = photo_targets(extractor, real, lm, labels, size)
        raw = model.raw(targets.features, targets.probs, color_vector(targets.colors))
        vector = model.vector(raw)
        image, pred_lm = imitator(vector)
        terms = loss_terms(
            extractor, image, pred_lm, vector, targets, labels, size, layout.continuous_size
        )
        loss = loss + tcfg.photo_weight * total_loss(terms, fit_cfg).mean()
        if tcfg.photo_labels and tcfg.photo_label_weight:
            _, logits = model.split(raw)
            loss = loss + tcfg.photo_label_weight * photo_label_loss(
                logits, photo_options[pick].to(device)
            )
        return loss

    def check(step: int) -> dict[str, Any]:
        return validate(model, data, val_idx, labels, device)

    # Only the head trains: the extractor under it stays frozen (and in eval mode).
    run = run_training(
        tcfg, model.head, opt, rng, step_loss, check,
        checkpoint=checkpoint, resume=resume, on_step=on_step, network=NETWORK,
    )  # fmt: skip
    controls = [control.name for control in spec.continuous]
    metrics = validate(model, data, val_idx, labels, device, controls)
    trained_on = {
        "extractor_sha256": sha256_of(Path(extractor_path)),
        "imitator_sha256": sha256_of(Path(imitator_path)),
    }
    return run.save(
        out_dir, NETWORK, tcfg, model.cfg, model.head_state_dict(), device,
        rig=data.meta.rig, layout=data.meta.layout, extra=trained_on,
        train_samples=len(train_idx), train_photos=0 if photos is None else len(photos),
        data={"renders": str(data_dir), "photos": f"identity folds != {tcfg.holdout_fold}"},
        validation=metrics,
    )  # fmt: skip
