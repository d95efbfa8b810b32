"""The recogniser's term in rig 3's shape solve: its measured response to the shape poles,
the extra rows of the solve, and the step that brings a character's descriptor closer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facefit.errors import ModelError
from facefit.fit.recognition import recognised_shapes, rendered_descriptors
from facefit.fit.shape import shape_controls, shape_from_landmarks, solve_poles
from facefit.likeness.descriptors import placed_descriptor
from facefit.nets.recognition import load_recognition_response
from facefit.rig.human.landmark_model import control_values, landmark_model, pole_amounts
from facefit.settings import RIG_WEIGHTS
from facefit.train.recognition import explained_by_others, face_responses, train_recognition

SHIPPED = RIG_WEIGHTS["human"] / "recognition-response.pt"


@pytest.fixture(autouse=True)
def rig_3(monkeypatch):
    monkeypatch.setenv("FACEFIT_RIG", "human")


def test_extra_rows_move_a_pole_the_landmarks_cannot_see():
    rng = np.random.default_rng(0)
    points = rng.uniform(0.3, 0.7, (68, 2))
    J = np.zeros((136, 4))
    J[:, :3] = rng.normal(0.0, 0.02, (136, 3))  # pole 3 moves no landmark
    residual = J[:, :3] @ np.array([0.5, 0.0, 0.2])
    alone, _ = solve_poles(J, residual, points, prior=1e-4)
    assert alone[3] == 0.0 and alone[0] == pytest.approx(0.5, abs=0.05)
    rows = np.zeros((1, 4))
    rows[0, 3] = 1.0
    told, _ = solve_poles(J, residual, points, prior=1e-4, extra=(rows, np.array([0.7])))
    assert told[3] == pytest.approx(0.7, abs=0.02)  # the extra row alone says where it goes
    assert told[0] == pytest.approx(alone[0], abs=1e-3)  # and the landmarks' poles stay


def test_pole_amounts_give_back_the_control_values():
    poles = landmark_model().poles
    rng = np.random.default_rng(1)
    values = {pole.control: float(rng.uniform(0.0, 1.0)) for pole in poles}
    amounts = pole_amounts(poles, values)
    assert ((amounts >= 0) & (amounts <= 1)).all()
    assert (amounts[0::2] * amounts[1::2] == 0).all()  # one pole of each control
    back = control_values(poles, amounts)
    assert all(back[name] == pytest.approx(value) for name, value in values.items())


def test_the_response_is_measured_on_real_renders_and_repeats():
    """Pushing a head control moves dlib's reading of the render, its low pole opposite to its
    high one, by the same amount each time it is measured; the faces' shared part is what the
    mean keeps."""
    responses = face_responses(faces=1, poles=4)  # body weight and head roundness, both poles
    assert responses.shape == (1, 128, 4) and np.isfinite(responses).all()
    assert (np.linalg.norm(responses[0, :, 2:], axis=0) > 0.05).all()
    np.testing.assert_allclose(responses[0, :, 0::2], -responses[0, :, 1::2])
    np.testing.assert_allclose(face_responses(faces=1, poles=4), responses)
    same = np.stack([responses[0]] * 3)
    assert explained_by_others(same) == pytest.approx(1.0)
    noise = np.random.default_rng(2).normal(size=(3, 128, 4))
    assert explained_by_others(noise) < 0.5


def test_the_response_is_listed_and_refused_for_another_rig(tmp_path, monkeypatch):
    import facefit.train.recognition as training

    monkeypatch.setattr(training, "face_responses", lambda faces, seed: np.ones((faces, 128, 6)))
    validation = train_recognition(tmp_path, faces=2)
    assert validation == {"faces": 2, "explained_by_other_faces": 1.0}
    entry = json.loads((tmp_path / "manifest.json").read_text())["weights"]
    assert entry["recognition-response.pt"]["rig"] == "facefit-human/3.3"
    loaded = load_recognition_response(tmp_path / "recognition-response.pt", "facefit-human/3.3")
    assert loaded.matrix().shape == (128, 6)
    with pytest.raises(ModelError):
        load_recognition_response(tmp_path / "recognition-response.pt", "facefit-reference/2.2")


class _Rig:
    """The real renderer behind the one call the step makes."""

    def __init__(self) -> None:
        from facefit.rig.choice import make_renderer

        self.renderer = make_renderer(512)

    def render(self, vector: torch.Tensor):
        return self.renderer.render(vector.numpy())


@pytest.mark.skipif(not SHIPPED.exists(), reason=f"{SHIPPED} is not committed")
def test_the_recognisers_term_brings_a_rig_faces_character_closer_to_it():
    """A rig face drawn as the photo: the character solved from its landmarks alone, then
    again with the recogniser's term, which brings dlib's reading of it closer."""
    from facefit.rig.spec import load_spec

    spec, rig = load_spec(), _Rig()
    response = load_recognition_response(SHIPPED, spec.rig_id).matrix()
    rng = np.random.default_rng(5)
    shape = shape_controls(spec)
    photo = spec.mean_vector()
    photo[shape] = rng.uniform(0.15, 0.85, len(shape))
    drawn = rig.renderer.render(photo)
    seen = placed_descriptor(drawn.image, drawn.landmarks68)
    landmarks = torch.as_tensor(drawn.landmarks68 / 512.0, dtype=torch.float32)[None]
    start = torch.as_tensor(spec.mean_vector())[None]
    by_landmarks = shape_from_landmarks(start, landmarks, spec)
    now = rendered_descriptors(by_landmarks, rig)
    recognised = recognised_shapes(by_landmarks, seen[None], now, landmarks, spec, response, 0.01)

    def distance(vectors: torch.Tensor) -> float:
        render = rig.render(vectors[0])
        return float(np.linalg.norm(placed_descriptor(render.image, render.landmarks68) - seen))

    assert not torch.equal(recognised, by_landmarks)
    unchanged = [i for i in range(spec.continuous_size) if i not in shape]
    assert torch.equal(recognised[0, unchanged], by_landmarks[0, unchanged])
    assert distance(recognised) < distance(by_landmarks) - 0.02
