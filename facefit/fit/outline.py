"""After the search: groups decided by an outline (a hairstyle), on real renders.

A hairstyle is mostly an outline, which the loss weighs too little to choose one: 110 of
the 134 shared photos got the default short crop and eleven came out bald. This step runs
after the search, so that the shape it fitted is the same whichever outline wins. A group
with an extent control (rig 3's hair volume) has each option drawn at a few of its values:
real hair stands off the head, and with the proxies as modelled only the afro reached the
photos' outlines (41 of rig 3's 134 London fits). `fast` compares the options as drawn once
on the average face.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from facefit.fit.config import SEX
from facefit.fit.real_rig import RealRig, with_option
from facefit.fit.runner_ups import OptionEvidence
from facefit.fit.search import PhotoTargets

# How much (a fraction of the searched option's disagreement) another outline must be better
# by to replace it: where outlines are about equal the search saw more than the outline.
SILHOUETTE_MARGIN = 0.2
# The values of an outline's extent control (hair volume) every option is drawn at, besides
# the searched one: flat, middle, full.
EXTENT_LEVELS = (0.0, 0.5, 1.0)


def outline_disagreement(mask: torch.Tensor, probability: torch.Tensor) -> float:
    """1 - the mean soft intersection over union of a class and of its complement.

    `mask` and `probability` (s, s) in [0, 1]. Scoring the complement as well lets an empty
    mask (a bald head) be compared with small ones: the class's own overlap alone is 0 for
    it whatever the photo shows.
    """

    def iou(a: torch.Tensor, b: torch.Tensor) -> float:
        union = float(torch.maximum(a, b).sum())
        return float(torch.minimum(a, b).sum()) / union if union > 0 else 1.0

    return 1.0 - 0.5 * (iou(mask, probability) + iou(1.0 - mask, 1.0 - probability))


def choose_outlines(
    vectors: torch.Tensor,
    targets: PhotoTargets,
    rig: RealRig,
    spec,
    groups: tuple[tuple[str, str], ...],
    margin: float = SILHOUETTE_MARGIN,
    evidence: OptionEvidence | None = None,
    extents: tuple[tuple[str, str], ...] = (),
    on_average_face: bool = False,
    unworn: list[frozenset[str]] | None = None,
) -> torch.Tensor:
    """`vectors` (B, D) with each (group, label class) of `groups` set to its best outline.

    Every option is drawn by the real rig at the extractor's side, the rest of the face as
    searched, and its class mask compared with the photo's class probability; `evidence` is
    told each option's disagreement. A group with an extent control (`extents`: hair volume)
    has each option drawn at the searched value and at `EXTENT_LEVELS`, and keeps the best.
    `on_average_face` (`fast`): the options are drawn once per process on the average face
    instead, at `EXTENT_LEVELS` only; the framing puts every face's outline near its place.
    `unworn` (B,): the options each face may not wear (`unworn_options`), never drawn.
    """
    vectors = vectors.clone()
    labels = list(spec.labels)
    extent_of = dict(extents)
    for group, label in groups:
        block = spec.discrete_slices[group]
        start, stop = block.start, block.stop
        k = labels.index(label)
        column = spec.continuous_index[extent_of[group]] if group in extent_of else None
        options = next(g.options for g in spec.discrete if g.name == group)
        for i in range(vectors.shape[0]):
            photo = targets.probs[i, k]  # (s, s)
            levels: list[float | None] = [None] if column is None else list(EXTENT_LEVELS)
            if column is not None and not on_average_face:
                levels.insert(0, float(vectors[i, column]))
            scores = np.full((stop - start, len(levels)), np.inf)
            for option in range(stop - start):
                if unworn and options[option] in unworn[i]:
                    continue
                for j, level in enumerate(levels):
                    if on_average_face:
                        mask = _average_outline(rig, spec, start, stop, option, column, level, k)
                    else:
                        drawn = _drawn(vectors[i], start, stop, option, column, level)
                        mask = _outline(rig, drawn, k)
                    scores[option, j] = outline_disagreement(_fitted(mask, photo), photo)
                if evidence is not None:
                    evidence.drawn(i, group, option, float(scores[option].min()))
            searched = int(vectors[i, start:stop].argmax())
            best, level = np.unravel_index(int(np.argmin(scores)), scores.shape)
            if scores[best, level] >= (1.0 - margin) * scores[searched].min():
                best, level = searched, int(np.argmin(scores[searched]))
            vectors[i] = with_option(vectors[i], start, stop, int(best))
            if column is not None:
                vectors[i, column] = levels[level]
    return vectors


def unworn_options(vectors: torch.Tensor, spec, cfg, curled: list[bool] | None) -> list:
    """(B,) frozensets: the options each face's outline step may not draw.

    Curled styles only for hair `curled` says is curled, since an outline cannot tell coils
    from hair tied up high; `cfg.womens_options` only for a woman's character and
    `cfg.mens_options` only for a man's, by the rig's sex control, since a frontal outline
    cannot show how long the hair is behind the head.
    """
    sex = spec.continuous_index.get(SEX)
    unworn = []
    for i in range(vectors.shape[0]):
        options = set() if curled and curled[i] else set(cfg.curled_options)
        if sex is not None:
            options |= set(cfg.mens_options if vectors[i, sex] < 0.5 else cfg.womens_options)
        unworn.append(frozenset(options))
    return unworn


def _drawn(vector, start, stop, option, column, level) -> torch.Tensor:
    """`vector` with `option` of the group in start:stop and its extent control at `level`."""
    candidate = with_option(vector, start, stop, option)
    if level is not None:
        candidate[column] = level
    return candidate


def _outline(rig: RealRig, vector: torch.Tensor, k: int) -> np.ndarray:
    """(s, s) bool: class `k` of the real render of `vector` at the extractor's side."""
    return rig.probe.render(vector.cpu().numpy()).labels == k


def _average_outline(rig, spec, start, stop, option, column, level, k) -> np.ndarray:
    """`_outline` of the average face with this option and extent, drawn once per rig."""
    key = (start, option, level, k)
    if key not in rig.average_outlines:
        average = torch.as_tensor(spec.mean_vector())
        drawn = _drawn(average, start, stop, option, column, level)
        rig.average_outlines[key] = _outline(rig, drawn, k)
    return rig.average_outlines[key]


def _fitted(drawn: np.ndarray, photo: torch.Tensor) -> torch.Tensor:
    """A drawn class mask as a float tensor of the photo's probability map's size."""
    mask = torch.as_tensor(drawn, dtype=photo.dtype, device=photo.device)
    if mask.shape != photo.shape:  # an extractor whose output is smaller
        mask = F.interpolate(mask[None, None], size=photo.shape, mode="area")[0, 0]
    return mask
