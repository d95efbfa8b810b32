"""After the search: colour controls matched to the photo's region colour on real renders.

The predictor reads hair colour poorly and a few updates of the search barely move it (dark
brown hair came out copper, blond grey). Matched, the hair colour's distance to the photos'
falls by a third, for 18 renders a face at the extractor's side. On rig 3, ~70 colours a face
are tried, drawn from six draws of the face (`RealRig.color_probe`).

The skin is read on the cheeks (`facefit.fit.skin_regions`), in the photo and in the render
alike: the skin's own colour shows there, where the rest of the skin region mixes in the
shadows of the jaw and the neck, and the cheeks are what a person compares. Its controls
are matched finer than a grid step: the skin is the largest colour of a face.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch

from facefit.fit.config import FitConfig
from facefit.fit.losses import MATCHED_REGIONS
from facefit.fit.real_rig import RealRig
from facefit.fit.search import PhotoTargets
from facefit.fit.skin_regions import cheek_lab
from facefit.rig.human.people import greyest_hair

COLOR_STEPS = 9  # values tried per control, evenly spaced in [0, 1]
# The least share of the frame a colour region must cover in the photo's parse for its
# colour to be matched: 1 % of hair is a few dozen pixels at 128 px, a bald man's fringe;
# closed lips cover 0.3 to 1.1 % of the London photos' frames, rig 3's open eyes 0.55 %.
MIN_REGION_SHARE = {"hair": 0.01, "eyes": 0.002, "lips": 0.002, "brows": 0.002}
# Regions read on the cheeks instead of their labelled pixels.
CHEEK_REGIONS = ("skin",)
# The least class probability of a photo's pixel inside a region read by its middle colour
# (`FitConfig.core_color_regions`, `core_rgb`).
SURE = 0.8
# Regions searched on a coarser grid whose best value is then refined between its
# neighbours (a parabola through the three squared distances, kept where its render is
# closer), and the values tried per control: a grid step of rig 3's skin tone is 7 L*,
# the skin must come within a few.
REFINED_REGIONS = {"skin": 5, "brows": 5}
# Regions whose controls are swept twice: light skin's chroma is clipped by the sRGB gamut, so
# its tone is best read again once the undertone and saturation are near (a fair smiling
# photo's cheeks came 7.6 from the character's after one sweep, 0.8 after two).
SWEPT_TWICE = ("skin",)
# Controls whose sweep starts from a value rather than from the predictor's. Grey only where
# the photo's hair needs it: from the predictor's half grey, the colour sweep blackened the
# hair to make up for it, a pair the grey sweep then kept.
SWEPT_FROM = {"hair_grey": 0.0}
# Controls no higher than a bound read from another control of the face, in every mode: the
# grey of the rig's people at the photo's age (photos' black hair under studio light measures
# L* 24-37, the rig's black 13, so the sweep lightened dark hair with grey wherever it could,
# and the predictor gives most people half grey).
AT_MOST = {"hair_grey": ("age", greyest_hair)}


def lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) sRGB in [0, 1] -> (N, 3) CIE Lab (L in 0-100)."""
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32)[None], cv2.COLOR_RGB2LAB)[0]


def photo_cheeks(faces: list[Any]) -> np.ndarray:
    """(B, 3) CIE Lab of each aligned face's cheeks: the colour its skin is matched to."""
    return np.stack([cheek_lab(face.image, face.aligned_landmarks68) for face in faces])


def match_colors(
    vectors: torch.Tensor,
    targets: PhotoTargets,
    rig: RealRig,
    spec,
    cfg: FitConfig,
    steps: int = COLOR_STEPS,
    cheeks: np.ndarray | None = None,
) -> torch.Tensor:
    """`vectors` (B, D) with the controls of `cfg.color_matches` set to match the photo.

    Per region, each control in turn is tried at `steps` values, the others as they are; the
    value whose region (the render's own labels) has the mean colour closest to the photo's
    (the extractor's class probabilities, as in the loss) in CIE Lab is kept. A region the
    render does not show (hair on a bald head), or the photo shows on less than
    `MIN_REGION_SHARE` of the frame, leaves its controls alone. A region of `CHEEK_REGIONS`
    is compared on the cheeks instead, the photos' given as `cheeks` (`photo_cheeks`).
    """
    vectors = vectors.clone()
    names, labels = [c.name for c in spec.continuous], list(spec.labels)
    for region, controls in cfg.color_matches:
        classes = [labels.index(n) for n in MATCHED_REGIONS[region]]
        core = region in cfg.core_color_regions
        photo, shown = photo_region_colors(region, classes, targets, cheeks, core)
        refine = region in REFINED_REGIONS
        tried = REFINED_REGIONS.get(region, steps)
        started = [names.index(c) for c in controls if c in SWEPT_FROM]
        for i in np.flatnonzero(shown):
            for k in started:
                vectors[i, k] = SWEPT_FROM[names[k]]
            for _ in range(2 if region in SWEPT_TWICE else 1):
                for control in controls:
                    k = names.index(control)
                    top = upper_bound(vectors[i], names, control)
                    drawer = rig.color_probe(vectors[i], control)
                    distance = partial(region_distance, drawer, region, classes, photo[i], core)
                    vectors[i, k] = _best_value(vectors[i], k, distance, tried, refine, top)
    return vectors


def photo_region_colors(
    region: str,
    classes: list[int],
    targets: PhotoTargets,
    cheeks: np.ndarray | None,
    core: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The photos' CIE Lab of `region` (B, 3) and whether each photo shows enough of it to
    be matched (B,) bool: the cheeks' for `CHEEK_REGIONS` (`cheeks`), the middle colour of the
    sure inside if `core`, else the mean colour of the region's class probabilities."""
    if region in CHEEK_REGIONS:
        if cheeks is None:
            raise ValueError(f"the {region!r} colour is matched on the photos' cheeks")
        return np.asarray(cheeks, np.float32), np.ones(len(cheeks), bool)
    photo = lab(targets.colors[region].cpu().numpy())  # (B, 3)
    probability = targets.probs[:, classes].sum(1)  # (B, s, s)
    share = probability.flatten(1).mean(1)  # (B,)
    if core:
        images = targets.images.permute(0, 2, 3, 1).cpu().numpy()
        for i, sure in enumerate((probability > SURE).cpu().numpy()):
            middle = core_rgb(images[i], sure)
            if middle is not None:  # else the mean: no sure inside to read
                photo[i] = lab(middle[None])[0]
    return photo, (share >= MIN_REGION_SHARE[region]).cpu().numpy()


def core_rgb(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The middle colour (3,) of `image` (s, s, 3) in [0, 1] over `mask` (s, s) bool less its
    edge pixel: the mean of the pixels between the quartiles of brightness (a median, but as
    fine as a mean: dark hair's pixels differ by a few levels of 255); None where nothing is
    left."""
    import cv2

    inside = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if not inside.any():
        return None
    pixels = image[inside]
    brightness = pixels.sum(axis=1)
    low, high = np.percentile(brightness, [25, 75])
    return pixels[(brightness >= low) & (brightness <= high)].mean(axis=0)


def region_lab(
    drawer, region: str, classes: list[int], candidate: torch.Tensor, core: bool = False
) -> np.ndarray | None:
    """CIE Lab (3,) of the `region` colour of `drawer`'s render of `candidate` (D,) (the rig's
    probe, or its colour response: `RealRig.color_probe`): the cheeks' for `CHEEK_REGIONS`,
    the middle colour of its labels' inside if `core`, else the mean of the render's own
    region labels; None where the render does not draw the region."""
    drawn = drawer.render(candidate.cpu().numpy())
    if region in CHEEK_REGIONS:
        return cheek_lab(drawn.image, drawn.landmarks68)
    mask = np.isin(drawn.labels, classes)
    if not mask.any():
        return None
    if core and (middle := core_rgb(drawn.image / 255.0, mask)) is not None:
        return lab(middle[None])[0]
    return lab((drawn.image[mask].mean(axis=0) / 255.0)[None])[0]


def region_distance(
    drawer,
    region: str,
    classes: list[int],
    photo: np.ndarray,
    core: bool,
    candidate: torch.Tensor,
) -> float | None:
    """CIE76 distance of the `region` colour (`region_lab`) of `drawer`'s render of
    `candidate` (D,) to the photo's Lab `photo` (3,); None where the render does not draw
    the region."""
    drawn = region_lab(drawer, region, classes, candidate, core)
    return None if drawn is None else float(np.linalg.norm(drawn - photo))


def upper_bound(vector: torch.Tensor, names: list[str], control: str) -> float:
    """The highest value `control` may take in `vector` (`AT_MOST`), 1 unless bounded."""
    if control not in AT_MOST or AT_MOST[control][0] not in names:
        return 1.0
    source, bound = AT_MOST[control]
    return bound(float(vector[names.index(source)]))


def within_bounds(vectors: torch.Tensor, spec) -> torch.Tensor:
    """`vectors` (B, D) with each control of `AT_MOST` the rig has lowered to its bound."""
    names = [c.name for c in spec.continuous]
    vectors = vectors.clone()
    for control in AT_MOST:
        if control in names:
            k = names.index(control)
            for i in range(len(vectors)):
                top = upper_bound(vectors[i], names, control)
                vectors[i, k] = min(float(vectors[i, k]), top)
    return vectors


def _best_value(
    vector: torch.Tensor, k: int, distance, steps: int, refine: bool, top: float = 1.0
) -> float:
    """The value in [0, `top`] of control `k` of `vector` (D,) whose render is closest by
    `distance` (None where the region is not drawn: the control is left as it is)."""
    if top <= 0.0:
        return 0.0
    values = np.linspace(0.0, top, steps)

    def at(value: float):
        candidate = vector.clone()
        candidate[k] = float(value)
        return distance(candidate)

    distances = []
    for value in values:
        d = at(value)
        if d is None:
            return float(vector[k])
        distances.append(d)
    best = int(np.argmin(distances))
    if not refine or steps < 3:
        return float(values[best])
    # the squared distance is near a parabola in one control around its minimum: its vertex
    # between the best value's neighbours (at an end, between the end's two neighbours)
    mid = min(max(best, 1), steps - 2)
    y0, y1, y2 = (distances[j] ** 2 for j in (mid - 1, mid, mid + 1))
    curvature = y0 - 2 * y1 + y2
    if curvature <= 0:
        return float(values[best])
    step = values[1] - values[0]
    vertex = float(
        np.clip(values[mid] + 0.5 * step * (y0 - y2) / curvature, *values[[mid - 1, mid + 1]])
    )
    refined = at(vertex)
    return vertex if refined is not None and refined < distances[best] else float(values[best])
