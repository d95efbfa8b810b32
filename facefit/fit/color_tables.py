"""`fast`'s colours: each colour region's controls read off a table of the average face.

`full` sweeps each colour control on renders of the fitted face (`facefit.fit.colors`),
about 70 colours a face. `fast` has no time for that: its colours came from the predictor,
which reads photos' colours poorly (grey skin on dark-skinned women, every dark head of hair
black). Here each region's colour is drawn once per process on the average face over a grid
of its controls, and a photo takes the values whose interpolated colour is nearest its own.
Only regions whose colour follows their own controls alone have tables: rig 3's lips are
drawn from the skin's colour and its brows from the hair's, so they keep the predictor's.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator

from facefit.fit.colors import photo_region_colors, region_lab, upper_bound
from facefit.fit.config import FitConfig
from facefit.fit.losses import MATCHED_REGIONS
from facefit.fit.real_rig import RealRig
from facefit.fit.search import PhotoTargets

# Values drawn per control, by the number of the region's controls: a table of at most a
# few hundred renders at the extractor's side (about a second, once per process).
TABLE_STEPS = {1: 9, 2: 7, 3: 5}
# Values per control at which the interpolated table is searched.
SEARCH_STEPS = {1: 201, 2: 51, 3: 26}
# The regions with tables: each drawn from its own controls only.
TABLE_REGIONS = ("skin", "hair")
# The option a region's table is drawn with where the average face does not draw the region
# (its hairstyle 0 is bald): one table for every style, or each new style's first photo
# would wait seconds for its own.
TABLE_OPTIONS = {"hair": ("hairstyle", "short01")}


class ColorTable:
    """A region's CIE Lab on the average face over a grid of its controls, interpolated."""

    def __init__(self, axes: list[np.ndarray], labs: np.ndarray) -> None:
        interpolate = RegularGridInterpolator(axes, labs)
        fine = [np.linspace(0.0, 1.0, SEARCH_STEPS[len(axes)])] * len(axes)
        self.points = np.array(list(itertools.product(*fine)))  # (N, k) control values
        self.labs = interpolate(self.points)  # (N, 3)

    def nearest(
        self, target: np.ndarray, top: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """The control values (k,), each at most `top` (k,), whose colour is nearest `target`;
        `weights` (3,): each of L*, a* and b*'s weight in the squared distance (else 1)."""
        allowed = np.all(self.points <= top + 1e-9, axis=1)
        difference = self.labs - target
        if weights is not None:
            difference = difference * np.sqrt(weights)
        distance = np.linalg.norm(difference, axis=1)
        distance[~allowed] = np.inf
        return self.points[int(np.argmin(distance))]


def match_colors_from_tables(
    vectors: torch.Tensor,
    targets: PhotoTargets,
    rig: RealRig,
    spec,
    cfg: FitConfig,
    cheeks: np.ndarray,
) -> torch.Tensor:
    """`vectors` (B, D) with the controls of `cfg.color_matches` of `TABLE_REGIONS` set from
    the tables to the photo's colours as `match_colors` reads them (`cheeks` (B, 3) for the
    skin), each bounded control (`AT_MOST`) no higher than its bound."""
    vectors = vectors.clone()
    names, labels = [c.name for c in spec.continuous], list(spec.labels)
    for region, controls in cfg.color_matches:
        if region not in TABLE_REGIONS:
            continue
        classes = [labels.index(n) for n in MATCHED_REGIONS[region]]
        core = region in cfg.core_color_regions
        photo, shown = photo_region_colors(region, classes, targets, cheeks, core)
        columns = [names.index(c) for c in controls]
        table = _table(rig, spec, region, classes, columns, core)
        if table is None:  # the rig's average face does not draw the region
            continue
        for i in np.flatnonzero(shown):
            top = np.array([upper_bound(vectors[i], names, c) for c in controls])
            vectors[i, columns] = torch.as_tensor(
                table.nearest(photo[i], top), dtype=vectors.dtype, device=vectors.device
            )
    return vectors


def _table(rig, spec, region, classes, columns, core) -> ColorTable | None:
    """The region's table on the average face (`TABLE_OPTIONS`), drawn once per rig."""
    key = (region, tuple(columns), core)
    if key not in rig.color_tables:
        group, option = TABLE_OPTIONS.get(region, (None, None))
        drawn_with = {group: option} if group in spec.discrete_slices else {}
        average = torch.as_tensor(spec.encode({"discrete": drawn_with}))
        axes = [np.linspace(0.0, 1.0, TABLE_STEPS[len(columns)])] * len(columns)
        labs = np.empty([len(a) for a in axes] + [3])
        table: ColorTable | None = None
        drawer = rig.color_probe(average, spec.continuous[columns[0]].name)
        for at in itertools.product(*[range(len(a)) for a in axes]):
            candidate = average.clone()
            candidate[columns] = torch.tensor(
                [axes[j][k] for j, k in enumerate(at)], dtype=candidate.dtype
            )
            drawn = region_lab(drawer, region, classes, candidate, core)
            if drawn is None:
                break
            labs[at] = drawn
        else:
            table = ColorTable(axes, labs)
        rig.color_tables[key] = table
    return rig.color_tables[key]
