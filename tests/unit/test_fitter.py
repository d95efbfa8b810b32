"""The composed fit on a real photo with tiny (untrained) networks: shapes, files, stopping.

Untrained networks say nothing about quality (that is `facefit eval`); these tests check that
photo -> parameters runs through alignment, the stages and the outputs, and that a config is
checked against the rig. Each stage has its own module: test_fit_calibration, test_fit_start,
test_fit_search, test_fit_steps.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from facefit.cli import main
from facefit.errors import IntakeError, ModelError, SpecError
from facefit.fit.config import FitConfig
from facefit.fit.fitter import load_fitter
from facefit.rig.spec import load_spec
from facefit.settings import CoreSettings
from tests.conftest import assert_runner_ups
from tests.tiny_weights import write_tiny_weights

PHOTO = Path(__file__).parent.parent / "fixtures" / "faces" / "london_001_neutral.jpg"


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def fitter(weights_dir):
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights_dir)
    return load_fitter(settings, FitConfig(max_iters=3, threshold=1.0))


def test_fit_photo_returns_valid_game_parameters(fitter):
    steps = []
    result = fitter.fit_photo(PHOTO.read_bytes(), on_step=lambda *s: steps.append(s))
    spec = load_spec()
    vec = spec.encode(result.params)  # raises if a name or value is out of the spec
    assert vec.shape == (spec.vector_size,)
    assert result.fit["iterations"] == 3 and not result.fit["stopped_early"]
    assert [s[0] for s in steps] == [0, 1, 2, 3]
    assert 0.0 <= result.fit["similarity"] <= 1.0
    assert np.isfinite(result.fit["real_render_loss"])
    assert result.real_render.shape == (512, 512, 3)
    assert_runner_ups(result.fit["runner_ups"], result.params)
    assert set(result.models) == {"imitator-lite.pt", "extractor-lite.pt"}
    assert result.preview_png().startswith(b"\x89PNG")


def test_threshold_stops_the_search_early(fitter):
    result = fitter.fit_photo(PHOTO.read_bytes(), threshold=0.0, max_iters=10)
    assert result.fit["iterations"] == 0 and result.fit["stopped_early"]


def test_fast_mode_needs_the_predictor(fitter):
    with pytest.raises(ModelError, match="predictor"):
        fitter.fit_photo(PHOTO.read_bytes(), mode="fast")


def test_batch_keeps_failed_photos_in_place(fitter):
    results = fitter.fit_photos([b"", PHOTO.read_bytes()], max_iters=1)
    assert isinstance(results[0], IntakeError) and results[0].code == "EMPTY_FILE"
    assert results[1].fit["iterations"] == 1


def test_missing_weights_is_a_clear_error(tmp_path):
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tmp_path)
    with pytest.raises(ModelError) as err:
        load_fitter(settings)
    assert err.value.code == "MODEL_MISSING"


def test_cli_writes_params_preview_and_loss_curve(weights_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEFIT_WEIGHTS_DIR", str(weights_dir))
    status = main(
        ["fit", str(PHOTO), "--out", str(tmp_path), "--max-iters", "1", "--device", "cpu"]
    )
    assert status == 0
    doc = json.loads((tmp_path / "params.json").read_text())
    assert set(doc) == {"rig", "params", "fit", "models"}
    assert set(doc["fit"]["seconds"]) == {"align", "fit", "total"}
    assert (tmp_path / "preview.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_margin_groups_must_exist_in_the_rig(weights_dir):
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights_dir)
    with pytest.raises(SpecError, match="no discrete group"):
        load_fitter(settings, FitConfig(default_margin_groups=("glasses",)))


def test_margin_groups_of_a_call_are_checked_too(fitter):
    """A misspelt group given for one fit (`facefit eval --default-margin-groups`) must not
    silently apply the margin nowhere."""
    with pytest.raises(SpecError, match="no discrete group"):
        fitter.fit_photo(PHOTO.read_bytes(), default_margin_groups=("beard",))


def test_silhouette_groups_must_name_a_group_and_a_label_of_the_rig(fitter):
    with pytest.raises(SpecError, match="no discrete group"):
        fitter.fit_photo(PHOTO.read_bytes(), silhouette_groups=(("glasses", "hair"),))
    with pytest.raises(SpecError, match="no label class"):
        fitter.fit_photo(PHOTO.read_bytes(), silhouette_groups=(("hairstyle", "beard"),))


def test_color_matches_must_name_a_region_and_controls_of_the_rig(fitter):
    with pytest.raises(SpecError, match="no colour region"):
        fitter.fit_photo(PHOTO.read_bytes(), color_matches=(("beard", ("hair_color",)),))
    with pytest.raises(SpecError, match="no continuous control"):
        fitter.fit_photo(PHOTO.read_bytes(), color_matches=(("hair", ("hair_colour",)),))


def test_beard_group_and_density_must_exist_in_the_rig(fitter):
    with pytest.raises(SpecError, match="no discrete group"):
        fitter.fit_photo(PHOTO.read_bytes(), beard_group="beard")
    with pytest.raises(SpecError, match="no continuous control"):
        fitter.fit_photo(PHOTO.read_bytes(), beard_density="beard_length")


def test_an_override_of_none_switches_a_step_off_and_given_drops_unset_options(fitter):
    from facefit.fit.config import given

    assert fitter.config.beard_group is not None
    assert fitter.config_for(beard_group=None).beard_group is None
    assert fitter.config_for().beard_group == fitter.config.beard_group
    # an unset CLI flag or job field (None) leaves the loaded value
    assert given(mode="fast", threshold=None, beard_group=None) == {"mode": "fast"}
    assert fitter.config_for(**given(max_iters=None)).max_iters == fitter.config.max_iters


def test_defaults_go_without_the_steps_another_rig_has_no_parts_for():
    """A studio's own rig may have no hairstyle, hair colour or beard: the default fit then
    goes without those steps instead of refusing to load; the reference rig keeps them all."""
    from facefit.fit.config import for_rig

    reference = load_spec()
    assert for_rig(FitConfig(), reference) == FitConfig()
    other = SimpleNamespace(
        rig_id="a-studio/1",
        discrete=[SimpleNamespace(name="eyebrow_style", options=("arched", "straight"))],
        continuous=[SimpleNamespace(name="hair_color"), SimpleNamespace(name="jaw_width")],
        labels=reference.labels,
    )
    adapted = for_rig(replace(FitConfig(), default_margin_groups=("facial_hair",)), other)
    assert adapted.default_margin_groups == ()
    assert adapted.silhouette_groups == ()
    assert adapted.color_matches == (("hair", ("hair_color",)),)
    assert adapted.beard_group is None and adapted.beard_density is None
