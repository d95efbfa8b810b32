"""Where the search starts: each control from the network that owns it.

`patent` starts from the average face. `fast` and `full` start from the predictor's reading
of the photo's parse (the average face without a predictor). In `full`, each continuous
control is then blended with the controls reader's reading by its share, and a detail
reader's reading replaces both where it owns the control (`facefit.fit.ownership`). A
detail reader of a group sets that group's option, in `fast` and `full`. `fast` keeps option
0 of a group unless the predictor is sure of another, and takes its beard from the chin.
What is read from the photo itself then replaces the networks' reading (the fitter's
`_read_from_photo`: rig 3's macros and face shape).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facefit.errors import ModelError
from facefit.fit.beard import chin_beard_options
from facefit.fit.config import FitConfig
from facefit.fit.losses import color_vector
from facefit.fit.networks import FitNetworks
from facefit.fit.ownership import StartPlan
from facefit.fit.params import ParamLayout
from facefit.fit.runner_ups import OptionEvidence
from facefit.fit.search import PhotoTargets

# `fast` has no render to weigh options with: option 0 stays unless the predictor gives its
# choice at least this probability (stubble on at most 5 % of the training folds' women).
FAST_MIN_CONFIDENCE = 0.95


def start_vectors(
    networks: FitNetworks,
    plan: StartPlan,
    spec,
    images: torch.Tensor,
    targets: PhotoTargets,
    cfg: FitConfig,
    evidence: OptionEvidence | None = None,
    bearded: list[bool] | None = None,
) -> torch.Tensor:
    """(B, D) start vectors of aligned photos `images` (B, 3, S, S) in [0, 1]; `evidence` is
    told a detail reader's reading of each group it owns; `bearded`: whether each photo's
    chin reads as a beard (`facefit.fit.beard`), which decides `fast`'s beard."""
    batch = images.shape[0]
    mean = torch.as_tensor(spec.mean_vector(), device=images.device).expand(batch, -1)
    if cfg.mode == "patent":
        return mean.clone()
    if networks.predictor is None:
        if cfg.mode == "fast":
            raise ModelError("mode 'fast' needs the predictor network; none is installed")
        vectors = mean.clone()  # said once, when the networks were loaded
    else:
        with torch.no_grad():
            colors = color_vector(targets.colors)
            vectors = networks.predictor(targets.features, targets.probs, colors)
    if cfg.mode == "full":
        vectors = with_readings(vectors, networks, plan, spec, images)
    if cfg.mode == "fast":
        vectors = default_unless_confident(
            vectors, ParamLayout.from_spec(spec), cfg, bearded=bearded,
            chin_beards=chin_beard_options(spec, cfg),
        )  # fmt: skip
    return with_group_readings(vectors, networks, plan, spec, images, evidence)


def with_readings(
    vectors: torch.Tensor, networks: FitNetworks, plan: StartPlan, spec, images: torch.Tensor
) -> torch.Tensor:
    """`vectors` with the continuous controls blended with the controls reader's reading by
    `plan.controls_share`, and set to a detail reader's reading where it owns them."""
    if networks.controls_reader is None or plan.controls_share is None:
        return vectors
    c = spec.continuous_size
    names = [control.name for control in spec.continuous]
    share = torch.tensor(plan.controls_share, dtype=torch.float32, device=images.device)
    with torch.no_grad():
        reading = networks.controls_reader(images)
        vectors[:, :c] = (1 - share) * vectors[:, :c] + share * reading
        for file, reader in networks.detail.items():
            owned = [
                k for k, n in enumerate(reader.cfg.controls) if plan.control_owners.get(n) == file
            ]
            if owned:
                columns = [names.index(reader.cfg.controls[k]) for k in owned]
                vectors[:, columns] = reader.read_controls(images)[:, owned]
    return vectors


def with_group_readings(
    vectors: torch.Tensor,
    networks: FitNetworks,
    plan: StartPlan,
    spec,
    images: torch.Tensor,
    evidence: OptionEvidence | None = None,
) -> torch.Tensor:
    """`vectors` with each group a detail reader owns set to its choice, one-hot: the
    search keeps it, so it fits the other controls to that option drawn alone."""
    for group, file in plan.group_owners.items():
        block = spec.discrete_slices[group]
        with torch.no_grad():
            logits = networks.detail[file](images)  # (B, K)
        if evidence is not None:
            evidence.read(group, logits.softmax(dim=1))
        choice = logits.argmax(dim=1)
        vectors[:, block] = F.one_hot(choice, block.stop - block.start).to(vectors.dtype)
    return vectors


def default_unless_confident(
    vectors: torch.Tensor,
    layout: ParamLayout,
    cfg: FitConfig,
    min_confidence: float = FAST_MIN_CONFIDENCE,
    bearded: list[bool] | None = None,
    chin_beards: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """`vectors` with option 0 wherever the choice is less sure than `min_confidence`, in the
    groups that hold their default (`fast`'s counterpart of full's real-render margin). Where
    `bearded` is given the chin decides the beard group instead: a clean chin no beard, a
    bearded one the likeliest of the beards it may wear (`chin_beards`; None: all but none)."""
    vectors = vectors.clone()
    for group, start, stop in layout.discrete_slices:
        if group == cfg.beard_group and bearded is not None:
            chin = torch.as_tensor(bearded, device=vectors.device)
            worn = list(chin_beards or range(1, stop - start))
            likelihood = torch.full_like(vectors[:, start:stop], -math.inf)
            likelihood[:, worn] = vectors[:, start:stop][:, worn]
            beard = likelihood.argmax(dim=1)
            choice = torch.where(chin, beard, torch.zeros_like(beard))
            vectors[:, start:stop] = F.one_hot(choice, stop - start).to(vectors.dtype)
            continue
        if not cfg.holds_default(group):
            continue
        unsure = vectors[:, start:stop].max(dim=1).values < min_confidence
        vectors[unsure, start:stop] = 0.0
        vectors[unsure, start] = 1.0
    return vectors
