"""The start's face shape solved from the photo's 68 landmarks, on a rig whose landmarks are
a known function of its controls (rig 3: `facefit.rig.human.landmark_model`).

The networks read the shape poorly from a photo: they learnt it on renders, and a face's
proportions are a small signal in its parse. The landmarks carry them directly, and the same
68 points exist on the photo (dlib) and on the rig (fixed vertices). So the shape controls
are solved as a bounded, regularised least-squares problem:

    min  |W (J x + S s + E e - r)|^2 + prior |x|^2 + EXPRESSION_PRIOR |e|^2,   0 <= x <= 1, e >= 0

x: each control's push from 0.5 towards 0 or towards 1 (its two poles); J: the landmarks'
derivative along each pole; S s: a similarity (scale, rotation, shift) left free, so that
only proportions count, not where the aligner put the face; E e: the photo's expression,
along the expression basis (`facefit.nets.expressions`), so that a smile's wider mouth,
raised cheeks and narrowed eyes are not read as the face's shape (only the part beyond
`EXPRESSION_DEAD_ZONE` is taken out of r before the shape is solved); r: the photo's
landmarks minus the start's. The prior pulls towards the average face (x = 0): the networks trained on
renders read a photo's shape no better than the average does (docs/benchmarks.md), so a
control the landmarks cannot see stays average. A control that ends with both poles pushed
is solved again on its stronger pole alone, where the rig's morph is linear. The fit's last
step solves it once more with rows of a face recogniser's reading added (`extra`,
`facefit.fit.recognition`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from facefit.rig.human import controls

# Per landmark weight: the jaw line (0-16) at half (dlib places it on the visible contour,
# the rig on fixed vertices); the outer lips (48-59) at 0.3 and the inner ones (60-67) not at
# all: a smile moves them, and the rig has no smile. With the lips at full weight the solved
# shapes of the training folds' 52 people found their other expression's first among 52 in
# 42 % of cases, at 0.3 in 67 % (docs/decisions.md).
LANDMARK_WEIGHTS = np.array([0.5] * 17 + [1.0] * 31 + [0.3] * 12 + [0.0] * 8)
# a pole that moves the landmarks less than this (times the prior's root) stays at 0: the
# prior would hold it there anyway, and the solve runs on the poles the landmarks can see
VISIBLE = 0.1
# the problem is solved at the macros rounded to this: the search's projection moves them by
# up to 1e-4 (its bounds, float32), and a cached problem then serves the recogniser's solve
KEY_DECIMALS = 3
# what the rig's morph reads of a face (`facefit.rig.human.morph`)
MORPH_CONTROLS = frozenset(
    [name for name, _, _ in controls.MACROS] + [m.name for m in controls.MORPHS]
)
PRIOR = 1e-4  # where the landmark error stops falling (docs/decisions.md)
# an amount of 1 is a typical smile; this holds a neutral face's expression near 0 without
# stopping a smile (chosen by cross-validation over the training folds, docs/decisions.md)
EXPRESSION_PRIOR = 1e-5
# only the part of an expression beyond this amount is taken out of the shape: a neutral photo
# shows a fifth of a smile on average, mostly its own face's proportions (a wide mouth), and
# taking it out made the characters of neutral photos less like their people
EXPRESSION_DEAD_ZONE = 0.5


def similarity_columns(points: np.ndarray) -> np.ndarray:
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
    expressions: np.ndarray | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The poles' amounts (P,) that best explain `residual` (136,) of the landmarks `points`
    (68, 2), and the expression's (K,); `free` (P,) bool: the poles that may move (the others
    stay at 0); `expressions` (136, K): landmark moves that may be read as expression;
    `extra` (A (M, P), b (M,)): more rows A x = b on the poles, already weighed."""
    if expressions is None:
        expressions = np.zeros((len(J), 0))
    k = expressions.shape[1]
    weight = np.repeat(LANDMARK_WEIGHTS, 2)
    seen = np.linalg.norm(J * weight[:, None], axis=0) > VISIBLE * np.sqrt(prior)
    if extra is not None:
        seen |= np.linalg.norm(extra[0], axis=0) > VISIBLE * np.sqrt(prior)
    if free is not None:
        seen &= free
    columns = J[:, seen]
    poles = columns.shape[1]
    nuisance = np.concatenate([similarity_columns(points), expressions], axis=1)
    top = np.concatenate([columns, nuisance], axis=1) * weight[:, None]
    # the poles held towards 0 by the prior, the expression by its own, the similarity free
    regular = np.zeros((poles + k, top.shape[1]))
    regular[:poles, :poles] = np.eye(poles) * np.sqrt(prior)
    regular[poles:, poles + 4 :] = np.eye(k) * np.sqrt(EXPRESSION_PRIOR)
    rows, targets = [top, regular], [residual * weight, np.zeros(len(regular))]
    if extra is not None:
        more = np.zeros((len(extra[1]), top.shape[1]))
        more[:, :poles] = extra[0][:, seen]
        rows.append(more)
        targets.append(extra[1])
    a = np.concatenate(rows)
    b = np.concatenate(targets)
    # a face is at least neutral: no expression takes a smile away
    lower = np.concatenate([np.zeros(poles), np.full(4, -np.inf), np.zeros(k)])
    upper = np.concatenate([np.ones(poles), np.full(4 + k, np.inf)])
    solution = box_least_squares(a, b, lower, upper)
    x = np.zeros(J.shape[1])
    x[seen] = solution[:poles]
    return x, solution[poles + 4 :]


def box_least_squares(
    a: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray, tol: float = 1e-10
) -> np.ndarray:
    """argmin |a x - b|^2 subject to lower <= x <= upper, for a of full column rank (here the
    priors make it so): projected Newton steps on the normal equations (Bertsekas 1982), each
    an exact solve on the variables off their bounds. The same answer as scipy's BVLS to
    1e-12, a tenth of its time on these few hundred columns (it re-factors `a` per step)."""
    gram, moment = a.T @ a, a.T @ b

    def cost(x: np.ndarray) -> float:
        return 0.5 * x @ gram @ x - moment @ x

    x = np.clip(_solve(gram, moment), lower, upper)
    for _ in range(200):
        gradient = gram @ x - moment
        if np.abs(x - np.clip(x - gradient, lower, upper)).max() < tol:
            break  # no variable can move: the optimum
        # held: on a bound with the gradient pushing outwards; the rest take a Newton step
        held = ((x <= lower) & (gradient > 0)) | ((x >= upper) & (gradient < 0))
        free = ~held
        step = np.zeros_like(x)
        step[free] = -_solve(gram[np.ix_(free, free)], gradient[free])
        t, before = 1.0, cost(x)
        while True:  # back along the projected arc until the cost falls enough (Armijo)
            moved = np.clip(x + t * step, lower, upper)
            if cost(moved) <= before + 1e-4 * gradient @ (moved - x) or t < 1e-12:
                break
            t *= 0.5
        x = moved
    return x


def _solve(gram: np.ndarray, moment: np.ndarray) -> np.ndarray:
    try:
        return cho_solve(cho_factor(gram), moment)
    except LinAlgError:  # singular: the least-norm answer
        return np.linalg.lstsq(gram, moment, rcond=None)[0]


def _one_pole_each(J, residual, points, prior, extra=None) -> np.ndarray:
    """The poles solved, then solved again with one pole per control: where both moved, the
    stronger one alone, where the rig's morph is linear."""
    x, _ = solve_poles(J, residual, points, prior, extra=extra)
    net = x[1::2] - x[0::2]
    free = np.stack([net < 0, net >= 0], axis=1).ravel()
    return solve_poles(J, residual, points, prior, free, extra=extra)[0]


def shown_expression(J, residual, points, prior, expressions: np.ndarray) -> np.ndarray:
    """The amount (K,) of each expression the landmarks show beyond the dead zone."""
    _, amounts = solve_poles(J, residual, points, prior, expressions=expressions)
    return np.maximum(amounts - EXPRESSION_DEAD_ZONE, 0.0)


def shape_from_landmarks(
    vectors: torch.Tensor,
    landmarks: torch.Tensor,
    spec,
    prior: float = PRIOR,
    expressions: np.ndarray | None = None,
    extra_rows: list | None = None,
) -> torch.Tensor:
    """`vectors` (B, D) with the face controls and body weight solved from `landmarks`
    (B, 68, 2) in [0, 1] of the aligned frame; the other controls as they were.
    `expressions` (136, K): the expression basis's columns, or None to read every landmark
    move as shape; `extra_rows`: per face, more rows on the poles (`solve_poles`'s `extra`)."""
    from facefit.rig.human.landmark_model import control_values, landmark_model

    model = landmark_model()
    names = [c.name for c in spec.continuous]
    solved = {pole.control for pole in model.poles}
    # what the problem reads: the controls the rig's morph reads, but the solved ones, which
    # it takes at 0.5 (the poles' directions and the Jacobian are taken at the average face)
    read = [n for n in names if n in MORPH_CONTROLS and n not in solved]
    out = vectors.clone()
    for i in range(len(vectors)):
        values = dict(zip(names, vectors[i, : len(names)].tolist(), strict=True))
        J, residual, shape = _landmark_problem(
            tuple(round(values[name], KEY_DECIMALS) for name in read),
            tuple(read),
            landmarks[i].detach().cpu().numpy().astype(np.float64).tobytes(),
            prior,
            None if expressions is None else (expressions.tobytes(), expressions.shape),
        )
        x = _one_pole_each(J, residual, shape, prior, extra_rows[i] if extra_rows else None)
        for name, value in control_values(model.poles, x).items():
            out[i, names.index(name)] = float(np.clip(value, 0.0, 1.0))
    return out


@lru_cache(maxsize=8)
def _landmark_problem(
    morph_values: tuple[float, ...],
    morph_names: tuple[str, ...],
    landmarks: bytes,
    prior: float,
    expressions: tuple[bytes, tuple[int, int]] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One face's problem: the landmarks' derivative J (136, P) at the average face of its
    macros, the residual (136,) of its (68, 2) `landmarks` in [0, 1] with the expression's
    part taken out, and the average face's (68, 2) points. Cached (read-only arrays): the
    fit's last step solves the same face's landmarks again, a third of the solve's time."""
    from facefit.rig.human.landmark_model import landmark_model

    model = landmark_model()
    values = dict(zip(morph_names, morph_values, strict=True))
    directions = model.pole_directions(values)
    average = values | {pole.control: 0.5 for pole in model.poles}
    points, J = model.jacobian(average, directions)
    residual = np.frombuffer(landmarks, np.float64) - points
    shape = points.reshape(-1, 2)
    if expressions is not None:  # the expression's landmark moves are not the face's
        basis = np.frombuffer(expressions[0], np.float64).reshape(expressions[1])
        residual = residual - basis @ shown_expression(J, residual, shape, prior, basis)
    for array in (J, residual, shape):
        array.flags.writeable = False
    return J, residual, shape


def shape_controls(spec) -> list[int]:
    """The indices of the controls `shape_from_landmarks` sets."""
    from facefit.rig.human.landmark_model import landmark_model

    solved = {pole.control for pole in landmark_model().poles}
    return [i for i, c in enumerate(spec.continuous) if c.name in solved]
