"""Training and validation metrics of the imitator on rig shards (patent §0090-0091).

Random parameter vectors and the game client's renders of them are the (x, y) pairs; the
loss is an L1 between the imitator's image and the render, weighted per face region by the
render's label map (eyes, brows, lips and nose are small but decide a likeness), plus an L1
on the landmark head's points.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facefit.nets.imitator import NETWORK, Imitator, build_imitator
from facefit.train.common import Progress, TrainResult, run_training
from facefit.train.shards import ShardArrays, training_split

logger = logging.getLogger(__name__)

# Per-class weight of the image loss, by the rig's label names; a name not listed weighs 1.
REGION_WEIGHTS = {
    "background": 0.5,
    "skin": 1.0,
    "hair": 1.0,
    "left_brow": 3.0,
    "right_brow": 3.0,
    "left_eye": 4.0,
    "right_eye": 4.0,
    "nose": 2.0,
    "upper_lip": 3.0,
    "inner_mouth": 2.0,
    "lower_lip": 3.0,
}
# iBUG-68 outer eye corners: the landmark error is a fraction of their distance.
OUTER_EYE_CORNERS = (36, 45)


@dataclass(frozen=True)
class ImitatorTrainConfig:
    """Everything that decides a training run besides the data."""

    config: str = "lite"
    steps: int = 11000  # about 55 min at 32 x 110 images/s on two CPU cores
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 300
    weight_decay: float = 0.0
    landmark_weight: float = 1.0
    region_weighting: bool = True
    val_n: int = 500  # held-out random faces, the same on every run (split seed 0)
    val_every: int = 1000
    seed: int = 0
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None  # stop early (weights still written) past this
    init: str | None = None  # weights file to fine-tune from (else a fresh network)


def region_weight_table(labels: tuple[str, ...] | list[str], enabled: bool = True) -> torch.Tensor:
    """Loss weight per class index (all ones when region weighting is off)."""
    return torch.tensor(
        [REGION_WEIGHTS.get(name, 1.0) if enabled else 1.0 for name in labels], dtype=torch.float32
    )


def image_loss(
    pred: torch.Tensor, target: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Region-weighted L1: pred/target (B, 3, S, S), labels (B, S, S) class indices."""
    per_pixel = (pred - target).abs().mean(dim=1)  # (B, S, S)
    w = weights[labels]  # (B, S, S)
    return (per_pixel * w).sum() / w.sum()


def landmark_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between landmark sets (B, 68, 2) in [0, 1] coordinates."""
    return (pred - target).abs().mean()


def landmark_error_pct(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean point error per face in % of its outer-eye-corner distance: (B, 68, 2) -> (B,)."""
    a, b = OUTER_EYE_CORNERS
    iod = (target[:, a] - target[:, b]).norm(dim=-1).clamp_min(1e-6)  # (B,)
    return 100.0 * (pred - target).norm(dim=-1).mean(dim=1) / iod


class ImageErrorTally:
    """Accumulates pixel L1 over all pixels and per label class across batches."""

    def __init__(self, labels: tuple[str, ...] | list[str]) -> None:
        self.names = list(labels)
        self.sums = np.zeros(len(self.names))
        self.counts = np.zeros(len(self.names))
        self.total = 0.0
        self.pixels = 0
        self.landmark_pct: list[float] = []

    def add(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        labels: torch.Tensor,
        pred_lm: torch.Tensor | None = None,
        target_lm: torch.Tensor | None = None,
    ) -> None:
        err = (pred.clamp(0, 1) - target).abs().mean(dim=1)  # (B, S, S)
        k = len(self.names)
        self.sums += (
            torch.bincount(labels.flatten(), err.flatten(), minlength=k)[:k].double().numpy()
        )
        self.counts += torch.bincount(labels.flatten(), minlength=k)[:k].double().numpy()
        self.total += float(err.sum())
        self.pixels += err.numel()
        if pred_lm is not None and target_lm is not None:
            self.landmark_pct += landmark_error_pct(pred_lm, target_lm).tolist()

    def result(self) -> dict[str, Any]:
        per_region = {
            name: round(float(s / c), 5)
            for name, s, c in zip(self.names, self.sums, self.counts, strict=True)
            if c > 0
        }
        out: dict[str, Any] = {
            "pixel_l1": round(self.total / max(1, self.pixels), 5),
            "per_region_l1": per_region,
        }
        if self.landmark_pct:
            out["landmark_error_pct"] = round(float(np.mean(self.landmark_pct)), 3)
            out["landmark_error_pct_p95"] = round(float(np.percentile(self.landmark_pct, 95)), 3)
        return out


@torch.no_grad()
def evaluate_on(
    model: Imitator, data: ShardArrays, index: np.ndarray, device: torch.device, batch: int = 64
) -> dict[str, Any]:
    """Pixel L1 (overall, per region) and landmark error of `model` on samples `index`."""
    was_training = model.training
    model.eval()
    tally = ImageErrorTally(data.meta.labels)
    for start in range(0, len(index), batch):
        b = data.batch(index[start : start + batch])
        image, lm = model(b["params"].to(device))
        tally.add(image.cpu(), b["image"], b["labels"], lm.cpu(), b["landmarks"])
    model.train(was_training)
    return tally.result()


def mean_face_l1(data: ShardArrays, index: np.ndarray, mean_image: torch.Tensor) -> float:
    """Pixel L1 of always answering the mean face: the floor any imitator must beat."""
    total = 0.0
    for start in range(0, len(index), 256):
        images = data.batch(index[start : start + 256])["image"]
        total += float((images - mean_image).abs().mean(dim=1).sum())
    return round(total / (len(index) * data.size * data.size), 5)


def _means(
    data: ShardArrays, index: np.ndarray, limit: int = 2000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean render (3, S, S) and landmarks (68, 2) of up to `limit` training faces."""
    pick = index[:limit]
    image = np.zeros((data.size, data.size, 3), np.float64)
    for start in range(0, len(pick), 256):
        image += data.images[np.sort(pick[start : start + 256])].astype(np.float64).sum(0)
    image /= 255.0 * len(pick)
    lms = data.landmarks[pick].mean(0)
    return (
        torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32)),
        torch.from_numpy(lms.astype(np.float32)),
    )


def train_imitator(
    data_dir: Path,
    out_dir: Path,
    tcfg: ImitatorTrainConfig,
    *,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    on_step: Callable[[Progress], None] | None = None,
    limit: int | None = None,
) -> TrainResult:
    """Train an imitator on the shards in `data_dir`; writes weights + manifest to `out_dir`."""
    from facefit.nets.imitator import CONFIGS

    torch.manual_seed(tcfg.seed)
    cfg = CONFIGS[tcfg.config]
    data = ShardArrays(data_dir, size=cfg.size, limit=limit)
    train_idx, val_idx = training_split(len(data), tcfg.val_n)
    model = build_imitator(cfg, data.meta.vector_size).to(device)
    mean_image, mean_lm = _means(data, train_idx)
    model.set_means(mean_image, mean_lm)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    weights_table = region_weight_table(data.meta.labels, tcfg.region_weighting).to(device)
    rng = np.random.default_rng(tcfg.seed)

    def step_loss() -> torch.Tensor:
        batch = data.batch(rng.choice(train_idx, size=tcfg.batch_size, replace=False))
        image, lm = model(batch["params"].to(device))
        loss_img = image_loss(
            image, batch["image"].to(device), batch["labels"].to(device), weights_table
        )
        return loss_img + tcfg.landmark_weight * landmark_loss(lm, batch["landmarks"].to(device))

    def validate(step: int) -> dict[str, Any]:
        val = evaluate_on(model, data, val_idx, device)
        logger.info(
            "step %d val pixel_l1 %.4f landmarks %.2f%%",
            step,
            val["pixel_l1"],
            val.get("landmark_error_pct", float("nan")),
        )
        return val

    run = run_training(
        tcfg, model, opt, rng, step_loss, validate,
        checkpoint=checkpoint, resume=resume, on_step=on_step, network=NETWORK, meta={"data": str(data_dir)},
    )  # fmt: skip
    metrics = evaluate_on(model, data, val_idx, device)
    metrics["mean_face_pixel_l1"] = mean_face_l1(data, val_idx, mean_image)
    path = run.save(
        out_dir, NETWORK, tcfg, model.cfg, model.state_dict(), device,
        rig=data.meta.rig, layout=data.meta.layout, train_samples=len(train_idx),
        val_samples=len(val_idx), data=data.provenance(), validation=metrics,
    )  # fmt: skip
    return TrainResult(path, run.step, run.elapsed, len(train_idx), metrics)


def render_arrays(
    render: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    vectors: np.ndarray,
    size: int,
) -> dict[str, np.ndarray]:
    """Render parameter vectors (N, D) with the rig and resize to `size` as the shards are.

    `render(vec)` returns (image HxWx3 uint8, labels HxW uint8, landmarks (68, 2) pixels).
    """
    import cv2

    images, labels, landmarks = [], [], []
    for vec in vectors:
        image, label, lm = render(vec)
        side = image.shape[0]
        if side != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            label = cv2.resize(label, (size, size), interpolation=cv2.INTER_NEAREST)
        images.append(image)
        labels.append(label)
        landmarks.append(np.asarray(lm, np.float32) / side)
    return {
        "params": np.asarray(vectors, np.float32),
        "images": np.stack(images),
        "labels": np.stack(labels),
        "landmarks": np.stack(landmarks),
    }


@torch.no_grad()
def evaluate_arrays(
    model: Imitator, arrays: dict[str, np.ndarray], labels: list[str], batch: int = 64
) -> dict[str, Any]:
    """Pixel L1 (overall, per region) and landmark error on rendered `arrays`."""
    model.eval()
    device = next(model.parameters()).device
    tally = ImageErrorTally(labels)
    for start in range(0, len(arrays["params"]), batch):
        sl = slice(start, start + batch)
        image, lm = model(torch.from_numpy(arrays["params"][sl]).to(device))
        target = torch.from_numpy(arrays["images"][sl]).permute(0, 3, 1, 2).float() / 255.0
        tally.add(
            image.cpu(),
            target,
            torch.from_numpy(arrays["labels"][sl].astype(np.int64)),
            lm.cpu(),
            torch.from_numpy(arrays["landmarks"][sl]),
        )
    return tally.result()


def control_probes(vectors: np.ndarray, controls: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Probe step (one standard deviation) and centre of each control over random faces."""
    values = vectors[:, controls]
    return np.maximum(values.std(axis=0), 1e-3), values.mean(axis=0)


@torch.no_grad()
def sensitivity_agreement(
    model: Imitator,
    render: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    bases: np.ndarray,
    controls: list[int],
    steps: np.ndarray,
    centres: np.ndarray,
    min_change: float = 1e-3,
) -> dict[str, Any]:
    """Does moving each control change the imitator's image where the rig's image changes?

    For every base face and control, the per-pixel change maps |R(x+d) - R(x)| of the rig and
    of the imitator are compared by cosine similarity (1: same places, same proportions;
    0: unrelated). Controls whose rig change is below `min_change` mean L1 are skipped.
    """
    import cv2

    model.eval()
    device = next(model.parameters()).device
    size = model.cfg.size

    def rig_image(vec: np.ndarray) -> np.ndarray:
        image = render(vec)[0]
        if image.shape[0] != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        return image.astype(np.float32).mean(axis=2) / 255.0  # grey (S, S)

    per_control: dict[int, list[float]] = {c: [] for c in controls}
    for base in bases:
        moved = []
        for c, step, centre in zip(controls, steps, centres, strict=True):
            vec = base.copy()
            # Step towards the centre of the control's range so the probe stays valid.
            vec[c] += step if vec[c] < centre else -step
            moved.append(vec)
        batch = torch.from_numpy(np.stack([base, *moved]).astype(np.float32)).to(device)
        imi = model.render(batch).mean(dim=1).cpu().numpy()  # (1 + C, S, S)
        rig0 = rig_image(base)
        for k, c in enumerate(controls):
            rig_change = np.abs(rig_image(moved[k]) - rig0)
            if rig_change.mean() < min_change:
                continue
            imi_change = np.abs(imi[k + 1] - imi[0])
            denom = np.linalg.norm(rig_change) * np.linalg.norm(imi_change)
            per_control[c].append(
                float((rig_change * imi_change).sum() / denom) if denom > 0 else 0.0
            )
    scores = {c: float(np.mean(v)) for c, v in per_control.items() if v}
    values = list(scores.values())
    return {
        "sensitivity_agreement": round(float(np.mean(values)), 4) if values else None,
        "sensitivity_controls_measured": len(values),
        "sensitivity_controls_below_0_5": sorted(c for c, v in scores.items() if v < 0.5),
        "sensitivity_per_control": {str(c): round(v, 4) for c, v in scores.items()},
    }
