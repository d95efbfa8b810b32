"""Whether a photo's hair is curled: the texture the hair's outline cannot show.

The outline step compares the hair's silhouette only, and the afro's dome is the one outline
that reaches as high as hair tied up or brushed up: straight-haired men and women with hair
tied back got coiled afros. Straight, wavy or sleek hair runs in strands, so its fine
gradients share one direction over a few pixels; curls and coils turn within that span. The
measure is the median orientation coherence of the structure tensor over the photo's hair:
near 1 for strands, lower for curls (`bench/hair_texture.py` chose the bound by
cross-validation over the London people labelled by eye, `facefit/data/london_hair.csv`).
"""

from __future__ import annotations

import cv2
import numpy as np

# Hair coherence below this is curled (median over the hair, at the aligned frame's 512 px;
# the training folds' bound, 0.482).
CURLED_BELOW = 0.48
# The pixels measured: the parse's surest hair, away from its edges (the face and the
# background's gradients are no strands).
SURE_HAIR = 0.8
EDGE_PX = 4
SMOOTH_PX = 1.0  # the gradients' pre-blur: the strands' scale at 512 px
WINDOW_PX = 6.0  # the span over which the gradients' directions are compared
MIN_PIXELS = 50  # less hair than this (a shaved head) tells nothing: not curled


def hair_coherence(image: np.ndarray, hair: np.ndarray) -> float | None:
    """The median orientation coherence over the hair of `image` (S, S, 3) uint8, whose hair
    probability `hair` (s, s) is in [0, 1]; None where too little of it is sure hair."""
    size = image.shape[0]
    sure = cv2.resize(hair.astype(np.float32), (size, size)) > SURE_HAIR
    kernel = np.ones((2 * EDGE_PX + 1, 2 * EDGE_PX + 1), np.uint8)
    sure = cv2.erode(sure.astype(np.uint8), kernel) > 0
    if sure.sum() < MIN_PIXELS:
        return None
    # only the hair's box is filtered, with the filters' reach around it: the same numbers
    # at a fraction of the frame's cost
    ys, xs = np.nonzero(sure)
    reach = int(np.ceil(4 * (WINDOW_PX + SMOOTH_PX))) + 2  # OpenCV cuts its Gaussians at 4 sigma
    y0, x0 = max(ys.min() - reach, 0), max(xs.min() - reach, 0)
    y1, x1 = ys.max() + reach + 1, xs.max() + reach + 1
    sure = sure[y0:y1, x0:x1]
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grey = cv2.GaussianBlur(grey, (0, 0), SMOOTH_PX)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(g, (0, 0), WINDOW_PX) for g in (gx * gx, gy * gy, gx * gy))
    coherence = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy**2) / (jxx + jyy + 1e-6)
    return float(np.median(coherence[sure]))


def is_curled(image: np.ndarray, hair: np.ndarray) -> bool:
    """Whether the photo's hair is curled enough for a curled hairstyle."""
    coherence = hair_coherence(image, hair)
    return coherence is not None and coherence < CURLED_BELOW


def curled_photos(faces, probs, labels: list[str]) -> list[bool]:
    """Whether each aligned face's hair is curled; `probs` (B, K, s, s): the photos' class
    probabilities (`PhotoTargets.probs`)."""
    hair = labels.index("hair")
    return [is_curled(face.image, probs[i, hair].cpu().numpy()) for i, face in enumerate(faces)]
