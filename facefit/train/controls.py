"""Training of the controls reader (`facefit.nets.controls`) on rig shards.

An L1 between the reader's controls and the renders' true ones. The fit shows it rig renders
(where the game's own face is the input) and aligned photos, so a share of each batch
(`photo_like`) is made to look like a photo: colour, light, blur, noise and JPEG jitter
(`facefit.train.extractor.photometric`) and a shift of a pixel or two, as the aligner
places a face. The error is measured on the same held-out renders on every run, clean, as
`facefit eval synthetic` shows them.
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

from facefit.nets.controls import CONFIGS, NETWORK, ControlsReader, build_controls_reader
from facefit.train.common import Progress, TrainResult, run_training
from facefit.train.extractor import photometric
from facefit.train.shards import ShardArrays, training_split

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControlsTrainConfig:
    """Everything that decides a training run besides the data."""

    config: str = "lite"
    steps: int = 6000  # about 55 min at 32 faces a step on one CPU core
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 300
    weight_decay: float = 1e-4
    photo_like: float = 0.5  # share of each batch jittered like a photo
    shift: int = 2  # px at the reader's size, each way, on the photo-like share
    val_n: int = 300  # held-out random faces, the same on every run (split seed 0)
    val_every: int = 250
    seed: int = 0
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    init: str | None = None  # weights file to fine-tune from (else a fresh network)


def photo_like(images: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """(B, S, S, 3) uint8 renders with a photo's jitter and a shift of up to `shift` px
    (the frame's edge pixels fill what the shift uncovers)."""
    out = np.empty_like(images)
    side = images.shape[1]
    for i, image in enumerate(images):
        dy, dx = rng.integers(-shift, shift + 1, 2) if shift else (0, 0)
        padded = np.pad(image, ((shift, shift), (shift, shift), (0, 0)), mode="edge")
        moved = padded[shift + dy : shift + dy + side, shift + dx : shift + dx + side]
        out[i] = photometric(np.ascontiguousarray(moved), rng)
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def mean_error(model: ControlsReader, data: ShardArrays, index: np.ndarray) -> np.ndarray:
    """Per control, the mean absolute error of the reader on the clean renders at `index`."""
    model.eval()
    device = next(model.parameters()).device
    c = model.cfg.controls
    total = np.zeros(c)
    for start in range(0, len(index), 100):
        idx = index[start : start + 100]
        read = model(to_tensor(data.images[idx]).to(device)).cpu().numpy()
        total += np.abs(read - data.params[idx, :c]).sum(axis=0)
    model.train()
    return total / max(len(index), 1)


def train_controls(
    data_dir: Path,
    out_dir: Path,
    tcfg: ControlsTrainConfig,
    *,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    on_step: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train a controls reader on the shards in `data_dir`; writes weights + manifest entry."""
    from facefit.rig.spec import spec_from_json

    torch.manual_seed(tcfg.seed)
    base = CONFIGS[tcfg.config]
    data = ShardArrays(data_dir, size=base.size)
    train_idx, val_idx = training_split(len(data), tcfg.val_n)
    spec = spec_from_json(data.meta.spec)
    names = [control.name for control in spec.continuous]
    model = build_controls_reader(tcfg.config, len(names)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    rng = np.random.default_rng(tcfg.seed)
    c = len(names)

    def step_loss() -> torch.Tensor:
        idx = np.sort(rng.choice(train_idx, size=tcfg.batch_size, replace=False))
        images = data.images[idx]  # a copy: fancy indexing, memory-mapped shards too
        jitter = rng.random(len(idx)) < tcfg.photo_like
        if jitter.any():
            images[jitter] = photo_like(images[jitter], tcfg.shift, rng)
        x = to_tensor(images).to(device)
        truth = torch.from_numpy(data.params[idx, :c]).to(device)
        return F.l1_loss(model(x), truth)

    def validate(step: int) -> dict[str, Any]:
        mae = float(mean_error(model, data, val_idx).mean())
        logger.info("step %d val continuous MAE %.4f", step, mae)
        return {"mae": round(mae, 4)}

    run = run_training(
        tcfg, model, opt, rng, step_loss, validate,
        checkpoint=checkpoint, resume=resume, on_step=on_step, network=NETWORK, meta={"data": str(data_dir)},
    )  # fmt: skip
    per_control = mean_error(model, data, val_idx)
    metrics = {
        "continuous_mae": round(float(per_control.mean()), 4),
        "chance": 0.25,  # always answering 0.5 to a uniform control
        "per_control": {
            name: round(float(e), 4) for name, e in zip(names, per_control, strict=True)
        },
    }
    path = run.save(
        out_dir, NETWORK, tcfg, model.cfg, model.state_dict(), device,
        rig=data.meta.rig, layout=data.meta.layout, train_samples=len(train_idx),
        val_samples=len(val_idx), data=data.provenance(), validation=metrics,
    )  # fmt: skip
    return TrainResult(path, run.step, run.elapsed, len(train_idx), metrics)
