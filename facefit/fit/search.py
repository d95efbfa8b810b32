"""The search (patent Fig. 4, S404–S409): gradient steps on the parameters only.

Written like a projector: small pure helpers for the schedules, one function per loss term
(`losses.py`), the networks frozen, a batch of faces optimised together, each face stopping
on its own once the judge's similarity passes the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from facefit.fit import losses
from facefit.fit.config import FitConfig
from facefit.fit.params import ParamLayout, ParamState

OnStep = Callable[[int, float, float], None]
LR_RAMPDOWN = 0.25  # fraction of max_iters spent ramping the step down (cosine)
TEMPERATURE_START = 1.0  # softmax temperature of the discrete groups at step 0
TEMPERATURE_END = 0.2  # ... at the last step (sharper: closer to a one-hot)


@dataclass(frozen=True)
class PhotoTargets:
    """What the aligned photos contribute to the loss, computed once before the loop."""

    features: list[torch.Tensor]
    probs: torch.Tensor  # (B, L, S, S) class probabilities, for the predictor
    weight_map: torch.Tensor  # (B, 1, h, w)
    colors: dict[str, torch.Tensor]  # region -> (B, 3)
    landmarks: torch.Tensor  # (B, 68, 2) in [0, 1] of the aligned frame
    images: torch.Tensor | None = None  # (B, 3, S, S) the photos as the extractor saw them


@dataclass
class SearchResult:
    """Per face of the batch: final vector, loss, similarity and the path that led there."""

    vectors: torch.Tensor  # (B, D) projected: one option per discrete group
    losses: list[float | None]  # None: not judged (`unjudged`)
    similarities: list[float | None]
    iterations: list[int]
    stopped_early: list[bool]
    discrete_probabilities: list[torch.Tensor]  # per group (B, K)
    history: list[list[tuple[int, float, float]]] = field(default_factory=list)
    terms: list[dict[str, float]] = field(default_factory=list)


def lr_at(step: int, cfg: FitConfig) -> float:
    """Step size at `step`: a short linear warm-up, flat, then a cosine ramp-down."""
    t = step / max(cfg.max_iters, 1)
    ramp = min(1.0, 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / max(LR_RAMPDOWN, 1e-6)) * math.pi))
    ramp *= min(1.0, t / max(cfg.lr_warmup, 1e-6)) if cfg.lr_warmup > 0 else 1.0
    return cfg.lr * max(ramp, 0.05)


def temperature_at(step: int, cfg: FitConfig) -> float:
    """Softmax temperature of the discrete groups: geometric from start to end."""
    t = step / max(cfg.max_iters - 1, 1)
    return TEMPERATURE_START * (TEMPERATURE_END / TEMPERATURE_START) ** min(t, 1.0)


def to_extractor_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (B, 3, S, S) images to the extractor's input side.

    Shrinking averages areas, as the training data was made (shards are area-resized,
    photos area-averaged before warping): bilinear sampling of a 512 px frame at 128 px
    would alias thin brows and lash lines into noise the networks never saw.
    """
    if images.shape[-1] == size:
        return images
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def photo_targets(
    extractor: torch.nn.Module,
    images: torch.Tensor,
    landmarks: torch.Tensor,
    labels: list[str],
    extractor_size: int,
) -> PhotoTargets:
    """Features, region weights and colours of aligned photos (B, 3, S, S) in [0, 1]."""
    with torch.no_grad():
        x = to_extractor_size(images, extractor_size)
        out = extractor(x)
        return PhotoTargets(
            features=[f.detach() for f in out.features],
            probs=out.probs.detach(),
            weight_map=losses.region_weight_map(out.probs, labels),
            colors=losses.region_colors(x, out.probs, labels, losses.MATCHED_REGIONS),
            landmarks=landmarks,
            images=x,
        )


def loss_terms(
    extractor: torch.nn.Module,
    image: torch.Tensor,
    landmarks: torch.Tensor,
    vector: torch.Tensor,
    targets: PhotoTargets,
    labels: list[str],
    extractor_size: int,
    continuous_size: int,
) -> dict[str, torch.Tensor]:
    """Each named loss term (B,) of a render (B, 3, S, S) with its landmarks (B, 68, 2).

    The render comes from the imitator during the search and from the real rig when the
    result is checked, so both are judged by exactly the same terms.
    """
    x = to_extractor_size(image, extractor_size)
    out = extractor(x)
    return {
        "content": losses.content_loss(targets.features, out.features, targets.weight_map),
        "landmarks": losses.landmark_loss(landmarks, targets.landmarks),
        "color": losses.color_loss(targets.colors, losses.region_colors(x, out.probs, labels)),
        "prior": losses.prior_loss(vector[:, :continuous_size]),
    }


def total_loss(terms: dict[str, torch.Tensor], cfg: FitConfig) -> torch.Tensor:
    """(B,) weighted sum of the named terms; the weights live in `FitConfig`."""
    return (
        cfg.w_content * terms["content"]
        + cfg.w_landmarks * terms["landmarks"]
        + cfg.w_color * terms["color"]
        + cfg.w_prior * terms["prior"]
    )


def search(
    imitator: torch.nn.Module,
    extractor: torch.nn.Module,
    targets: PhotoTargets,
    init: torch.Tensor,
    layout: ParamLayout,
    labels: list[str],
    cfg: FitConfig,
    extractor_size: int,
    loss_scale: float,
    on_step: OnStep | None = None,
    fixed_groups: tuple[str, ...] = (),
    step_scale: torch.Tensor | None = None,
) -> SearchResult:
    """Optimise a batch of parameter vectors `init` (B, D) towards the photos' targets.

    Judge after every update (claim 2): a face whose similarity reaches `cfg.threshold`
    stops (its parameters are frozen); the loop ends when all stopped or at `max_iters`.
    `on_step(iteration, loss, similarity)` gets the batch means of the faces still running.
    The discrete groups in `fixed_groups` keep their start (a detail reader chose them).

    `step_scale` (C,) scales each continuous control's update: Adam moves every parameter
    by about its step size whatever its gradient, so a control the start read well would
    drift as far as one it could not read.
    """
    imitator.requires_grad_(False)
    extractor.requires_grad_(False)
    state = ParamState(layout, init.detach().float()).to(init.device)
    for (group, _, _), logits in zip(layout.discrete_slices, state.logits, strict=True):
        logits.requires_grad_(group not in fixed_groups)
    trainable = [p for p in state.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=cfg.lr, betas=(0.9, 0.99))
    batch = init.shape[0]
    active = torch.ones(batch, dtype=torch.bool, device=init.device)
    iterations = [0] * batch
    stopped = [False] * batch
    history: list[list[tuple[int, float, float]]] = [[] for _ in range(batch)]
    final_loss = [math.inf] * batch
    final_terms: list[dict[str, float]] = [{} for _ in range(batch)]

    def judge(step: int, vector: torch.Tensor) -> torch.Tensor:
        image, landmarks = imitator(vector)
        terms = loss_terms(
            extractor,
            image,
            landmarks,
            vector,
            targets,
            labels,
            extractor_size,
            layout.continuous_size,
        )
        loss = total_loss(terms, cfg)
        values = loss.detach()
        sims = losses.similarity_from_loss(values, loss_scale)
        for i in range(batch):
            if not active[i]:
                continue
            final_loss[i] = float(values[i])
            final_terms[i] = {k: float(v[i].detach()) for k, v in terms.items()}
            history[i].append((step, float(values[i]), float(sims[i])))
            iterations[i] = step
            if sims[i] >= cfg.threshold:
                active[i] = False
                stopped[i] = step < cfg.max_iters
        if on_step is not None:
            done = [
                history[i][-1] for i in range(batch) if history[i] and history[i][-1][0] == step
            ]
            if done:
                on_step(
                    step, sum(d[1] for d in done) / len(done), sum(d[2] for d in done) / len(done)
                )
        return loss

    # With no update to make, the answer is the projected start (one option per group):
    # judge exactly that, so the reported loss is the answer's.
    if cfg.max_iters == 0:
        loss = judge(0, state.projected())
    else:
        loss = judge(0, state.vector(temperature_at(0, cfg)))
    for step in range(1, cfg.max_iters + 1):
        if not bool(active.any()):
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step - 1, cfg)
        optimizer.zero_grad(set_to_none=True)
        (loss * active.to(loss.dtype)).sum().backward()
        before = [p.detach().clone() for p in trainable]
        optimizer.step()
        with torch.no_grad():
            if step_scale is not None:
                z_before = before[0]  # the continuous controls' logits, registered first
                state.z.copy_(z_before + (state.z - z_before) * step_scale)
            # Adam's momentum would keep moving faces that already stopped: put them back.
            for p, old in zip(trainable, before, strict=True):
                p[~active] = old[~active]
        loss = judge(step, state.vector(temperature_at(step, cfg)))
    sims = [float(losses.similarity_from_loss(v, loss_scale)) for v in final_loss]
    return SearchResult(
        vectors=state.projected(),
        losses=final_loss,
        similarities=sims,
        iterations=iterations,
        stopped_early=stopped,
        discrete_probabilities=state.discrete_probabilities(),
        history=history,
        terms=final_terms,
    )


def unjudged(init: torch.Tensor, layout: ParamLayout) -> SearchResult:
    """`fast`'s answer without a search or a judge: the projected start (one option per
    group), with no loss or similarity, for the patent's fast mode predicts in one pass."""
    state = ParamState(layout, init.detach().float()).to(init.device)
    batch = init.shape[0]
    return SearchResult(
        vectors=state.projected(),
        losses=[None] * batch,
        similarities=[None] * batch,
        iterations=[0] * batch,
        stopped_early=[False] * batch,
        discrete_probabilities=state.discrete_probabilities(),
        history=[[] for _ in range(batch)],
        terms=[{} for _ in range(batch)],
    )
