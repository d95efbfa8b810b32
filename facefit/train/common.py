"""Pieces every training loop shares: schedule, checkpoints, seeds, progress reports."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """What a loop reports after each step (the CLI draws it as a progress bar)."""

    step: int
    steps: int
    loss: float
    images_per_s: float
    val: dict[str, Any] | None = None


def lr_at(step: int, steps: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5 % of `base` at the last step."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomically write a full-precision training state (model, optimiser, step, rng)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    logger.info("checkpoint at step %d -> %s", state["step"], path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (trusted: our own file)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)
