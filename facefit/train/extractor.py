"""Training and evaluation of the feature extractor (patent §0093-0094).

Two sources of labelled aligned faces: rig renders with exact label maps (unlimited) and the
studio photos of `shared/data/faces` with label maps drawn from their templates (few, split
by identity). Both are augmented so that renders do not look cleaner than photos: colour
and lighting jitter, blur, noise, JPEG artefacts, small rotations/scales/shifts, mirroring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facefit.data.photo_labels import IGNORE, PHOTO_CLASSES, RIG_LABELS, photo_label_map, read_masks
from facefit.nets.extractor import NETWORK, Extractor, build_extractor
from facefit.train.common import Progress, TrainResult, run_training
from facefit.train.shards import ShardArrays, split_indices

logger = logging.getLogger(__name__)

MIRROR_PAIRS = (("left_brow", "right_brow"), ("left_eye", "right_eye"))


@dataclass(frozen=True)
class ExtractorTrainConfig:
    """Everything that decides a training run besides the data."""

    config: str = "lite"
    steps: int = 11000  # about 50 min at 3.8 steps/s (batch 16) on two CPU cores
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 200
    weight_decay: float = 1e-4
    photo_fraction: float = 0.5  # share of each batch drawn from real photos
    class_balance: float = 0.5  # exponent of median-frequency class weights (0: plain CE)
    dice: float = 1.0  # weight of the soft Dice term added to cross-entropy (0: CE only)
    holdout_fold: int = 0  # identity fold of the photos held out (of 5, seed 0)
    val_renders: int = 200
    val_every: int = 500
    seed: int = 0
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    init: str | None = None  # weights file to fine-tune from (else a fresh network)


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """Median-frequency balancing, (median f / f_c) ** power, clipped to [0.2, 10].

    Brows, eyes and lips cover under 1 % of a frame each: with plain cross-entropy the
    network gains little by getting them right, and mIoU weighs every class alike.
    """
    counts = np.bincount(labels.reshape(-1), minlength=n_classes)[:n_classes].astype(np.float64)
    freq = counts / max(counts.sum(), 1.0)
    present = freq > 0
    weights = np.ones(n_classes)
    weights[present] = (np.median(freq[present]) / freq[present]) ** power
    return np.clip(weights, 0.2, 10.0).astype(np.float32)


def soft_dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - mean soft Dice over the classes present in the batch, ignored pixels left out.

    Cross-entropy scores pixels; mIoU scores overlap per class. A brow two pixels thick
    loses half its IoU to a one-pixel shift that costs cross-entropy almost nothing, and
    Dice (the overlap measure IoU is monotone in) puts that back into the gradient. Summed
    over the whole batch ("batch Dice"), so a class absent from one image adds no noise.
    """
    probs = logits.softmax(dim=1)  # (B, K, S, S)
    valid = targets != IGNORE
    onehot = F.one_hot(targets.where(valid, 0), probs.shape[1]).permute(0, 3, 1, 2)
    mask = valid[:, None].to(probs.dtype)
    onehot = onehot.to(probs.dtype) * mask
    inter = (probs * onehot).sum(dim=(0, 2, 3))
    total = (probs * mask).sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    dice = (2.0 * inter + 1.0) / (total + 1.0)
    return 1.0 - dice[present].mean()


# --- augmentation (uint8 HxWx3 RGB in, uint8 out) --------------------------------------------


def jitter_matrix(rng: np.random.Generator, size: int, strength: float = 1.0) -> np.ndarray:
    """A random similarity (3x3) about the frame centre: +-8 deg, +-8 % scale, +-4 % shift."""
    angle = np.deg2rad(rng.uniform(-8, 8) * strength)
    scale = 1.0 + rng.uniform(-0.08, 0.08) * strength
    shift = rng.uniform(-0.04, 0.04, 2) * size * strength
    c = size / 2.0
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    return np.array(
        [[cos, -sin, c - cos * c + sin * c + shift[0]], [sin, cos, c - sin * c - cos * c + shift[1]],
         [0, 0, 1]]
    )  # fmt: skip


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, lighting, blur, noise and JPEG jitter of an RGB uint8 image."""
    import cv2

    x = image.astype(np.float32) / 255.0
    x = x * rng.uniform(0.8, 1.2, 3) + rng.uniform(-0.06, 0.06, 3)  # white balance, offset
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.75, 1.25)  # contrast, light
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.6, 1.4)  # saturation
    if rng.random() < 0.5:  # a soft directional light
        ramp = np.linspace(-1, 1, x.shape[1], dtype=np.float32)[None, :, None]
        x = x * (1.0 + rng.uniform(-0.2, 0.2) * ramp)
    x = np.clip(x, 0, 1) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.005, 0.03), x.shape).astype(np.float32)
    out = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def mirror_table(labels: list[str] | tuple[str, ...]) -> np.ndarray:
    """Class index map of a horizontally flipped label map (left and right swap)."""
    table = np.arange(256, dtype=np.uint8)
    index = {name: k for k, name in enumerate(labels)}
    for a, b in MIRROR_PAIRS:
        if a in index and b in index:
            table[index[a]], table[index[b]] = index[b], index[a]
    return table


# --- real photos -------------------------------------------------------------------------------


class PhotoSet:
    """Photos with 189-point templates, aligned on demand with label maps in the rig classes."""

    def __init__(self, records: list, size: int, labels: list[str], root: Path) -> None:
        import cv2

        from facefit.align.target import default_target_landmarks
        from facefit.align.transform import LANDMARK_WEIGHTS, fit_transform
        from facefit.data.faces import ibug68_from_frl189, read_pts189

        self.size = size
        self.labels = labels
        self.masks = read_masks(root / "frl189_masks.csv")
        self.records = records
        target = default_target_landmarks(size)
        self.photos, self.points, self.matrices = [], [], []
        for record in records:
            photo = cv2.cvtColor(cv2.imread(str(record.image)), cv2.COLOR_BGR2RGB)
            pts = read_pts189(record.landmarks189)
            lm68, mask = ibug68_from_frl189(pts, root)
            matrix = fit_transform(lm68[mask], target[mask], LANDMARK_WEIGHTS[mask])
            self.photos.append(photo)
            self.points.append(pts)
            self.matrices.append(np.vstack([matrix, [0, 0, 1]]))

    def __len__(self) -> int:
        return len(self.records)

    def sample(
        self, i: int, rng: np.random.Generator | None, hair_by_colour: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Aligned (S, S, 3) uint8 image and (S, S) uint8 labels; augmented when `rng` is given.

        Training asks for `hair_by_colour` labels (hair and background resolved by colour);
        evaluation keeps the template's ground truth.
        """
        from facefit.align.photo import warp_to_frame

        matrix = self.matrices[i]
        if rng is not None:
            matrix = jitter_matrix(rng, self.size) @ matrix
        image = warp_to_frame(self.photos[i], matrix[:2], self.size)
        labels = photo_label_map(
            self.points[i], matrix[:2], self.size, self.masks, self.labels,
            image=image if hair_by_colour else None,
        )  # fmt: skip
        if rng is not None:
            image = photometric(image, rng)
            if rng.random() < 0.5:
                image = image[:, ::-1].copy()
                labels = mirror_table(self.labels)[labels[:, ::-1]]
        return image, labels


def photo_split(faces: Path | None, holdout_fold: int) -> tuple[list, list, Path]:
    """(train, held-out) photo records with full templates, split by identity."""
    from facefit.data.faces import faces_dir, read_manifest, split_by_identity, with_frl189

    root = faces_dir() if faces is None else Path(faces)
    records = with_frl189(read_manifest(root))
    train, held = split_by_identity(records, holdout_fold=holdout_fold, n_folds=5, seed=0)
    return train, held, root


def render_sample(
    data: ShardArrays, i: int, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """A render and its labels, augmented like a photo when `rng` is given."""
    import cv2

    image, labels = np.asarray(data.images[i]), np.asarray(data.labels[i])
    if rng is None:
        return image, labels
    matrix = jitter_matrix(rng, data.size, 0.7)[:2]
    image = cv2.warpAffine(
        image,
        matrix,
        (data.size, data.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    labels = cv2.warpAffine(
        labels,
        matrix,
        (data.size, data.size),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_REPLICATE,
    )
    image = photometric(image, rng)
    if rng.random() < 0.5:
        image = image[:, ::-1].copy()
        labels = mirror_table(data.meta.labels)[labels[:, ::-1]]
    return image, labels


def to_tensors(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, S, S) float in [0, 1] and (B, S, S) int64 from (image, labels) uint8 pairs."""
    images = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).float() / 255.0
    labels = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
    return images, labels


# --- metrics -----------------------------------------------------------------------------------


class ConfusionTally:
    """Confusion matrix over labelled pixels (ignore index excluded)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.matrix = np.zeros((n, n), np.int64)

    def add(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        keep = target != IGNORE
        idx = target[keep] * self.n + pred[keep]
        self.matrix += torch.bincount(idx, minlength=self.n**2).view(self.n, self.n).numpy()

    def iou(self, names: list[str], classes: tuple[str, ...] | list[str] | None = None) -> dict:
        inter = np.diag(self.matrix)
        union = self.matrix.sum(0) + self.matrix.sum(1) - inter
        per_class = {
            name: round(float(inter[k] / union[k]), 4)
            for k, name in enumerate(names)
            if self.matrix[k].sum() > 0 and (classes is None or name in classes)
        }
        miou = float(np.mean(list(per_class.values()))) if per_class else None
        return {"miou": round(miou, 4) if miou is not None else None, "per_class_iou": per_class}


@torch.no_grad()
def segment(model: Extractor, pairs: list[tuple[np.ndarray, np.ndarray]]) -> torch.Tensor:
    """Predicted class maps (B, S, S) int64 of (image, labels) pairs."""
    device = next(model.parameters()).device
    images, _ = to_tensors(pairs)
    return model(images.to(device)).logits.argmax(dim=1).cpu()


def iou_on(model: Extractor, pairs: list, names: list[str], classes=None) -> dict:
    """mIoU and per-class IoU of `model` on (image, labels) pairs."""
    model.eval()
    tally = ConfusionTally(len(names))
    for start in range(0, len(pairs), 32):
        chunk = pairs[start : start + 32]
        tally.add(segment(model, chunk), to_tensors(chunk)[1])
    return tally.iou(names, classes)


@torch.no_grad()
def feature_agreement(model: Extractor, images: list[np.ndarray], seed: int = 7) -> dict:
    """Feature distance of a face to its photo-like augmentation over that to another face.

    Below 1 means the features say "same face" through lighting, colour, blur, noise and JPEG
    changes; the fitter relies on this.
    """
    rng = np.random.default_rng(seed)
    device = next(model.parameters()).device
    model.eval()

    def feats(batch: list[np.ndarray]) -> list[torch.Tensor]:
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().to(device) / 255.0
        return model(x).features

    clean = feats(images)
    augmented = feats([photometric(im, rng) for im in images])
    other = [clean_k.roll(1, dims=0) for clean_k in clean]

    def dist(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(
            [(x - y).abs().mean(dim=(1, 2, 3)) for x, y in zip(a, b, strict=True)]
        ).mean(0)

    same, diff = dist(clean, augmented), dist(clean, other)
    return {
        "feature_agreement_ratio": round(float(same.mean() / diff.mean()), 4),
        "feature_pairs_closer_than_other_face": round(float((same < diff).float().mean()), 4),
    }


def evaluate_extractor(
    model: Extractor,
    labels: list[str],
    *,
    renders: Path | None,
    faces: Path | None,
    n: int = 300,
    holdout_fold: int = 0,
    picture: Path | None = None,
) -> dict[str, Any]:
    """mIoU on held-out photo identities and held-out renders, feature agreement, timing."""
    result: dict[str, Any] = {}
    size = model.cfg.size
    labels = labels or list(RIG_LABELS)
    _, held, root = photo_split(faces, holdout_fold)
    photos = PhotoSet(held, size, labels, root)
    photo_pairs = [photos.sample(i, None) for i in range(len(photos))]
    result["photos"] = {
        "n": len(photo_pairs),
        "identities": len({r.identity for r in held}),
        **iou_on(model, photo_pairs, labels, PHOTO_CLASSES),
    }
    agreement_images = [p[0] for p in photo_pairs]
    if renders is not None:
        data = ShardArrays(renders, size=size)
        _, val_idx = split_indices(len(data), min(n, len(data) // 5 or 1), seed=0)
        render_pairs = [render_sample(data, i, None) for i in val_idx]
        result["renders"] = {"n": len(render_pairs), **iou_on(model, render_pairs, labels)}
        agreement_images = [p[0] for p in render_pairs[:64]]
    result.update(feature_agreement(model, agreement_images[:64]))
    result["forward_ms"] = round(time_forward(model), 2)
    if picture is not None:
        training = [
            photos.sample(i, None, hair_by_colour=True)[1] for i in range(len(photo_pairs[:6]))
        ]
        write_extractor_picture(model, photo_pairs[:6], picture, training)
        result["picture"] = str(picture)
    return result


def time_forward(model: Extractor, repeats: int = 20) -> float:
    """Median milliseconds of one image's forward pass."""
    device = next(model.parameters()).device
    x = torch.rand(1, 3, model.cfg.size, model.cfg.size, device=device)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 3):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times[3:]))


PALETTE = np.array(
    [[0, 0, 0], [230, 190, 160], [90, 60, 30], [40, 160, 40], [40, 200, 120], [40, 40, 220],
     [60, 140, 240], [240, 140, 40], [220, 40, 60], [120, 0, 120], [250, 100, 140]], np.uint8
)  # fmt: skip


def colourise(labels: np.ndarray) -> np.ndarray:
    """(S, S) class indices -> (S, S, 3) colours; ignored pixels grey."""
    out = np.full((*labels.shape, 3), 128, np.uint8)
    known = labels < len(PALETTE)
    out[known] = PALETTE[labels[known]]
    return out


def write_extractor_picture(
    model: Extractor, pairs: list, path: Path, training: list[np.ndarray] | None = None
) -> None:
    """Rows of photo | predicted labels | template labels [| training labels]."""
    from PIL import Image

    pred = segment(model, pairs).numpy().astype(np.uint8)
    rows = [
        np.concatenate([im, colourise(p), colourise(t)], axis=1)
        for (im, t), p in zip(pairs, pred, strict=True)
    ]
    if training is not None:
        rows = [
            np.concatenate([r, colourise(t)], axis=1) for r, t in zip(rows, training, strict=True)
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


# --- training ----------------------------------------------------------------------------------


def train_extractor(
    renders: Path | None,
    faces: Path | None,
    out_dir: Path,
    tcfg: ExtractorTrainConfig,
    *,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    on_step: Callable[[Progress], None] | None = None,
    limit: int | None = None,
) -> TrainResult:
    """Train the extractor on renders and photos; writes weights + manifest to `out_dir`."""
    from facefit.nets.extractor import CONFIGS

    torch.manual_seed(tcfg.seed)
    cfg = CONFIGS[tcfg.config]
    data = ShardArrays(renders, size=cfg.size, limit=limit) if renders is not None else None
    labels = list(data.meta.labels) if data is not None else list(RIG_LABELS)
    if data is not None:
        rig, layout = data.meta.rig, data.meta.layout
    else:
        from facefit.nets.weights import current_rig_id

        rig, layout = current_rig_id(), {"labels": labels}
    train_records, held_records, root = photo_split(faces, tcfg.holdout_fold)
    photos = PhotoSet(train_records, cfg.size, labels, root)
    val_photos = PhotoSet(held_records, cfg.size, labels, root)
    val_photo_pairs = [val_photos.sample(i, None) for i in range(len(val_photos))]
    if data is not None:
        render_train, render_val = split_indices(
            len(data), min(tcfg.val_renders, len(data) // 5), 0
        )
        val_render_pairs = [render_sample(data, i, None) for i in render_val]
    photo_share = tcfg.photo_fraction if data is not None else 1.0
    weights = torch.ones(len(labels))
    if data is not None and tcfg.class_balance > 0:
        counted = data.labels[np.sort(render_train[:2000])]
        weights = torch.from_numpy(class_weights(counted, len(labels), tcfg.class_balance))
        logger.info(
            "class weights %s", dict(zip(labels, weights.round(decimals=2).tolist(), strict=True))
        )
    weights = weights.to(device)
    model = build_extractor(cfg, len(labels)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    rng = np.random.default_rng(tcfg.seed)

    def step_loss() -> torch.Tensor:
        n_photos = int(round(tcfg.batch_size * photo_share))
        pairs = [
            photos.sample(int(i), rng, hair_by_colour=True)
            for i in rng.integers(len(photos), size=n_photos)
        ]
        if data is not None:
            pairs += [
                render_sample(data, int(i), rng)
                for i in rng.choice(render_train, tcfg.batch_size - n_photos)
            ]
        images, targets = to_tensors(pairs)
        out = model(images.to(device))
        targets = targets.to(device)
        loss = F.cross_entropy(out.logits, targets, weight=weights, ignore_index=IGNORE)
        if tcfg.dice > 0:
            loss = loss + tcfg.dice * soft_dice_loss(out.logits, targets)
        return loss

    def validate() -> dict[str, Any]:
        val = {"photos": iou_on(model, val_photo_pairs, labels, PHOTO_CLASSES)}
        if data is not None:
            val["renders"] = iou_on(model, val_render_pairs, labels)
        model.train()
        return val

    # The history keeps one mIoU per source; the manifest gets the per-class detail at the end.
    def validate_miou(step: int) -> dict[str, Any]:
        miou = {k: v["miou"] for k, v in validate().items()}
        logger.info("step %d val mIoU %s", step, miou)
        return miou

    run = run_training(
        tcfg, model, opt, rng, step_loss, validate_miou,
        checkpoint=checkpoint, resume=resume, on_step=on_step, network=NETWORK,
    )  # fmt: skip
    metrics = validate()
    model.eval()
    samples = {
        "photos": len(photos),
        "photo_identities": len({r.identity for r in train_records}),
        "renders": len(render_train) if data is not None else 0,
    }
    sources = {
        "renders": str(renders) if renders is not None else None,
        "photos": f"{root} (CC BY 4.0, Face Research Lab; see its README), identity "
        f"fold {tcfg.holdout_fold} of 5 (seed 0) held out",
    }
    path = run.save(
        out_dir, NETWORK, tcfg, model.cfg, model.state_dict(), device,
        rig=rig, layout=layout, train_samples=samples, data=sources, validation=metrics,
    )  # fmt: skip
    return TrainResult(path, run.step, run.elapsed, samples, metrics)
