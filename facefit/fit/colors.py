"""After the search: colour controls matched to the photo's region colour on real renders.

The predictor reads hair colour poorly and a few updates of the search barely move it (dark
brown hair came out copper, blond grey). Matched, the hair colour's distance to the photos'
falls by a third, for 18 renders a face at the extractor's side.
"""

from __future__ import annotations

import numpy as np
import torch

from facefit.fit.config import FitConfig
from facefit.fit.losses import COLOR_REGIONS
from facefit.fit.real_rig import RealRig
from facefit.fit.search import PhotoTargets

COLOR_STEPS = 9  # values tried per control, evenly spaced in [0, 1]
# The least share of the frame a colour region must cover in the photo's parse for its
# colour to be matched (1 %: a few dozen pixels at 128 px, a bald man's fringe).
MIN_REGION_SHARE = 0.01


def lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) sRGB in [0, 1] -> (N, 3) CIE Lab (L in 0-100)."""
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32)[None], cv2.COLOR_RGB2LAB)[0]


def match_colors(
    vectors: torch.Tensor,
    targets: PhotoTargets,
    rig: RealRig,
    spec,
    cfg: FitConfig,
    steps: int = COLOR_STEPS,
) -> torch.Tensor:
    """`vectors` (B, D) with the controls of `cfg.color_matches` set to match the photo.

    Per region, each control in turn is tried at `steps` values, the others as they are; the
    value whose region (the render's own labels) has the mean colour closest to the photo's
    (the extractor's class probabilities, as in the loss) in CIE Lab is kept. A region the
    render does not show (hair on a bald head), or the photo shows on less than
    `MIN_REGION_SHARE` of the frame, leaves its controls alone.
    """
    vectors = vectors.clone()
    names, labels = [c.name for c in spec.continuous], list(spec.labels)
    values = np.linspace(0.0, 1.0, steps)
    for region, controls in cfg.color_matches:
        classes = [labels.index(n) for n in COLOR_REGIONS[region]]
        photo = lab(targets.colors[region].cpu().numpy())  # (B, 3)
        share = targets.probs[:, classes].sum(1).flatten(1).mean(1)  # (B,)
        for i in range(vectors.shape[0]):
            if float(share[i]) < MIN_REGION_SHARE:
                continue
            for control in controls:
                k = names.index(control)
                distances = []
                for value in values:
                    candidate = vectors[i].clone()
                    candidate[k] = float(value)
                    drawn = rig.probe.render(candidate.cpu().numpy())
                    shown = np.isin(drawn.labels, classes)
                    if not shown.any():
                        break
                    mean = drawn.image[shown].mean(axis=0) / 255.0
                    distances.append(float(np.linalg.norm(lab(mean[None])[0] - photo[i])))
                if len(distances) == len(values):
                    vectors[i, k] = float(values[int(np.argmin(distances))])
    return vectors
