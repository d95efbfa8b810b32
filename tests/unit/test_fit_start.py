"""The start stage: each control from the network that owns it (tiny trained networks)."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from facefit.errors import ModelError
from facefit.fit.calibration import from_manifests
from facefit.fit.config import FitConfig
from facefit.fit.fitter import load_fitter
from facefit.fit.ownership import BlendRules
from facefit.fit.params import ParamLayout
from facefit.fit.search import PhotoTargets
from facefit.fit.start import default_unless_confident, start_vectors
from facefit.rig.spec import load_spec
from facefit.settings import CoreSettings
from tests.tiny_weights import (
    copy_weights,
    with_controls_reader,
    with_detail_reader_of_controls,
    with_predictor,
)

PHOTO = Path(__file__).parent.parent / "fixtures" / "faces" / "london_024_neutral.jpg"


@functools.cache
def aligned_photo():
    """The test photo, aligned once for the module."""
    from facefit.align import align_photo, load_photo

    return align_photo(load_photo(PHOTO.read_bytes()))


def photo_inputs(fitter) -> tuple[torch.Tensor, PhotoTargets]:
    """The aligned test photo as `fitter` sees it: images (1, 3, S, S) and loss targets."""
    return fitter.targets_of([aligned_photo()])


def fitter_of(weights: Path):
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights)
    return load_fitter(settings, FitConfig(max_iters=0))


def start(fitter, mode: str = "full", **rules) -> torch.Tensor:
    """The start of the test photo in `mode`, the owners decided by `rules` (BlendRules
    fields; none: the fitter's calibration)."""
    plan = fitter.calibration.start
    if rules:
        plan = from_manifests(fitter.networks, replace(fitter.calibration.rules, **rules)).start
    images, targets = photo_inputs(fitter)
    cfg = replace(fitter.config, mode=mode)
    return start_vectors(fitter.networks, plan, fitter.spec, images, targets, cfg)


def controls_reading(fitter) -> torch.Tensor:
    images, _ = photo_inputs(fitter)
    with torch.no_grad():
        return fitter.networks.controls_reader(images)


def test_the_fit_starts_from_the_blend_of_predictor_and_reader():
    """In `full`, weight 0 is the start without the reader and weight 1 the reader's
    reading; the discrete part and the patent's average-face start do not depend on it."""
    fitter = fitter_of(with_controls_reader())
    assert fitter.networks.controls_reader is not None
    assert "controls-lite.pt" in fitter.networks.models
    c = fitter.layout.continuous_size
    starts = {w: start(fitter, controls_weight=w) for w in (0.0, 0.5, 1.0)}
    read = controls_reading(fitter)
    assert torch.allclose(starts[1.0][:, :c], read)
    assert torch.allclose(starts[0.5][:, :c], (starts[0.0][:, :c] + read) / 2, atol=1e-6)
    assert torch.equal(starts[0.0][:, c:], starts[1.0][:, c:])
    # `fast` is the predictor's answer: the reader does not stand in for a missing one
    with pytest.raises(ModelError, match="predictor"):
        start(fitter, "fast", controls_weight=1.0)
    mean = torch.as_tensor(fitter.spec.mean_vector())[None]
    assert torch.equal(start(fitter, "patent", controls_weight=1.0), mean)
    with pytest.raises(ValueError, match="controls_weight"):
        BlendRules(controls_weight=1.5)


def test_fast_is_the_predictors_answer_whatever_the_readers_weight():
    """`fast` keeps the predictor's reading (the blend moved photos' landmarks over its
    target); `full` at weight 0 starts from the same controls, at weight 1 from the reader's."""
    fitter = fitter_of(with_predictor())
    assert fitter.networks.predictor is not None and fitter.networks.controls_reader is not None
    c = fitter.layout.continuous_size
    read = controls_reading(fitter)
    fast = start(fitter, "fast", controls_weight=0.0)
    assert torch.equal(start(fitter, "fast", controls_weight=1.0), fast)
    # the continuous part: `full` keeps the discrete groups' probabilities, `fast` picks
    assert torch.equal(start(fitter, "full", controls_weight=0.0)[:, :c], fast[:, :c])
    assert torch.allclose(start(fitter, "full", controls_weight=1.0)[:, :c], read)
    assert not torch.allclose(fast[:, :c], read)


def test_where_the_predictor_is_blind_the_reader_reads_alone(tmp_path):
    """Controls whose held-out error in the predictor's manifest reaches
    `predictor_blind_error` start from the controls reader's reading alone; the others from
    the blend; above 0.25 (chance) the blend is everywhere."""
    copy_weights(with_predictor(), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    errors = manifest["weights"]["predictor-lite.pt"]["validation"]["continuous_mae_per_control"]
    names = [control.name for control in load_spec().continuous]
    for name in names:
        errors[name] = 0.24 if name in ("ear_lobe", "brow_arch") else 0.05
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    fitter = fitter_of(tmp_path)
    assert fitter.networks.errors.predictor is not None
    c = fitter.layout.continuous_size
    blend = start(fitter, predictor_blind_error=1.0)[:, :c]
    first = start(fitter, predictor_blind_error=0.2)[:, :c]
    read = controls_reading(fitter)
    blind = torch.tensor([name in ("ear_lobe", "brow_arch") for name in names])
    assert torch.allclose(first[:, blind], read[:, blind])
    assert torch.allclose(first[:, ~blind], blend[:, ~blind])
    assert not torch.allclose(blend[:, blind], read[:, blind])


def test_blending_by_error_gives_the_reader_more_only_where_the_predictor_errs_more(tmp_path):
    """With `blend_by_error` k the reader's share of a control is the larger of
    `controls_weight` and e_p^k / (e_p^k + e_r^k), from both manifests' held-out errors."""
    copy_weights(with_predictor(), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entries = manifest["weights"]
    predictor = entries["predictor-lite.pt"]["validation"]["continuous_mae_per_control"]
    reader = entries["controls-lite.pt"]["validation"]["per_control"]
    names = [control.name for control in load_spec().continuous]
    for name in names:
        predictor[name], reader[name] = 0.05, 0.05
    predictor["cheekbone_height"], reader["cheekbone_height"] = 0.15, 0.03
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    fitter = fitter_of(tmp_path)
    c = fitter.layout.continuous_size
    alone = start(fitter, controls_weight=0.0, blend_by_error=0.0)[:, :c]
    read = controls_reading(fitter)
    w = torch.full((c,), 0.625)
    w[names.index("cheekbone_height")] = 0.15 / (0.15 + 0.03)
    by_error = start(fitter, controls_weight=0.625, blend_by_error=1.0)[:, :c]
    assert torch.allclose(by_error, (1 - w) * alone + w * read, atol=1e-6)
    off = start(fitter, controls_weight=0.625, blend_by_error=0.0)[:, :c]
    assert torch.allclose(off, 0.375 * alone + 0.625 * read, atol=1e-6)
    assert not torch.allclose(by_error, off)


def test_a_detail_reader_of_controls_sets_the_ones_it_owns(tmp_path):
    """Where it owns a control (`test_fit_calibration.py`), the start of `full` is its
    reading; every other control is the blend, and `fast` and `patent` do not use it."""
    copy_weights(with_detail_reader_of_controls(), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    theirs = manifest["weights"]["controls-lite.pt"]["validation"]["per_control"]
    mine = manifest["weights"]["detail-eyes.pt"]["validation"]["per_control"]
    mine["brow_arch"], mine["lid_shape"] = theirs["brow_arch"] / 2, theirs["lid_shape"] * 2
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    fitter = fitter_of(tmp_path)
    plan = fitter.calibration.start
    assert not plan.group_owners and list(fitter.networks.detail) == ["detail-eyes.pt"]
    assert "detail-eyes.pt" in fitter.networks.models
    assert plan.control_owners == {"brow_arch": "detail-eyes.pt"}
    reader = fitter.networks.detail["detail-eyes.pt"]
    assert reader.cfg.controls.index("brow_arch") == 0
    names = [control.name for control in load_spec().continuous]
    arch = names.index("brow_arch")
    images, _ = photo_inputs(fitter)
    c = fitter.layout.continuous_size
    w = fitter.calibration.rules.controls_weight
    first = start(fitter)
    mean = torch.as_tensor(fitter.spec.mean_vector())[None]
    with torch.no_grad():
        blend = (1 - w) * mean[:, :c] + w * fitter.networks.controls_reader(images)
        read = reader.read_controls(images)
    assert torch.allclose(first[:, arch], read[:, 0])
    others = torch.ones(c, dtype=torch.bool)
    others[arch] = False
    assert torch.allclose(first[:, :c][:, others], blend[:, others], atol=1e-6)
    assert torch.equal(start(fitter, "patent"), mean)


def test_fast_keeps_the_default_option_unless_the_predictor_is_sure():
    spec = load_spec()
    layout = ParamLayout.from_spec(spec)
    slices = {g: (begin, stop) for g, begin, stop in layout.discrete_slices}
    begin, stop = slices["facial_hair"]
    guess = torch.as_tensor(spec.mean_vector()).repeat(2, 1)
    guess[:, begin:stop] = torch.tensor([[0.1, 0.8, 0.1, 0.0, 0.0], [0.0, 0.97, 0.03, 0.0, 0.0]])
    cfg = FitConfig(mode="fast")
    out = default_unless_confident(guess, layout, cfg, min_confidence=0.95)
    assert out[0, begin:stop].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]  # unsure: no stubble
    assert torch.equal(out[1], guess[1])  # sure: the predictor's stubble stands
    # only in the groups the margin applies to, and not at all with a confidence of 0
    hair_only = replace(cfg, default_margin_groups=("hairstyle",))
    assert torch.equal(
        default_unless_confident(guess, layout, hair_only)[:, begin:stop], guess[:, begin:stop]
    )
    assert torch.equal(default_unless_confident(guess, layout, cfg, min_confidence=0.0), guess)


def test_in_fast_the_chin_decides_the_beard():
    """A bearded chin gets the predictor's likeliest beard however unsure it was, a clean
    chin none however sure."""
    spec = load_spec()
    layout = ParamLayout.from_spec(spec)
    begin, stop = {g: (b, e) for g, b, e in layout.discrete_slices}["facial_hair"]
    guess = torch.as_tensor(spec.mean_vector()).repeat(2, 1)
    guess[:, begin:stop] = torch.tensor([[0.6, 0.1, 0.3, 0.0, 0.0], [0.0, 0.99, 0.01, 0.0, 0.0]])
    out = default_unless_confident(guess, layout, FitConfig(mode="fast"), bearded=[True, False])
    assert out[0, begin:stop].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert out[1, begin:stop].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
