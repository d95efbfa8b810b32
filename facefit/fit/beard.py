"""Facial hair read from the photo's own pixels, and the beard's density matched to it.

The loss does not tell a man's stubble from a woman's bare chin. A chin much darker than
the cheeks, or dotted with hairs, is a beard (`facefit.fit.skin_regions`): there the options
check rules out "none" (`facefit.fit.options`), and the beard's density is matched to the
chin. Any other chin is clean, and its character is clean-shaven (`shave_clean_chins`):
a beard on a woman is the worst miss a player sees, a man's faint stubble left out the least.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from facefit.fit.config import FitConfig
from facefit.fit.real_rig import RealRig
from facefit.fit.skin_regions import chin_minus_cheek_lightness, chin_minus_cheek_texture

# Each threshold sits just past the training folds' women's photos, whom no beard should
# reach: their darkest chin is -17.1 (CIE L* against the cheeks), their most textured 0.05.
CHIN_LIGHTNESS = -18.0
CHIN_TEXTURE = 0.1
DENSITY_STEPS = 9  # densities tried, from the densest down


def beard_chins(
    faces: list[Any],
    cfg: FitConfig,
    lightness: float = CHIN_LIGHTNESS,
    texture: float = CHIN_TEXTURE,
) -> list[float | None]:
    """Per aligned face, its chin's lightness against the cheeks where the chin is dark or
    textured enough to be a beard, else None (and None everywhere without a beard group)."""
    if cfg.beard_group is None:
        return [None] * len(faces)
    out: list[float | None] = []
    for face in faces:
        image, points = face.image, face.aligned_landmarks68
        chin = chin_minus_cheek_lightness(image, points)
        beard = chin < lightness or chin_minus_cheek_texture(image, points) > texture
        out.append(chin if beard else None)
    return out


def chin_beard_options(spec, cfg: FitConfig) -> tuple[int, ...]:
    """Indices in the beard group of the beards a bearded chin may wear (`cfg.chin_beards`;
    every option but 0, none, where it names none)."""
    beards = next((g.options for g in spec.discrete if g.name == cfg.beard_group), ())
    allowed = cfg.chin_beards or beards[1:]
    return tuple(i for i, option in enumerate(beards) if i > 0 and option in allowed)


def shave_clean_chins(vectors: torch.Tensor, chins: list[float | None], spec, cfg: FitConfig):
    """`vectors` (B, D) with the beard group's option 0 ("none") where the photo's chin is
    clean (`chins`, as `beard_chins` gives them: None)."""
    if cfg.beard_group is None:
        return vectors
    vectors = vectors.clone()
    block = spec.discrete_slices[cfg.beard_group]
    for i, chin in enumerate(chins):
        if chin is None:
            vectors[i, block] = 0.0
            vectors[i, block.start] = 1.0
    return vectors


def match_beard_density(
    vectors: torch.Tensor,
    chins: list[float | None],
    rig: RealRig,
    spec,
    cfg: FitConfig,
    steps: int = DENSITY_STEPS,
    on_probe: bool = False,
) -> torch.Tensor:
    """`vectors` (B, D) with `cfg.beard_density` set where the chin gave a beard
    (`chins`, as `beard_chins` gives them) and a beard was kept (`at_chin_density`);
    `on_probe`: drawn at the extractor's side (`fast`: a few ms a draw)."""
    if cfg.beard_density is None or cfg.beard_group is None:
        return vectors
    vectors = vectors.clone()
    k = spec.continuous_index[cfg.beard_density]
    block = spec.discrete_slices[cfg.beard_group]
    for i, photo in enumerate(chins):
        if photo is None or int(vectors[i, block].argmax()) == 0:
            continue
        vectors[i] = at_chin_density(vectors[i], photo, rig, cfg, k, steps, on_probe)
    return vectors


def at_chin_density(
    vector: torch.Tensor,
    chin: float,
    rig: RealRig,
    cfg: FitConfig,
    k: int,
    steps: int = DENSITY_STEPS,
    on_probe: bool = False,
) -> torch.Tensor:
    """`vector` (D,) with its beard (control `k`) at the density a bearded chin draws it at:
    `cfg.chin_beard_density` where the rig sets one, else as dense as the chin shows it
    (`with_chin_density`)."""
    if cfg.chin_beard_density is None:
        return with_chin_density(vector, chin, rig, k, steps, on_probe)
    vector = vector.clone()
    vector[k] = cfg.chin_beard_density
    return vector


def with_chin_density(
    vector: torch.Tensor,
    chin: float,
    rig: RealRig,
    k: int,
    steps: int = DENSITY_STEPS,
    on_probe: bool = False,
) -> torch.Tensor:
    """`vector` (D,) with its beard density (control `k`) the one whose chin is as much
    darker than its cheeks as the photo's (`chin`, as `beard_chins` gives it).

    Tried on real renders from the densest down: a chin darkens steadily with density, so the
    walk stops at the first rise of the distance.
    """
    best, least = 1.0, math.inf
    for value in np.linspace(1.0, 0.0, steps):
        candidate = vector.clone()
        candidate[k] = float(value)
        drawn = rig.probe.render(candidate.cpu().numpy()) if on_probe else rig.render(candidate)
        distance = abs(chin_minus_cheek_lightness(drawn.image, drawn.landmarks68) - chin)
        if not math.isfinite(distance):  # a render too small to hold a chin: left as it was
            return vector
        if distance >= least:
            break
        best, least = float(value), distance
    vector = vector.clone()
    vector[k] = best
    return vector
