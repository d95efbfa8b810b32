"""The expression basis: learnt from neutral/smiling photo pairs, and taken out of the shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from facefit.fit.shape import EXPRESSION_DEAD_ZONE, shape_controls, shape_from_landmarks
from facefit.nets.expressions import load_expression_basis
from facefit.rig.human.landmark_model import landmark_model
from facefit.train.expressions import smile_differences, train_expressions

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "faces"
SHIPPED = ROOT / "weights" / "human" / "expressions-smile.pt"
PEOPLE = ("001", "024", "025")


@pytest.fixture()
def pairs(tmp_path) -> Path:
    """A faces folder with the fixture people's neutral and smiling photos."""
    rows = ["set,id,expression,image,landmarks189,age,gender,ethnicity"]
    for person in PEOPLE:
        for expression in ("neutral", "smiling"):
            image = f"london_{person}_{expression}.jpg"
            shutil.copy(FIXTURES / image, tmp_path / image)
            template = ""
            if expression == "neutral":  # the folds are dealt over people with a template
                template = f"london_{person}_neutral.pts189"
                shutil.copy(FIXTURES / template, tmp_path / template)
            rows.append(f"london,{person},{expression},{image},{template},,,")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_training_writes_a_listed_basis_in_which_each_smile_is_a_positive_amount(pairs, tmp_path):
    out = tmp_path / "weights"
    validation = train_expressions(out, components=1, faces=pairs)
    assert validation["training"]["pairs"] + validation["heldout"]["pairs"] == len(PEOPLE)
    entry = json.loads((out / "manifest.json").read_text())["weights"]["expressions-smile.pt"]
    assert entry["validation"] == validation and entry["rig"] == "any"
    smile = load_expression_basis(out / "expressions-smile.pt").directions[0].numpy()
    differences, _ = smile_differences(pairs)
    assert (differences @ smile.ravel() > 0).all()  # every fixture smile, held-out one too
    # a smile widens the mouth: its left corner (48) moves left, its right (54) right
    assert smile[48, 0] < 0 < smile[54, 0]


def _solved(spec, start: np.ndarray, landmarks: np.ndarray, expressions=None) -> np.ndarray:
    vectors = shape_from_landmarks(
        torch.as_tensor(start)[None], torch.as_tensor(landmarks)[None], spec,
        expressions=expressions,
    )  # fmt: skip
    return vectors[0].numpy()


def test_a_smile_on_a_faces_landmarks_is_read_as_expression_not_shape(human_rig_spec):
    """A rig face's landmarks with the shipped basis's smile added solve to nearly the shape
    of the face without it; read as shape (no basis) the smile moves the controls far more.
    A trace of a smile, inside the dead zone, is left to the shape."""
    spec = human_rig_spec
    basis = load_expression_basis(SHIPPED).columns()
    shape = shape_controls(spec)
    rng = np.random.default_rng(5)
    kept_by_basis, moved_without = [], []
    for _ in range(3):
        truth = spec.random_vector(rng)
        start = spec.mean_vector().copy()
        kept = [i for i in range(len(start)) if i not in shape]
        start[kept] = truth[kept]
        values = {c.name: float(truth[i]) for i, c in enumerate(spec.continuous)}
        face = landmark_model().landmarks(values)
        neutral = _solved(spec, start, face, basis)[shape]
        smiling = face + 1.5 * basis[:, 0].reshape(68, 2)
        kept_by_basis.append(np.abs(_solved(spec, start, smiling, basis)[shape] - neutral).mean())
        moved_without.append(np.abs(_solved(spec, start, smiling)[shape] - neutral).mean())
    assert np.mean(kept_by_basis) < 0.5 * np.mean(moved_without), (kept_by_basis, moved_without)
    average = spec.mean_vector()
    values = {c.name: float(average[i]) for i, c in enumerate(spec.continuous)}
    trace = landmark_model().landmarks(values) + 0.5 * EXPRESSION_DEAD_ZONE * basis[:, 0].reshape(
        68, 2
    )
    assert np.array_equal(_solved(spec, average, trace, basis), _solved(spec, average, trace))
