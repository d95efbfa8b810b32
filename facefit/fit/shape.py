"""The start's face shape solved from the photo's 68 landmarks, on a rig whose landmarks are
a known function of its controls (rig 3: `facefit.rig.human.landmark_model`).

The networks read the shape poorly from a photo: they learnt it on renders, and a face's
proportions are a small signal in its parse. The landmarks carry them directly, and the same
68 points exist on the photo (dlib) and on the rig (fixed vertices). So the shape controls
are solved as a bounded, regularised least-squares problem:

    min  |W (J x + S s - r)|^2 + prior |x|^2,   0 <= x <= 1

x: each control's push from 0.5 towards 0 or towards 1 (its two poles); J: the landmarks'
derivative along each pole; S s: a similarity (scale, rotation, shift) left free, so that
only proportions count, not where the aligner put the face; r: the photo's landmarks minus
the start's. The prior pulls towards the average face (x = 0): the networks trained on
renders read a photo's shape no better than the average does (docs/benchmarks.md), so a
control the landmarks cannot see stays average. A control that ends with both poles pushed
is solved again on its stronger pole alone, where the rig's morph is linear.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import lsq_linear

# Per landmark weight: the jaw line (0-16) at half (dlib places it on the visible contour,
# the rig on fixed vertices); the outer lips (48-59) at 0.3 and the inner ones (60-67) not at
# all: a smile moves them, and the rig has no smile. With the lips at full weight the solved
# shapes of the training folds' 52 people found their other expression's first among 52 in
# 42 % of cases, at 0.3 in 67 % (docs/decisions.md).
LANDMARK_WEIGHTS = np.array([0.5] * 17 + [1.0] * 31 + [0.3] * 12 + [0.0] * 8)
# a pole that moves the landmarks less than this (times the prior's root) stays at 0: the
# prior would hold it there anyway, and the solve runs on the poles the landmarks can see
VISIBLE = 0.1
PRIOR = 1e-4  # where the landmark error stops falling (docs/decisions.md)


def _similarity_columns(points: np.ndarray) -> np.ndarray:
    """(136, 4) how the (68, 2) points move under a small scale, rotation, x and y shift."""
    centred = points - points.mean(axis=0)
    rotated = np.stack([-centred[:, 1], centred[:, 0]], axis=1)
    ones = np.zeros_like(points)
    ones[:, 0] = 1.0
    shift_y = np.zeros_like(points)
    shift_y[:, 1] = 1.0
    return np.stack([c.ravel() for c in (centred, rotated, ones, shift_y)], axis=1)


def solve_poles(
    J: np.ndarray,
    residual: np.ndarray,
    points: np.ndarray,
    prior: float,
    free: np.ndarray | None = None,
) -> np.ndarray:
    """The poles' amounts (P,) that best explain `residual` (136,) of the landmarks `points`
    (68, 2); `free` (P,) bool: the poles that may move (the others stay at 0)."""
    weight = np.repeat(LANDMARK_WEIGHTS, 2)
    seen = np.linalg.norm(J * weight[:, None], axis=0) > VISIBLE * np.sqrt(prior)
    if free is not None:
        seen &= free
    x = np.zeros(J.shape[1])
    if not seen.any():
        return x
    columns = J[:, seen]
    poles = columns.shape[1]
    top = np.concatenate([columns, _similarity_columns(points)], axis=1) * weight[:, None]
    regular = np.concatenate([np.eye(poles), np.zeros((poles, 4))], axis=1) * np.sqrt(prior)
    a = np.concatenate([top, regular])
    b = np.concatenate([residual * weight, np.zeros(poles)])
    lower = np.concatenate([np.zeros(poles), np.full(4, -np.inf)])
    upper = np.concatenate([np.ones(poles), np.full(4, np.inf)])
    x[seen] = lsq_linear(a, b, bounds=(lower, upper), method="bvls").x[:poles]
    return x


def shape_from_landmarks(
    vectors: torch.Tensor, landmarks: torch.Tensor, spec, prior: float = PRIOR
) -> torch.Tensor:
    """`vectors` (B, D) with the face controls and body weight solved from `landmarks`
    (B, 68, 2) in [0, 1] of the aligned frame; the other controls as they were."""
    from facefit.rig.human.landmark_model import control_values, landmark_model

    model = landmark_model()
    names = [c.name for c in spec.continuous]
    out = vectors.clone()
    for i in range(len(vectors)):
        values = dict(zip(names, vectors[i, : len(names)].tolist(), strict=True))
        directions = model.pole_directions(values)
        average = values | {pole.control: 0.5 for pole in model.poles}
        points, J = model.jacobian(average, directions)
        residual = landmarks[i].detach().cpu().numpy().astype(np.float64).ravel() - points
        shape = points.reshape(-1, 2)
        x = solve_poles(J, residual, shape, prior)
        # one pole per control: where both moved, the stronger one alone, solved again
        net = x[1::2] - x[0::2]
        free = np.stack([net < 0, net >= 0], axis=1).ravel()
        x = solve_poles(J, residual, shape, prior, free)
        for name, value in control_values(model.poles, x).items():
            out[i, names.index(name)] = float(np.clip(value, 0.0, 1.0))
    return out


def shape_controls(spec) -> list[int]:
    """The indices of the controls `shape_from_landmarks` sets."""
    from facefit.rig.human.landmark_model import landmark_model

    solved = {pole.control for pole in landmark_model().poles}
    return [i for i, c in enumerate(spec.continuous) if c.name in solved]
