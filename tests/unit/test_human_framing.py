"""Rig 3 frames every face as a photo is aligned (`facefit.rig.human.framing`)."""

from __future__ import annotations

import numpy as np
import pytest

from facefit.align.transform import LANDMARK_WEIGHTS, fit_similarity, transform_scale
from facefit.rig import camera
from facefit.rig.human import framing
from facefit.rig.human.controls import LABELS
from facefit.rig.human.spec import human_spec
from facefit.rig.reference import reference_landmarks68

SIZE = 128


@pytest.fixture(scope="module")
def spec():
    return human_spec()


@pytest.fixture(scope="module")
def renderer(spec):
    from facefit.rig.human.render import HumanRenderer

    return HumanRenderer(SIZE, spec)


def test_the_clip_matrix_draws_what_the_similarity_would_move_the_points_to():
    rng = np.random.default_rng(0)
    points = rng.uniform([-8, -10, -5], [8, 10, 8], size=(50, 3))
    transform = np.array([[1.08, -0.03, -0.02], [0.03, 1.08, 0.05]])
    clip = framing.clip_matrix(transform) @ camera.view_projection()
    homogeneous = np.concatenate([points, np.ones((50, 1))], axis=1) @ clip.T
    ndc = homogeneous[:, :2] / homogeneous[:, 3:]
    drawn = np.stack([(ndc[:, 0] + 1) / 2, (1 - ndc[:, 1]) / 2], axis=1)
    expected = framing.framed(camera.project(points, 1), transform)
    np.testing.assert_allclose(drawn, expected, atol=1e-5)


def test_faces_of_every_size_are_framed_on_the_reference_face(spec, renderer):
    """Small and large heads (the macros change the size by about a tenth) land on the
    reference face as their aligned photos would: no similarity is left to remove, and the
    picture moves with the landmarks (each eye's pixels keep their place beside its points;
    with the picture left unframed they wander by one to two pixels)."""
    reference = reference_landmarks68(SIZE)
    offsets = []
    for sex, age, weight in ((0.0, 0.1, 0.0), (1.0, 1.0, 1.0), (0.5, 0.5, 0.5)):
        vec = spec.mean_vector().copy()
        for name, value in (("sex", sex), ("age", age), ("body_weight", weight)):
            vec[spec.continuous_index[name]] = value
        out = renderer.render(vec)
        left = fit_similarity(out.landmarks68, reference, LANDMARK_WEIGHTS)
        assert abs(transform_scale(left) - 1.0) < 1e-3
        assert np.abs(left[:, 2]).max() < 0.05  # pixels
        for first, label in ((36, LABELS.index("left_eye")), (42, LABELS.index("right_eye"))):
            ys, xs = np.nonzero(out.labels == label)
            centre = np.array([xs.mean(), ys.mean()]) + 0.5
            offsets.append(centre - out.landmarks68[first : first + 6].mean(axis=0))
    spread = np.ptp(np.array(offsets).reshape(3, 2, 2), axis=0)  # per eye, x and y
    assert spread.max() < 0.4
