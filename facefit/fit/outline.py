"""After the search: groups decided by an outline (a hairstyle), on real renders.

A hairstyle is mostly an outline, which the loss weighs too little to choose one: 110 of
the 134 shared photos got the default short crop and eleven came out bald. This step runs
after the search, so that the shape it fitted is the same whichever outline wins.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from facefit.fit.real_rig import RealRig, with_option
from facefit.fit.runner_ups import OptionEvidence
from facefit.fit.search import PhotoTargets

# How much (a fraction of the searched option's disagreement) another outline must be better
# by to replace it: where outlines are about equal the search saw more than the outline.
SILHOUETTE_MARGIN = 0.2


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
) -> torch.Tensor:
    """`vectors` (B, D) with each (group, label class) of `groups` set to its best outline.

    Every option is drawn by the real rig at the extractor's side, the rest of the face as
    searched, and its class mask compared with the photo's class probability; `evidence` is
    told each option's disagreement.
    """
    vectors = vectors.clone()
    labels = list(spec.labels)
    for group, label in groups:
        block = spec.discrete_slices[group]
        start, stop = block.start, block.stop
        k = labels.index(label)
        for i in range(vectors.shape[0]):
            photo = targets.probs[i, k]  # (s, s)
            scores = []
            for option in range(stop - start):
                candidate = with_option(vectors[i], start, stop, option)
                drawn = rig.probe.render(candidate.cpu().numpy()).labels == k
                mask = torch.as_tensor(drawn, dtype=photo.dtype, device=photo.device)
                if mask.shape != photo.shape:  # an extractor whose output is smaller
                    mask = F.interpolate(mask[None, None], size=photo.shape, mode="area")[0, 0]
                scores.append(outline_disagreement(mask, photo))
                if evidence is not None:
                    evidence.drawn(i, group, option, scores[-1])
            searched, best = int(vectors[i, start:stop].argmax()), int(np.argmin(scores))
            if scores[best] < (1.0 - margin) * scores[searched]:
                vectors[i] = with_option(vectors[i], start, stop, best)
    return vectors
