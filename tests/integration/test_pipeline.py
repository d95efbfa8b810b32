"""The worker's adapter to the fitting engine, on real alignment and the engine's own FitResult."""

from __future__ import annotations

import numpy as np
import pytest

from facefit.errors import IntakeError
from facefit.settings import CoreSettings
from tests.conftest import face_photo, faceless_photo
from worker import pipeline


class RecordingFitter:
    """Stands in for a loaded `facefit.fit` Fitter: returns the engine's FitResult type."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def fit_photo(self, photo, on_step=None, **overrides):
        from facefit.fit.result import FitResult

        self.calls.append(overrides)
        for step in range(1, 4):
            on_step(step, 1.0 / step, 0.3 * step)
        image = np.zeros((32, 32, 3), dtype=np.uint8)
        return FitResult(
            rig="facefit-reference/1.0",
            params={"continuous": {"head_width": 0.4}, "discrete": {"hairstyle": "bob"}},
            fit={"mode": overrides["mode"], "iterations": 3, "loss": 0.33, "similarity": 0.9},
            models={"imitator.pt": "ab" * 32},
            photo=photo,
            aligned=image,
            imitator_image=image,
            real_render=image,
            real_landmarks68=np.zeros((68, 2)),
            photo_landmarks68=np.zeros((68, 2)),
            transform=np.eye(2, 3),
            loss_curve=[(1, 1.0, 0.3), (2, 0.5, 0.6), (3, 0.33, 0.9)],
        )


@pytest.fixture
def loaded(monkeypatch):
    fitter = RecordingFitter()
    monkeypatch.setattr(pipeline, "_fitter", fitter)
    return fitter


def test_align_runs_dlib_and_refuses_a_faceless_photo():
    (_pixels, face), png = pipeline.align(face_photo())
    assert face.image.shape == (512, 512, 3) and png.startswith(b"\x89PNG")
    with pytest.raises(IntakeError) as refused:
        pipeline.align(faceless_photo())
    assert refused.value.code == "NO_FACE"


def test_fit_maps_the_engines_result_to_what_the_worker_stores(loaded):
    aligned, _ = pipeline.align(face_photo())
    steps = []
    outcome = pipeline.fit(
        aligned,
        CoreSettings.from_env(),
        mode="fast",
        threshold=0.8,
        max_iters=7,
        on_step=lambda *step: steps.append(step),
    )
    assert loaded.calls == [{"mode": "fast", "threshold": 0.8, "max_iters": 7}]
    assert [step[0] for step in steps] == [1, 2, 3]  # the engine's on_step reaches the worker
    assert outcome.params["rig"] == outcome.rig == "facefit-reference/1.0"
    assert outcome.params["continuous"] == {"head_width": 0.4}
    assert outcome.preview_png.startswith(b"\x89PNG")
    assert outcome.loss_curve[-1] == [3, 0.33, 0.9] and outcome.max_iterations == 7


def test_without_weights_the_fit_is_unavailable(monkeypatch, tmp_path):
    (tmp_path / "manifest.json").write_text('{"weights": {}}')
    monkeypatch.setattr(pipeline, "_fitter", pipeline._UNSET)
    settings = CoreSettings.from_env({"FACEFIT_WEIGHTS_DIR": str(tmp_path)})
    assert pipeline.fitting_status(settings) == (
        False,
        "fitting engine not installed: no trained weights in weights/manifest.json",
    )
    aligned, _ = pipeline.align(face_photo())
    with pytest.raises(pipeline.FitUnavailable) as unavailable:
        pipeline.fit(aligned, settings, mode="full", threshold=None, max_iters=None, on_step=print)
    assert unavailable.value.code == "FIT_UNAVAILABLE"
