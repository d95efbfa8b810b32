"""Which network owns which control of the start, decided from the networks' held-out errors.

Every network's manifest entry records its held-out error per continuous control on rig
renders. From those, once per set of networks (`facefit calibrate` writes the outcome into
weights/calibration.json, where a reader can see it):

- a detail reader of continuous controls owns each control it reads closer than the readings
  before it (the controls reader's, then earlier detail readers'); the start takes its
  reading there;
- every other control starts from a blend of the predictor's reading and the controls
  reader's, the controls reader's share per control given by `BlendRules`;
- the search's step of each control follows the held-out error of the reading it starts from;
- a detail reader of a discrete group owns that group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

CHANCE_ERROR = 0.25  # the held-out error of always answering 0.5 for a control in [0, 1]


@dataclass(frozen=True)
class BlendRules:
    """How the held-out errors become shares and step scales (chosen on the training folds'
    people, docs/decisions.md)."""

    controls_weight: float = 0.625  # the controls reader's least share of a blended control
    predictor_blind_error: float = 0.2  # at this predictor error the controls reader reads alone
    blend_by_error: float = 1.0  # k: the share is at least e_p**k / (e_p**k + e_r**k); 0: off
    step_by_error: float = 0.25  # the step scales as (e / CHANCE_ERROR) ** this; 0: all alike

    def __post_init__(self) -> None:
        if not 0.0 <= self.controls_weight <= 1.0:
            raise ValueError("controls_weight must be in [0, 1]")
        if self.blend_by_error < 0:
            raise ValueError("blend_by_error must be >= 0 (0: off)")
        if self.step_by_error < 0:
            raise ValueError("step_by_error must be >= 0 (0: every control alike)")


SHIPPED_RULES = BlendRules()


@dataclass(frozen=True)
class StartPlan:
    """Who sets each control's start, and how far the search may move it."""

    # (C,) the controls reader's share of each control's blend; None: no blend
    controls_share: tuple[float, ...] | None = None
    control_owners: dict[str, str] = field(default_factory=dict)  # control -> detail reader file
    group_owners: dict[str, str] = field(default_factory=dict)  # group -> detail reader file
    # (C,) each control's step relative to the others; None: all alike
    step_scale: tuple[float, ...] | None = None

    def step_tensor(self, device) -> torch.Tensor | None:
        """`step_scale` as the search takes it, (C,) float32."""
        if self.step_scale is None:
            return None
        return torch.tensor(self.step_scale, dtype=torch.float32, device=device)


@dataclass(frozen=True)
class HeldOutErrors:
    """The manifests' held-out errors per control, in the rig's control order."""

    names: tuple[str, ...]  # the rig's continuous controls
    predictor: Mapping[str, float] | None = None  # None: no predictor, or errors unknown
    controls_reader: Mapping[str, float] | None = None
    # (file name, the controls it reads, its error on each), in the order readings apply
    detail: Sequence[tuple[str, Sequence[str], Mapping[str, float]]] = ()


def complete(errors: Mapping[str, float] | None, names: Sequence[str]) -> dict | None:
    """`errors` if it has every control of `names`, else None (an older manifest)."""
    if errors is None or not all(name in errors for name in names):
        return None
    return {name: errors[name] for name in names}


def _vector(errors: Mapping[str, float] | None, names: Sequence[str]) -> torch.Tensor | None:
    if errors is None:
        return None
    return torch.tensor([errors[name] for name in names], dtype=torch.float32)


def plan_start(
    errors: HeldOutErrors,
    group_owners: Mapping[str, str],
    with_controls_reader: bool,
    rules: BlendRules = SHIPPED_RULES,
) -> StartPlan:
    """The start's owners, shares and step scales for networks with these held-out errors
    (`with_controls_reader`: whether a controls reader is installed, errors known or not)."""
    names = list(errors.names)
    predictor = _vector(errors.predictor, names)
    start_errors = _vector(errors.controls_reader, names)
    control_owners: dict[str, str] = {}
    if start_errors is not None:
        for file, controls, reader_errors in errors.detail:
            for name in controls:
                column = names.index(name)
                # compared at the tensor's precision, so that equal errors stay equal
                error = torch.tensor(reader_errors[name], dtype=torch.float32)
                if bool(error < start_errors[column]):
                    control_owners[name] = file
                    start_errors[column] = error
    share = None
    if with_controls_reader and rules.controls_weight > 0:
        w = torch.full((len(names),), rules.controls_weight)
        if rules.blend_by_error and predictor is not None and start_errors is not None:
            # a fixed share keeps the predictor's noise where it reads far worse than the
            # controls reader without being blind (cheekbone height: 0.19 against 0.04)
            power = rules.blend_by_error
            by_error = predictor**power / (predictor**power + start_errors**power)
            w = torch.maximum(w, by_error)
        if predictor is not None:
            w = torch.where(predictor >= rules.predictor_blind_error, torch.ones_like(w), w)
        share = tuple(float(v) for v in w)
    step = None
    if start_errors is not None and rules.step_by_error:
        scale = (start_errors / CHANCE_ERROR).clamp(max=1.0) ** rules.step_by_error
        step = tuple(float(v) for v in scale)
    return StartPlan(share, control_owners, dict(group_owners), step)
