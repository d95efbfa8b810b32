"""Pieces every training loop shares: the loop driver, schedule, checkpoints, progress reports."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """What a loop reports after each step (the CLI draws it as a progress bar)."""

    step: int
    steps: int
    loss: float
    images_per_s: float
    val: dict[str, Any] | None = None


class LoopConfig(Protocol):
    """The fields of a network's training config (a dataclass) that `run_training` reads."""

    config: str
    steps: int
    batch_size: int
    lr: float
    warmup: int
    val_every: int
    checkpoint_minutes: float
    max_minutes: float | None
    init: str | None


@dataclass
class TrainResult:
    """What a trainer returns: where the weights went and how the run ended."""

    weights: Path
    steps: int
    seconds: float
    train_samples: int | dict[str, int]  # the extractor counts renders and photos apart
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainRun:
    """How far a run has got; restored from the checkpoint when a run resumes."""

    step: int = 0
    elapsed: float = 0.0  # training seconds over all sessions of the run
    history: list[dict[str, Any]] = field(default_factory=list)
    init_sha256: str | None = None  # the weights file a fine-tuning run started from

    def provenance(
        self, tcfg: LoopConfig, device: Any, *, data: Any, validation: dict, **counts: Any
    ) -> dict[str, Any]:
        """The manifest entry's account of the run; `counts` are its sample counts."""
        started = {"init_sha256": self.init_sha256} if self.init_sha256 else {}
        return {
            **counts,
            "train_steps": self.step,
            "train_seconds": round(self.elapsed, 1),
            "train_device": str(device),
            "train_config": asdict(tcfg),
            **started,
            "data": data,
            "validation": validation,
            "history": self.history[-20:],
        }

    def save(
        self,
        out_dir: Path,
        network: str,
        tcfg: LoopConfig,
        model_cfg: Any,
        state_dict: dict[str, Any],
        device: Any,
        *,
        rig: str,
        layout: dict[str, Any],
        extra: dict[str, Any] | None = None,
        **provenance: Any,
    ) -> Path:
        """Write the trained network as `out_dir/<network>-<config>.pt` with its manifest
        entry: its config dataclass, the rig it serves and this run's `provenance`."""
        from facefit.nets.weights import save_weights, weights_name

        config_name = tcfg.config  # every network's training config names its model config
        path = Path(out_dir) / weights_name(network, config_name)
        save_weights(
            path,
            network=network,
            config_name=config_name,
            config=asdict(model_cfg),
            rig=rig,
            layout=layout,
            state_dict=state_dict,
            provenance=self.provenance(tcfg, device, **provenance),
            extra=extra,
        )
        return path


def lr_at(step: int, steps: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5 % of `base` at the last step."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def run_training(
    tcfg: LoopConfig,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    rng: np.random.Generator,
    step_loss: Callable[[], torch.Tensor],
    validate: Callable[[int], dict[str, Any]],
    *,
    checkpoint: Path,
    resume: bool = False,
    on_step: Callable[[Progress], None] | None = None,
    meta: dict[str, Any] | None = None,
    network: str | None = None,
) -> TrainRun:
    """Train `model` for `tcfg.steps` optimiser steps or until `tcfg.max_minutes`.

    `step_loss()` draws a batch, from `rng` or torch's generator so that a resumed run draws
    what the uninterrupted one would have, and returns its loss; this loop sets the learning
    rate and steps `opt`. `validate(step)` returns the metrics recorded in the history and
    passed to `on_step` (the CLI shows the first one) every `tcfg.val_every` steps and at the
    last one. The whole state is checkpointed every `tcfg.checkpoint_minutes` and at the end;
    `resume` continues from `checkpoint`. `meta` (e.g. the data folder) is stored beside the
    training config so that a resume with either changed can warn. A fresh run with
    `tcfg.init` set starts `model` from that weights file of `network` (fine-tuning, e.g. after
    a rig revision that leaves most of what the network learned true); the optimiser and the
    schedule start afresh.
    """
    import torch

    from facefit.nets.weights import sha256_of

    identity = {"train_config": asdict(tcfg), **(meta or {})}
    run = TrainRun()
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        # Keys missing from older checkpoints (the predictor's) count as unchanged.
        if any(state.get(key, value) != value for key, value in identity.items()):
            logger.warning("resuming with a changed training config or data folder")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        run = TrainRun(state["step"], state["elapsed"], state["history"], state.get("init_sha256"))
        logger.info("resumed from %s at step %d", checkpoint, run.step)
    elif tcfg.init:
        start_from(model, Path(tcfg.init), network)
        # The path alone would not say which file: a later run may have replaced it.
        run.init_sha256 = sha256_of(Path(tcfg.init))

    def snapshot() -> None:
        save_checkpoint(checkpoint, {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "step": run.step, "elapsed": run.elapsed, "history": run.history,
            "init_sha256": run.init_sha256, **identity,
        })  # fmt: skip

    model.train()
    last_ckpt = time.monotonic()
    t0 = time.monotonic() - run.elapsed  # elapsed time carries over a resume
    while run.step < tcfg.steps:
        tick = time.perf_counter()
        loss = step_loss()
        for group in opt.param_groups:
            group["lr"] = lr_at(run.step, tcfg.steps, tcfg.lr, tcfg.warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.step += 1
        run.elapsed = time.monotonic() - t0
        val = None
        if run.step % tcfg.val_every == 0 or run.step == tcfg.steps:
            val = validate(run.step)
            run.history.append({"step": run.step, "seconds": round(run.elapsed, 1), **val})
        if on_step is not None:
            rate = tcfg.batch_size / max(1e-9, time.perf_counter() - tick)
            on_step(Progress(run.step, tcfg.steps, loss.item(), rate, val))
        if time.monotonic() - last_ckpt > tcfg.checkpoint_minutes * 60:
            snapshot()
            last_ckpt = time.monotonic()
        if tcfg.max_minutes is not None and run.elapsed > tcfg.max_minutes * 60:
            logger.warning(
                "stopping at step %d: --max-minutes %.1f reached", run.step, tcfg.max_minutes
            )
            break
    snapshot()
    return run


def start_from(model: torch.nn.Module, path: Path, network: str | None) -> None:
    """Load a shipped weights file into `model`, whatever rig it was trained for."""
    from facefit.nets.weights import load_state, load_weights

    if network is None:
        raise ValueError("starting from a weights file needs the network's name")
    stored = load_weights(path, network=network, expected_rig=None)
    old_spec = stored.layout.get("spec") or {}
    if "continuous" in old_spec:  # a revision of the rig may have added controls or options
        from dataclasses import replace

        from facefit.rig.spec import load_spec
        from facefit.train.grow import regrow

        state = regrow(stored.state_dict, model.state_dict(), old_spec, load_spec().to_json())
        stored = replace(stored, state_dict=state)
    load_state(model, stored, path)
    logger.info("starting from %s (trained for rig %s)", path, stored.rig)


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
