"""Training of a detail reader (`facefit.nets.detail`) on rig shards.

A reader of a discrete group learns it by cross-entropy; a reader of continuous controls by
an L1 between its reading and the renders' true controls, as the controls reader does.
Renders are drawn in the reference frame, so the reader's box is the same pixels in every
render. Photos reach it through the aligner, which places a face to a pixel or two and a
percent of scale, and under other light; so each training crop is shifted by a few pixels
and its brightness and colour balance jittered. Accuracy is measured on the same held-out
faces on every run: its accuracy, or each control's mean absolute error (which the fit uses
to weigh this reading against the controls reader's).
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

from facefit.errors import SpecError
from facefit.nets.detail import (
    CONFIGS,
    NETWORK,
    DetailReader,
    build_reader,
    reader_box,
)
from facefit.rig.shards import read_meta
from facefit.train.common import Progress, TrainResult, run_training
from facefit.train.shards import ShardArrays, training_split

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetailTrainConfig:
    """Everything that decides a training run besides the data."""

    config: str = "brows"
    group: str | None = None  # the rig's discrete group to read (None: the config's)
    steps: int = 3000  # about 20 min at 64 faces a step on two CPU cores
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 300
    weight_decay: float = 1e-4
    shift: int = 4  # px at the reader's size, each way
    brightness: float = 0.3  # gain in [1 - b, 1 + b]
    tint: float = 0.05  # per-channel offset in [-t, t]
    val_n: int = 1000  # held-out random faces, the same on every run (split seed 0)
    val_every: int = 500
    seed: int = 0
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    init: str | None = None  # weights file to fine-tune from (else a fresh network)


def group_slice(meta_spec: dict[str, Any], group: str) -> tuple[int, int, list[str]]:
    """(start, stop, option names) of a discrete group in the shards' parameter vector."""
    from facefit.rig.spec import spec_from_json

    spec = spec_from_json(meta_spec)
    if group not in spec.discrete_slices:
        raise SpecError(
            f"the rig has no discrete group {group!r}; it has {sorted(spec.discrete_slices)}"
        )
    sl = spec.discrete_slices[group]
    options = next(g.options for g in spec.discrete if g.name == group)
    return sl.start, sl.stop, list(options)


def control_columns(meta_spec: dict[str, Any], controls: tuple[str, ...]) -> list[int]:
    """Where each named continuous control sits in the shards' parameter vector."""
    from facefit.rig.spec import spec_from_json

    names = [c.name for c in spec_from_json(meta_spec).continuous]
    missing = [name for name in controls if name not in names]
    if missing:
        raise SpecError(f"the rig has no continuous controls {missing}; it has {names}")
    return [names.index(name) for name in controls]


def padded_crops(data: ShardArrays, box: tuple[int, ...], margin: int) -> np.ndarray:
    """(N, h + 2m, w + 2m, 3) uint8: every sample's box with `margin` px around it, so that
    a shifted crop is a slice, not a resample. Where the margin runs off the frame, the
    frame's edge pixels repeat."""
    top, bottom, left, right = box
    side = data.images.shape[1]
    y0, y1 = max(top - margin, 0), min(bottom + margin, side)
    x0, x1 = max(left - margin, 0), min(right + margin, side)
    pad = (
        (0, 0),
        (y0 - (top - margin), bottom + margin - y1),
        (x0 - (left - margin), right + margin - x1),
        (0, 0),
    )
    return np.pad(np.asarray(data.images[:, y0:y1, x0:x1]), pad, mode="edge")


def crop_batch(
    crops: np.ndarray,
    index: np.ndarray,
    margin: int,
    shift: int | None = None,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """(B, 3, h, w) float crops of `index`; shifted by up to `shift` px drawn from `rng`
    (None: centred)."""
    if shift is None or rng is None:
        dy = dx = margin
    else:
        dy, dx = rng.integers(margin - shift, margin + shift + 1, 2)
    h, w = crops.shape[1] - 2 * margin, crops.shape[2] - 2 * margin
    batch = crops[index, dy : dy + h, dx : dx + w]
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def held_out_logits(
    model: DetailReader, crops: np.ndarray, index: np.ndarray, margin: int
) -> np.ndarray:
    """(len(index), options) logits of the faces at `index`, read from centred crops."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(index), 200):
        halves = model.halves(crop_batch(crops, index[start : start + 200], margin))
        out.append(model.logits_of_crops(halves.to(device)).cpu().numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros((0, model.cfg.options), np.float32)


def accuracy(
    model: DetailReader, crops: np.ndarray, index: np.ndarray, truth: np.ndarray, margin: int
) -> float:
    """Share of the faces at `index` whose centred crops the reader classifies right."""
    logits = held_out_logits(model, crops, index, margin)
    return float((logits.argmax(1) == truth[index]).sum()) / max(len(index), 1)


def control_errors(
    model: DetailReader, crops: np.ndarray, index: np.ndarray, truth: np.ndarray, margin: int
) -> np.ndarray:
    """Per control, the mean absolute error of the reading on the faces at `index`."""
    read = 1.0 / (1.0 + np.exp(-held_out_logits(model, crops, index, margin)))
    return np.abs(read - truth[index]).mean(axis=0)


def train_detail(
    data_dir: Path,
    out_dir: Path,
    tcfg: DetailTrainConfig,
    *,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    on_step: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train a detail reader on the shards in `data_dir`; writes weights + manifest entry."""
    from facefit.rig.reference import REFERENCE_SIZE, reference_landmarks68

    torch.manual_seed(tcfg.seed)
    base = CONFIGS[tcfg.config]
    # A misnamed group or control is refused before the renders are read.
    spec = read_meta(Path(data_dir)).spec
    if base.controls:
        if tcfg.group:
            raise SpecError(f"config {tcfg.config!r} reads continuous controls, not a group")
        group, options = "", list(base.controls)
        columns = control_columns(spec, base.controls)
    else:
        group = tcfg.group or base.group
        start, stop, options = group_slice(spec, group)
    data = ShardArrays(data_dir, size=base.size)
    train_idx, val_idx = training_split(len(data), tcfg.val_n)
    box = reader_box(base, reference_landmarks68(), REFERENCE_SIZE)
    model = build_reader(tcfg.config, group, len(options), box).to(device)
    truth = data.params[:, columns] if base.controls else data.params[:, start:stop].argmax(1)
    margin = tcfg.shift
    crops = padded_crops(data, box, margin)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    rng = np.random.default_rng(tcfg.seed)
    labels = torch.from_numpy(truth)

    def step_loss() -> torch.Tensor:
        idx = np.sort(rng.choice(train_idx, size=tcfg.batch_size, replace=False))
        x = crop_batch(crops, idx, margin, tcfg.shift, rng)
        gain = 1 + tcfg.brightness * (2 * torch.rand(len(idx), 1, 1, 1) - 1)
        tint = tcfg.tint * (2 * torch.rand(len(idx), 3, 1, 1) - 1)
        x = (x * gain + tint).clamp(0, 1).to(device)
        logits = model.logits_of_crops(model.halves(x))
        if base.controls:
            return F.l1_loss(torch.sigmoid(logits), labels[idx].to(device))
        return F.cross_entropy(logits, labels[idx].to(device))

    def validate(step: int) -> dict[str, Any]:
        if base.controls:
            mae = float(control_errors(model, crops, val_idx, truth, margin).mean())
            logger.info("step %d val continuous MAE %.4f", step, mae)
            return {"mae": round(mae, 4)}
        acc = accuracy(model, crops, val_idx, truth, margin)
        logger.info("step %d val accuracy %.3f", step, acc)
        return {"accuracy": round(acc, 4)}

    run = run_training(
        tcfg, model, opt, rng, step_loss, validate,
        checkpoint=checkpoint, resume=resume, on_step=on_step, network=NETWORK, meta={"data": str(data_dir)},
    )  # fmt: skip
    if base.controls:
        errors = control_errors(model, crops, val_idx, truth, margin)
        metrics = {
            "continuous_mae": round(float(errors.mean()), 4),
            "chance": 0.25,  # always answering 0.5 to a uniform control
            "per_control": {n: round(float(e), 4) for n, e in zip(options, errors, strict=True)},
        }
    else:
        metrics = {
            "accuracy": round(accuracy(model, crops, val_idx, truth, margin), 4),
            "chance": round(float(np.bincount(truth[train_idx]).max() / len(train_idx)), 4),
            "options": options,
        }
    path = run.save(
        out_dir, NETWORK, tcfg, model.cfg, model.state_dict(), device,
        rig=data.meta.rig, layout=data.meta.layout, train_samples=len(train_idx),
        val_samples=len(val_idx), data=data.provenance(), validation=metrics,
    )  # fmt: skip
    return TrainResult(path, run.step, run.elapsed, len(train_idx), metrics)
