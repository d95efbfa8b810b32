"""The whole fit on a real photo with tiny (untrained) networks: shapes, files, stopping.

Untrained networks say nothing about quality (that is `facefit eval`); these tests check that
photo -> parameters runs through alignment, the search, the real rig and the outputs.
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
from facefit.fit.fitter import load_fitter, with_option
from facefit.rig.spec import load_spec
from facefit.settings import CoreSettings
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
    assert set(result.models) == {"imitator-lite.pt", "extractor-lite.pt"}
    assert result.preview_png().startswith(b"\x89PNG")


def test_threshold_stops_the_search_early(fitter):
    result = fitter.fit_photo(PHOTO.read_bytes(), threshold=0.0, max_iters=10)
    assert result.fit["iterations"] == 0 and result.fit["stopped_early"]


def test_anchoring_makes_the_search_loss_the_game_render_loss(fitter):
    # The tiny imitator is untrained: alone, the loss it gives is far from the real render's.
    photo = PHOTO.read_bytes()
    plain = fitter.fit_photo(photo, anchor_every=0).fit
    anchored = fitter.fit_photo(photo, anchor_every=1).fit
    gap = [abs(f["loss"] - f["real_render_loss"]) for f in (plain, anchored)]
    assert gap[1] < 0.25 * gap[0], (plain, anchored)
    assert (plain["anchor_every"], anchored["anchor_every"]) == (0, 1)  # said in params.json


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


def test_calibration_applies_only_to_the_networks_it_was_measured_on(tmp_path):
    from facefit.fit.calibration import write_calibration

    folder = write_tiny_weights(tmp_path / "weights")
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=folder)
    default = FitConfig()
    installed = load_fitter(settings).models.models
    write_calibration(folder, {"loss_scale": 3.5, "threshold": 0.75}, installed)
    calibrated = load_fitter(settings).config
    assert (calibrated.loss_scale, calibrated.threshold) == (3.5, 0.75)
    assert calibrated.max_iters == default.max_iters  # a file without the iteration budget
    write_calibration(folder, {"loss_scale": 3.5, "threshold": 0.75, "max_iters": 7}, installed)
    assert load_fitter(settings).config.max_iters == 7
    # An explicit config is the caller's: the file does not touch it.
    assert load_fitter(settings, FitConfig(threshold=0.9)).config.threshold == 0.9
    # Retrained networks: the stale calibration is ignored, the defaults hold.
    write_calibration(folder, {"loss_scale": 3.5, "threshold": 0.75}, {**installed, "x": "y"})
    stale = load_fitter(settings).config
    assert (stale.loss_scale, stale.threshold) == (default.loss_scale, default.threshold)
    assert stale.max_iters == default.max_iters


def test_real_rig_check_keeps_the_default_option_when_the_game_render_prefers_it(fitter):
    import torch

    from facefit.align import align_photo, load_photo
    from facefit.fit.fitter import image_to_tensor
    from facefit.fit.optimize import photo_targets

    face = align_photo(load_photo(PHOTO.read_bytes()))
    lm = torch.as_tensor(face.aligned_landmarks68 / fitter.aligned_size, dtype=torch.float32)
    m = fitter.models
    targets = photo_targets(
        m.extractor, image_to_tensor(face.image, fitter.device), lm[None], fitter.labels,
        m.extractor_size,
    )  # fmt: skip
    spec = fitter.spec
    chosen = torch.as_tensor(spec.encode({"discrete": {"hairstyle": spec.discrete[0].options[3]}}))
    default = torch.as_tensor(spec.mean_vector())
    # confident soft choices: no runner-up is tried, only option 0 of the hairstyle group
    confident = SimpleNamespace(
        discrete_probabilities=[
            chosen[None, start:stop] for _, start, stop in fitter.layout.discrete_slices
        ]
    )
    cfg = replace(fitter.config, mode="full")
    losses = [
        fitter._real_loss(v[None], [fitter._renderer.render(v.numpy())], targets, cfg)[0]
        for v in (chosen, default)
    ]
    rendered = []
    render = fitter._renderer.render

    def recording_render(vec):
        rendered.append(vec.copy())
        return render(vec)

    fitter._renderer.render = recording_render
    try:
        vectors, _, real = fitter._check_with_real_rig(
            chosen[None].clone(), confident, targets, cfg
        )
        tried_full = [v.copy() for v in rendered]
        rendered.clear()
        fast, _, _ = fitter._check_with_real_rig(
            chosen[None].clone(), confident, targets, replace(cfg, mode="fast")
        )
    finally:
        fitter._renderer.render = render
    # full: the choice and the default were both rendered, and the better one kept
    assert [np.array_equal(v, chosen.numpy()) for v in tried_full] == [True, False]
    assert np.array_equal(tried_full[1], default.numpy())
    expected = default if losses[1] < losses[0] else chosen
    assert torch.equal(vectors[0], expected)
    assert real[0] == pytest.approx(min(losses))
    # fast: the predictor's answer as is, one render
    assert len(rendered) == 1 and torch.equal(fast[0], chosen)
    # with a margin the default wins unless the choice is clearly better; its true loss is kept
    margin = replace(cfg, default_margin=0.99)
    vectors, _, real = fitter._check_with_real_rig(chosen[None].clone(), confident, targets, margin)
    assert torch.equal(vectors[0], default)
    assert real[0] == pytest.approx(losses[1])
    # ... but only in the groups it is set for: elsewhere the confident choice stands as is
    beards_only = replace(margin, default_margin_groups=("facial_hair",))
    vectors, _, real = fitter._check_with_real_rig(
        chosen[None].clone(), confident, targets, beards_only
    )
    assert torch.equal(vectors[0], chosen)
    assert real[0] == pytest.approx(losses[0])


def test_margin_groups_must_exist_in_the_rig(weights_dir):
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights_dir)
    with pytest.raises(SpecError, match="no discrete group"):
        load_fitter(settings, FitConfig(default_margin_groups=("glasses",)))


def test_margin_groups_of_a_call_are_checked_too(fitter):
    """A misspelt group given for one fit (`facefit eval --default-margin-groups`) must not
    silently apply the margin nowhere."""
    with pytest.raises(SpecError, match="no discrete group"):
        fitter.fit_photo(PHOTO.read_bytes(), default_margin_groups=("beard",))


def test_silhouette_choice_picks_the_hairstyle_whose_outline_the_photo_shows(fitter):
    """A photo parsed exactly as the rig draws one hairstyle gets that hairstyle back."""
    import torch
    import torch.nn.functional as F

    spec, labels = fitter.spec, fitter.labels
    size = fitter.models.extractor_size
    start = dict((g, s) for g, s, _ in fitter.layout.discrete_slices)["hairstyle"]
    cfg = replace(
        fitter.config,
        mode="full",
        silhouette_groups=(("hairstyle", "hair"),),
        silhouette_margin=0.0,
    )
    for style in ("buzz_cut", "long_straight", "top_bun", "bald"):
        drawn = fitter._renderer.render(spec.encode({"discrete": {"hairstyle": style}}))
        one_hot = F.one_hot(torch.as_tensor(drawn.labels, dtype=torch.long), len(labels))
        probs = F.interpolate(
            one_hot.permute(2, 0, 1)[None].float(), size=(size, size), mode="area"
        )
        start_face = torch.as_tensor(spec.mean_vector())[None]  # option 0: short crop
        chosen = fitter._silhouette_choice(start_face, SimpleNamespace(probs=probs), cfg)
        assert spec.decode(chosen[0].numpy())["discrete"]["hairstyle"] == style
        assert torch.equal(chosen[0, :start], start_face[0, :start])  # the rest is kept
        if style == "top_bun":  # a bun on the short crop: a small difference of outline
            # the searched option stays unless another outline is better by the margin
            kept = fitter._silhouette_choice(
                start_face, SimpleNamespace(probs=probs), replace(cfg, silhouette_margin=0.9)
            )
            assert torch.equal(kept, start_face)


def test_outline_disagreement_scores_an_empty_outline_too():
    import torch

    from facefit.fit.fitter import outline_disagreement

    empty, small, large = torch.zeros(8, 8), torch.zeros(8, 8), torch.zeros(8, 8)
    small[:2, 2:6] = 1.0
    large[:4] = 1.0
    assert outline_disagreement(small, small) == 0.0
    assert outline_disagreement(empty, empty) == 0.0
    # a photo with no hair: no hair drawn is right, a little hair less wrong than a lot
    assert 0.0 < outline_disagreement(small, empty) < outline_disagreement(large, empty)
    assert outline_disagreement(large, small) > outline_disagreement(small, small)


def test_silhouette_groups_must_name_a_group_and_a_label_of_the_rig(fitter):
    with pytest.raises(SpecError, match="no discrete group"):
        fitter.fit_photo(PHOTO.read_bytes(), silhouette_groups=(("glasses", "hair"),))
    with pytest.raises(SpecError, match="no label class"):
        fitter.fit_photo(PHOTO.read_bytes(), silhouette_groups=(("hairstyle", "beard"),))


def test_color_match_finds_the_hair_colour_the_photo_shows(fitter):
    """A photo whose hair has the colour the rig draws for some hair controls gets those
    controls back where one pass over each control can find them, and a closer colour where
    it cannot; a bald head, or a photo with next to no hair, leaves them alone."""
    import torch

    from facefit.fit.fitter import _lab
    from facefit.fit.losses import COLOR_REGIONS

    spec, names = fitter.spec, [c.name for c in fitter.spec.continuous]
    hair = [fitter.labels.index(n) for n in COLOR_REGIONS["hair"]]
    controls = ("hair_color", "hair_redness")
    cfg = replace(fitter.config, mode="full", color_matches=(("hair", controls),), color_steps=9)
    start = torch.as_tensor(spec.mean_vector())[None]
    index = [names.index(c) for c in controls]

    def hair_rgb(vec: np.ndarray) -> np.ndarray:
        drawn = fitter._probe_renderer.render(vec)
        return drawn.image[np.isin(drawn.labels, hair)].mean(axis=0) / 255.0

    def photo(vec: np.ndarray, hair_share: float = 1.0) -> SimpleNamespace:
        """Targets of a photo with this face's hair colour and its parse's hair area."""
        drawn = fitter._probe_renderer.render(vec)
        probs = torch.zeros(1, len(fitter.labels), *drawn.labels.shape)
        probs[0, hair] = torch.as_tensor(np.isin(drawn.labels, hair), dtype=torch.float32)
        return SimpleNamespace(
            colors={"hair": torch.as_tensor(hair_rgb(vec)[None])}, probs=probs * hair_share
        )

    for colour, red, exact in ((0.125, 0.5, True), (0.875, 0.25, True), (0.625, 1.0, False)):
        truth = spec.encode({"continuous": {"hair_color": colour, "hair_redness": red}})
        targets = photo(truth)
        matched = fitter._color_match(start, targets, cfg)[0].numpy()
        others = np.setdiff1d(np.arange(len(matched)), index)
        assert np.array_equal(matched[others], start[0].numpy()[others])  # only these move
        if exact:
            assert matched[index] == pytest.approx([colour, red])
        else:  # one pass per control (hair colour first) ends short of a red brown
            error = [
                np.linalg.norm(_lab(hair_rgb(v)[None]) - _lab(hair_rgb(truth)[None]))
                for v in (start[0].numpy(), matched)
            ]
            assert error[1] < 0.6 * error[0]
    bald = torch.as_tensor(spec.encode({"discrete": {"hairstyle": "bald"}}))[None]
    assert torch.equal(fitter._color_match(bald, targets, cfg), bald)
    wisp = photo(truth, hair_share=0.05)  # a parse with a trace of hair: its colour is noise
    assert torch.equal(fitter._color_match(start, wisp, cfg), start)


def test_color_matches_must_name_a_region_and_controls_of_the_rig(fitter):
    with pytest.raises(SpecError, match="no colour region"):
        fitter.fit_photo(PHOTO.read_bytes(), color_matches=(("beard", ("hair_color",)),))
    with pytest.raises(SpecError, match="no continuous control"):
        fitter.fit_photo(PHOTO.read_bytes(), color_matches=(("hair", ("hair_colour",)),))


def test_fast_keeps_the_default_option_unless_the_predictor_is_sure(fitter):
    import torch

    slices = {g: (start, stop) for g, start, stop in fitter.layout.discrete_slices}
    start, stop = slices["facial_hair"]
    guess = torch.as_tensor(fitter.spec.mean_vector()).repeat(2, 1)
    guess[:, start:stop] = torch.tensor([[0.1, 0.8, 0.1, 0.0, 0.0], [0.0, 0.97, 0.03, 0.0, 0.0]])
    cfg = replace(fitter.config, mode="fast", fast_min_confidence=0.95)
    out = fitter._default_unless_confident(guess, cfg)
    assert out[0, start:stop].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]  # unsure: no stubble
    assert torch.equal(out[1], guess[1])  # sure: the predictor's stubble stands
    # only in the groups the margin applies to, and not at all with a confidence of 0
    hair_only = replace(cfg, default_margin_groups=("hairstyle",))
    assert torch.equal(
        fitter._default_unless_confident(guess, hair_only)[:, start:stop], guess[:, start:stop]
    )
    assert torch.equal(
        fitter._default_unless_confident(guess, replace(cfg, fast_min_confidence=0.0)), guess
    )


def test_a_dark_chin_makes_the_real_rig_check_pick_a_beard(fitter):
    """Where the photo's chin reads as a beard, the check draws every facial hair option but
    none and keeps the best of them, although none scores best and holds the margin."""
    import torch

    from facefit.align import align_photo, load_photo

    face = align_photo(load_photo(PHOTO.read_bytes()))
    _, targets = fitter.targets_of([face])
    spec = fitter.spec
    clean = torch.as_tensor(spec.mean_vector())  # option 0 everywhere: no facial hair
    confident = SimpleNamespace(
        discrete_probabilities=[
            clean[None, start:stop] for _, start, stop in fitter.layout.discrete_slices
        ]
    )
    cfg = replace(fitter.config, mode="full", default_margin=0.99)
    block = spec.discrete_slices["facial_hair"]
    beards = [
        with_option(clean, block.start, block.stop, o) for o in range(1, block.stop - block.start)
    ]
    losses = [
        fitter._real_loss(v[None], [fitter._renderer.render(v.numpy())], targets, cfg)[0]
        for v in beards
    ]
    kept, _, real = fitter._check_with_real_rig(clean[None].clone(), confident, targets, cfg)
    assert torch.equal(kept[0], clean)  # no evidence: the margin keeps the default
    kept, _, real = fitter._check_with_real_rig(
        clean[None].clone(), confident, targets, cfg, bearded=[True]
    )
    assert torch.equal(kept[0], beards[int(np.argmin(losses))])
    assert real[0] == pytest.approx(min(losses))
    # the evidence only touches its own group, and is off with no group named
    off = replace(cfg, beard_group=None)
    assert fitter._beard_chins([face], off) == [None]
    assert fitter._beard_chins([face], replace(cfg, mode="fast")) == [None]


def test_a_textured_chin_is_read_as_a_beard_even_where_it_is_not_dark(fitter):
    from facefit.fit.evaluate import synthetic_face

    spec = fitter.spec
    names = [c.name for c in spec.continuous]
    cfg = replace(fitter.config, mode="full")
    faces = {}
    for option in ("none", "stubble"):
        vec = spec.encode({"discrete": {"facial_hair": option}})
        vec[names.index("facial_hair_density")] = 0.3
        faces[option] = synthetic_face(fitter._renderer.render(vec))
    bare, light = fitter._beard_chins([faces["none"], faces["stubble"]], cfg)
    assert bare is None
    assert light is not None and light > cfg.beard_chin_lightness  # the texture decided
    no_texture = replace(cfg, beard_chin_texture=float("inf"))
    assert fitter._beard_chins([faces["stubble"]], no_texture) == [None]


def test_beard_group_and_density_must_exist_in_the_rig(fitter):
    with pytest.raises(SpecError, match="no discrete group"):
        fitter.fit_photo(PHOTO.read_bytes(), beard_group="beard")
    with pytest.raises(SpecError, match="no continuous control"):
        fitter.fit_photo(PHOTO.read_bytes(), beard_density="beard_length")


def test_an_override_of_none_switches_a_step_off_and_given_drops_unset_options(fitter):
    from facefit.fit.config import given

    assert fitter.config.beard_group is not None
    assert fitter._config({"beard_group": None}).beard_group is None
    assert fitter._config({}).beard_group == fitter.config.beard_group
    # an unset CLI flag or job field (None) leaves the loaded value
    assert given(mode="fast", threshold=None, beard_group=None) == {"mode": "fast"}
    assert fitter._config(given(max_iters=None)).max_iters == fitter.config.max_iters


def test_beard_density_is_matched_to_the_chin_on_real_renders(fitter):
    """A rig face drawn with a full beard at a density on the tried grid: matching its chin
    on real renders finds that density again, and faces without the evidence are left."""
    import torch

    from facefit.fit.evaluate import synthetic_face
    from facefit.fit.skin_regions import chin_minus_cheek_lightness

    spec = fitter.spec
    names = [c.name for c in spec.continuous]
    truth = spec.encode({"discrete": {"facial_hair": "full_beard"}})
    truth[names.index("facial_hair_density")] = 0.75  # on the grid of 9 values
    face = synthetic_face(fitter._renderer.render(truth))
    chin = chin_minus_cheek_lightness(face.image, face.aligned_landmarks68)
    start = torch.as_tensor(truth).clone()
    start[names.index("facial_hair_density")] = 0.1
    cfg = replace(fitter.config, mode="full", color_steps=9)
    matched = fitter._match_beard_density(start[None].clone(), [chin], cfg)
    assert float(matched[0, names.index("facial_hair_density")]) == pytest.approx(0.75)
    left = fitter._match_beard_density(start[None].clone(), [None], cfg)
    assert torch.equal(left[0], start)
    off = fitter._match_beard_density(start[None].clone(), [chin], replace(cfg, beard_density=None))
    assert torch.equal(off[0], start)


def test_defaults_go_without_the_steps_another_rig_has_no_parts_for():
    """A studio's own rig may have no hairstyle, hair colour or beard: the default fit then
    goes without those steps instead of refusing to load; the reference rig keeps them all."""
    from facefit.fit.fitter import defaults_for_rig

    reference = load_spec()
    assert defaults_for_rig(FitConfig(), reference) == FitConfig()
    other = SimpleNamespace(
        discrete=[SimpleNamespace(name="eyebrow_style")],
        continuous=[SimpleNamespace(name="hair_color"), SimpleNamespace(name="jaw_width")],
        labels=reference.labels,
    )
    adapted = defaults_for_rig(replace(FitConfig(), default_margin_groups=("facial_hair",)), other)
    assert adapted.default_margin_groups == ()
    assert adapted.silhouette_groups == ()
    assert adapted.color_matches == (("hair", ("hair_color",)),)
    assert adapted.beard_group is None and adapted.beard_density is None
