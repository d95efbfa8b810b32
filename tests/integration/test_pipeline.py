"""The worker's adapter to the fitting engine, on real alignment and the engine's own FitResult."""

from __future__ import annotations

import pytest

from facefit.errors import IntakeError
from facefit.settings import CoreSettings
from tests.conftest import assert_runner_ups, face_photo, faceless_photo
from tests.tiny_weights import tiny_weights_dir
from worker import pipeline


@pytest.fixture
def loaded(monkeypatch):
    """The real fitting engine on tiny networks, as a worker process holds it."""
    monkeypatch.setattr(pipeline, "_fitter", pipeline._UNSET)
    monkeypatch.setenv("FACEFIT_WEIGHTS_DIR", str(tiny_weights_dir()))
    monkeypatch.setenv("FACEFIT_DEVICE", "cpu")


def test_align_runs_dlib_and_refuses_a_faceless_photo():
    (_pixels, face), png = pipeline.align(face_photo())
    assert face.image.shape == (512, 512, 3) and png.startswith(b"\x89PNG")
    with pytest.raises(IntakeError) as refused:
        pipeline.align(faceless_photo())
    assert refused.value.code == "NO_FACE"


def _fit_face(**options):
    """Align the test face and fit it without early stop; the outcome and the steps seen."""
    aligned, _ = pipeline.align(face_photo())
    steps = []
    outcome = pipeline.fit(
        aligned,
        CoreSettings.from_env(),
        threshold=1.0,
        on_step=lambda *step: steps.append(step),
        **options,
    )
    return outcome, steps


def test_fit_maps_the_engines_result_to_what_the_worker_stores(loaded):
    outcome, steps = _fit_face(mode="patent", max_iters=3)
    assert [step[0] for step in steps] == [0, 1, 2, 3]  # the engine's on_step reaches the worker
    assert outcome.params["rig"] == outcome.rig
    assert all(0.0 <= v <= 1.0 for v in outcome.params["continuous"].values())
    assert outcome.fit["mode"] == "patent" and outcome.fit["iterations"] == 3
    assert outcome.preview_png.startswith(b"\x89PNG")
    assert len(outcome.loss_curve) == 4 and outcome.max_iterations == 3
    assert set(outcome.models) == {"imitator-lite.pt", "extractor-lite.pt"}


def test_the_worker_fits_in_a_service_mode_and_stores_the_budget_that_ran(loaded):
    """`patent` is the baseline of `facefit eval`, not a mode a worker is started in."""
    from worker.settings import WorkerSettings

    assert WorkerSettings.from_env({}).fit_mode == "full"
    assert WorkerSettings.from_env({"FACEFIT_FIT_MODE": "fast"}).fit_mode == "fast"
    with pytest.raises(ValueError, match="FACEFIT_FIT_MODE"):
        WorkerSettings.from_env({"FACEFIT_FIT_MODE": "patent"})
    outcome, _ = _fit_face(mode="full", max_iters=2)
    assert outcome.fit["iterations"] == 2 and outcome.max_iterations == 2
    assert_runner_ups(outcome.fit["runner_ups"], outcome.params)
    # the calibration it ran with is named (tiny networks have none: decided from manifests)
    assert outcome.fit["calibration"] == "uncalibrated"


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
