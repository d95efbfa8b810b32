"""Rig 3's face shape solved from 68 landmarks (`facefit.fit.shape`), on real rig renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facefit.fit.shape import shape_controls, shape_from_landmarks
from facefit.rig.human.landmark_model import landmark_model

SIZE = 256


@pytest.fixture(scope="module")
def spec(human_rig_spec):
    return human_rig_spec


@pytest.fixture(scope="module")
def renderer(human_renderer):
    return human_renderer(SIZE)


def values_of(spec, vec) -> dict[str, float]:
    return {c.name: float(vec[i]) for i, c in enumerate(spec.continuous)}


def shape_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance of landmarks `a` to `b` (68, 2) after the best similarity, in units of
    `b`'s outer-eye-corner distance: what is left is proportion."""
    ca, cb = a - a.mean(0), b - b.mean(0)
    za, zb = ca[:, 0] + 1j * ca[:, 1], cb[:, 0] + 1j * cb[:, 1]
    fitted = za * (np.conj(za) @ zb) / (np.conj(za) @ za)
    iod = np.linalg.norm(b[36] - b[45])
    return float(np.abs(fitted - zb)[:60].mean() / iod)


def test_the_model_gives_the_renderers_landmarks(spec, renderer):
    rng = np.random.default_rng(3)
    for vec in (spec.mean_vector(), spec.random_vector(rng)):
        drawn = renderer.render(vec).landmarks68 / SIZE
        assert np.abs(landmark_model().landmarks(values_of(spec, vec)) - drawn).max() < 1e-5


def test_a_rig_faces_landmarks_are_solved_back_to_its_proportions(spec, renderer):
    """From the average face with the right macros, the solve finds a shape whose landmarks
    are much closer to a random face's than the average face's; it sets only the shape."""
    rng = np.random.default_rng(4)
    shape = shape_controls(spec)
    solved_errors, average_errors = [], []
    for _ in range(4):
        truth = spec.random_vector(rng)
        target = renderer.render(truth).landmarks68 / SIZE
        start = spec.mean_vector().copy()
        kept = [i for i in range(len(start)) if i not in shape]  # macros, colours, options
        start[kept] = truth[kept]
        solved = shape_from_landmarks(
            torch.as_tensor(start)[None], torch.as_tensor(target)[None], spec
        )[0].numpy()
        assert np.array_equal(solved[kept], start[kept])
        assert solved[shape].min() >= 0.0 and solved[shape].max() <= 1.0
        model = landmark_model()
        solved_errors.append(shape_error(model.landmarks(values_of(spec, solved)), target))
        average_errors.append(shape_error(model.landmarks(values_of(spec, start)), target))
    assert np.mean(solved_errors) < 0.6 * np.mean(average_errors)


@pytest.mark.parametrize("seed", range(5))
def test_the_bounded_solve_agrees_with_scipys_bvls(seed):
    from scipy.optimize import lsq_linear

    from facefit.fit.shape import box_least_squares

    rng = np.random.default_rng(seed)
    a = rng.normal(size=(120, 40))
    b = rng.normal(size=120) * 3.0  # far enough out that many bounds hold
    lower = np.concatenate([np.zeros(36), np.full(4, -np.inf)])
    upper = np.concatenate([np.ones(36), np.full(4, np.inf)])
    ours = box_least_squares(a, b, lower, upper)
    theirs = lsq_linear(a, b, bounds=(lower, upper), method="bvls").x
    assert np.abs(ours - theirs).max() < 1e-9
    assert ((ours == 0.0) | (ours == 1.0)).sum() >= 5  # the bounds did bind
