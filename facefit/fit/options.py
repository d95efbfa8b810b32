"""After the search: each discrete group's option checked on the game's own render.

Per group, the runner-up is drawn where the search's soft choice was close, and option 0 (no
beard, the default hairstyle) wherever something else was chosen in a group that holds its
default: an option the real render does not prefer over the default by
`FitConfig.default_margin` is not kept. Where the photo's chin reads as a beard
(`facefit.fit.beard`), option 0 of the beard group is ruled out instead: each beard a bearded
chin may wear (`FitConfig.chin_beards`) is drawn at the density the chin gives it and the
best one kept. Where it reads clean, the character stays clean-shaven: the beard group is
not checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from facefit.fit.config import FitConfig
from facefit.fit.params import ParamLayout
from facefit.fit.real_rig import RealRig, one_face, with_option
from facefit.fit.runner_ups import OptionEvidence
from facefit.fit.search import PhotoTargets

# Groups whose top-2 soft weights differ by less than this have their runner-up drawn too.
RUNNER_UP_MARGIN = 0.2


def check_options(
    vectors: torch.Tensor,
    probabilities: list[torch.Tensor],
    targets: PhotoTargets,
    rig: RealRig,
    layout: ParamLayout,
    cfg: FitConfig,
    decided: tuple[str, ...] = (),
    bearded: list[bool] | None = None,
    evidence: OptionEvidence | None = None,
    at_chin_density: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
    chin_beards: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """`vectors` (B, D) with each group's option the real render supports best.

    `probabilities`: the search's soft choice per group (B, K). The groups in `decided` (a
    detail reader's or an outline's) keep their option. `evidence` is told each drawn
    option's loss as it was compared (the default's with its margin, where it challenged).
    `at_chin_density(i, candidate)`: the candidate with its beard at the density face i's
    chin gives it, which each beard is drawn at where a bearded chin has them compared;
    `chin_beards`: the beard group's options a bearded chin may wear (None: all but none).
    """
    vectors = vectors.clone()
    renders = [rig.render(v) for v in vectors]
    real_loss = rig.loss(vectors, renders, targets, cfg)
    for g, (group, start, stop) in enumerate(layout.discrete_slices):
        if group in decided:
            continue
        holds_default = cfg.holds_default(group)
        top2 = probabilities[g].topk(min(2, probabilities[g].shape[1]), dim=1)
        for i in range(vectors.shape[0]):
            current = int(vectors[i, start:stop].argmax())
            options = []
            values = top2.values[i]
            if len(values) == 2 and float(values[0] - values[1]) < RUNNER_UP_MARGIN:
                options.append(int(top2.indices[i, 1]))
            if holds_default and current != 0 and 0 not in options:
                options.append(0)
            if bearded is not None and not bearded[i] and group == cfg.beard_group:
                continue  # a clean chin: shaven before this check (facefit.fit.beard)
            to_beat = real_loss[i]
            none_ruled_out = bearded is not None and bearded[i] and group == cfg.beard_group
            if none_ruled_out:
                # the chin rules out "none": each beard it may wear is drawn at the density
                # the chin gives it (at the search's density, often the densest, stubble is
                # a dark shadow and loses to a moustache)
                options = list(chin_beards or range(1, stop - start))
                to_beat = math.inf
            elif evidence is not None:
                evidence.drawn(i, group, current, real_loss[i])
            for option in options:
                candidate = with_option(vectors[i], start, stop, option)
                if none_ruled_out and at_chin_density is not None:
                    candidate = at_chin_density(i, candidate)
                render = rig.render(candidate)
                loss = rig.loss(candidate[None], [render], one_face(targets, i), cfg)[0]
                bonus = 1.0 - cfg.default_margin if option == 0 and holds_default else 1.0
                if evidence is not None:
                    evidence.drawn(i, group, option, loss * bonus)
                if loss * bonus < to_beat:
                    vectors[i], real_loss[i] = candidate, loss
                    to_beat = loss
    return vectors
