"""One function per loss term of the fit; the fitter sums them with `FitConfig` weights.

Shapes: images (B, 3, S, S) in [0, 1]; extractor features a list of (B, C_k, h_k, w_k);
class probabilities (B, L, h, w) in the rig's label order; landmarks (B, 68, 2) in [0, 1]
of the aligned frame.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Label-map classes (rig order) and how much each region counts in the content loss:
# the parts that make a face recognisable count more than skin, hair and background.
CONTENT_WEIGHTS = {
    "background": 0.0,
    "skin": 0.5,
    "hair": 0.5,
    "left_brow": 1.0,
    "right_brow": 1.0,
    "left_eye": 1.5,
    "right_eye": 1.5,
    "nose": 1.0,
    "upper_lip": 1.0,
    "inner_mouth": 0.5,
    "lower_lip": 1.0,
}
# Regions whose mean colour the rig controls (skin tone, hair, eye and lip colour).
COLOR_REGIONS = {
    "skin": ("skin",),
    "hair": ("hair",),
    "eyes": ("left_eye", "right_eye"),
    "lips": ("upper_lip", "lower_lip"),
}
# Regions whose colour is read too but only matched after the search (`facefit.fit.colors`),
# neither in the loss nor in the predictor's input: the brows' darkness.
MATCHED_ONLY_REGIONS = {"brows": ("left_brow", "right_brow")}
MATCHED_REGIONS = COLOR_REGIONS | MATCHED_ONLY_REGIONS  # what a photo's colours are read for
# iBUG-68 outer eye corners: the normaliser of every landmark error in this project.
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45


def region_weight_map(probs: torch.Tensor, labels: list[str]) -> torch.Tensor:
    """(B, L, h, w) class probabilities -> (B, 1, h, w) per-pixel content weight."""
    weights = torch.tensor([CONTENT_WEIGHTS.get(n, 1.0) for n in labels], dtype=probs.dtype)
    return (probs * weights.to(probs.device).view(1, -1, 1, 1)).sum(1, keepdim=True)


def content_loss(
    photo_features: list[torch.Tensor],
    render_features: list[torch.Tensor],
    weight_map: torch.Tensor,
) -> torch.Tensor:
    """(B,) L1 between multi-depth features, weighted by facial region (patent §0093)."""
    total = 0.0
    for fp, fr in zip(photo_features, render_features, strict=True):
        w = F.interpolate(weight_map, size=fp.shape[-2:], mode="bilinear", align_corners=False)
        diff = (fp - fr).abs().mean(1, keepdim=True)  # (B, 1, h, w)
        total = total + (diff * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1e-6)
    return total / len(photo_features)


def landmark_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) mean point distance in units of the target's outer-eye-corner distance."""
    iod = (target[:, LEFT_EYE_OUTER] - target[:, RIGHT_EYE_OUTER]).norm(dim=1).clamp_min(1e-6)
    return (predicted - target).norm(dim=2).mean(1) / iod


def region_colors(
    image: torch.Tensor,
    probs: torch.Tensor,
    labels: list[str],
    regions: dict[str, tuple[str, ...]] = COLOR_REGIONS,
) -> dict[str, torch.Tensor]:
    """Probability-weighted mean RGB (B, 3) of each of `regions` (the loss's unless given)."""
    probs = F.interpolate(probs, size=image.shape[-2:], mode="bilinear", align_corners=False)
    colors = {}
    for region, names in regions.items():
        mask = sum(probs[:, labels.index(n)] for n in names).unsqueeze(1)  # (B, 1, S, S)
        colors[region] = (image * mask).flatten(2).sum(2) / mask.flatten(2).sum(2).clamp_min(1.0)
    return colors


def color_vector(colors: dict[str, torch.Tensor]) -> torch.Tensor:
    """Region colours (`region_colors`) as one (B, 3 * regions) tensor, the predictor's input."""
    return torch.cat([colors[r] for r in COLOR_REGIONS], dim=1)


def color_loss(
    photo_colors: dict[str, torch.Tensor], render_colors: dict[str, torch.Tensor]
) -> torch.Tensor:
    """(B,) mean absolute RGB difference over the colour regions."""
    terms = [(photo_colors[r] - render_colors[r]).abs().mean(1) for r in COLOR_REGIONS]
    return torch.stack(terms, 1).mean(1)


def prior_loss(continuous: torch.Tensor) -> torch.Tensor:
    """(B,) squared distance of the continuous controls from the average face (0.5)."""
    return ((continuous - 0.5) ** 2).mean(1)


def similarity_from_loss(loss: torch.Tensor | float, loss_scale: float) -> torch.Tensor | float:
    """The judge's similarity in [0, 1]: exp(-loss / loss_scale); 1 is a perfect match."""
    if isinstance(loss, torch.Tensor):
        return torch.exp(-loss / loss_scale)
    return math.exp(-loss / loss_scale)
