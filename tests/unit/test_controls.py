"""The controls reader: what it reads, its training, and its place in the fit's start."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facefit.errors import ModelError
from facefit.fit.config import FitConfig
from facefit.fit.fitter import load_fitter
from facefit.fit.optimize import PhotoTargets
from facefit.nets.controls import build_controls_reader, load_controls_reader
from facefit.rig.sampling import sample_dataset
from facefit.rig.spec import load_spec
from facefit.settings import CoreSettings
from facefit.train.controls import ControlsTrainConfig, photo_like, train_controls
from facefit.train.predictor import PredictorTrainConfig, train_predictor
from tests.tiny_weights import (
    copy_weights,
    install_as_shipped,
    train_tiny_reader,
    write_tiny_weights,
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


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shards")
    sample_dataset(folder, n=30, seed=3, size=64, shard_size=15, workers=1)
    return folder


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory) -> Path:
    """Tiny networks and a tiny controls reader trained for a few steps, without a
    predictor: the start of `full` is then the average face's, blended with the reader's."""
    weights = write_tiny_weights(tmp_path_factory.mktemp("weights"))
    tcfg = ControlsTrainConfig(config="tiny", steps=3, batch_size=8, val_n=6, val_every=3)
    train_controls(
        shards, weights, tcfg,
        device=torch.device("cpu"), checkpoint=tmp_path_factory.mktemp("ckpt") / "c.ckpt",
    )  # fmt: skip
    install_as_shipped(weights, "controls-tiny.pt", "controls-lite.pt")
    return weights


@pytest.fixture(scope="module")
def with_predictor(trained, shards, tmp_path_factory) -> Path:
    """The same folder with a tiny predictor trained for a few steps beside the reader."""
    weights = copy_weights(trained, tmp_path_factory.mktemp("with-predictor"))
    tcfg = PredictorTrainConfig(
        config="tiny", steps=2, batch_size=8, photo_batch=0, val_n=6, val_every=2
    )
    train_predictor(
        shards, weights / "imitator-lite.pt", weights / "extractor-lite.pt",
        weights, tcfg,
        device=torch.device("cpu"), checkpoint=tmp_path_factory.mktemp("ckpt") / "p.ckpt",
    )  # fmt: skip
    install_as_shipped(weights, "predictor-tiny.pt", "predictor-lite.pt")
    return weights


@pytest.fixture(scope="module")
def with_close_reader(trained, shards, tmp_path_factory) -> Path:
    """The same folder with a tiny close reader of two eye controls beside the reader."""
    weights = copy_weights(trained, tmp_path_factory.mktemp("with-close-reader"))
    train_tiny_reader(shards, weights, "tiny-controls", "detail-eyes.pt")
    return weights


def test_the_reader_reads_every_continuous_control_in_range_at_any_frame_size():
    torch.manual_seed(0)
    spec = load_spec()
    reader = build_controls_reader("tiny", spec.continuous_size).eval()
    with torch.no_grad():
        big, small = reader(torch.rand(2, 3, 512, 512)), reader(torch.rand(2, 3, 32, 32))
    assert big.shape == small.shape == (2, spec.continuous_size)
    assert float(big.min()) >= 0.0 and float(big.max()) <= 1.0


def test_photo_like_jitter_changes_the_pixels_and_keeps_the_frame_size():
    rng = np.random.default_rng(0)
    renders = np.random.default_rng(1).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    jittered = photo_like(renders, shift=2, rng=rng)
    assert jittered.shape == renders.shape and jittered.dtype == np.uint8
    assert not np.array_equal(jittered, renders)


def test_training_writes_a_reader_with_its_error_per_control(trained):
    spec = load_spec()
    reader = load_controls_reader(trained / "controls-lite.pt")
    assert reader.cfg.controls == spec.continuous_size
    entry = json.loads((trained / "manifest.json").read_text())["weights"]["controls-lite.pt"]
    validation = entry["validation"]
    assert set(validation["per_control"]) == {c.name for c in spec.continuous}
    assert 0.0 < validation["continuous_mae"] < 1.0


def test_the_fit_starts_from_the_blend_of_predictor_and_reader(trained):
    """In `full`, weight 0 is the start without the reader and weight 1 the reader's
    reading; the discrete part and the patent's average-face start do not depend on it."""
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=trained)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    assert fitter.models.controls is not None
    assert "controls-lite.pt" in fitter.models.models
    images, targets = photo_inputs(fitter)
    c = fitter.layout.continuous_size
    starts = {
        w: fitter._initial_vectors(targets, images, replace(fitter.config, controls_weight=w))
        for w in (0.0, 0.5, 1.0)
    }
    with torch.no_grad():
        read = fitter.models.controls(images)
    assert torch.allclose(starts[1.0][:, :c], read)
    assert torch.allclose(starts[0.5][:, :c], (starts[0.0][:, :c] + read) / 2, atol=1e-6)
    assert torch.equal(starts[0.0][:, c:], starts[1.0][:, c:])
    # `fast` is the predictor's answer: the reader does not stand in for a missing one
    fast = replace(fitter.config, mode="fast", controls_weight=1.0)
    with pytest.raises(ModelError, match="predictor"):
        fitter._initial_vectors(targets, images, fast)
    patent = replace(fitter.config, mode="patent", controls_weight=1.0)
    mean = torch.as_tensor(fitter.spec.mean_vector())[None]
    assert torch.equal(fitter._initial_vectors(targets, images, patent), mean)
    with pytest.raises(ValueError, match="controls_weight"):
        FitConfig(controls_weight=1.5)


def test_fast_is_the_predictors_answer_whatever_the_readers_weight(with_predictor):
    """`fast` keeps the predictor's reading (the blend moved photos' landmarks over its
    target); `full` at weight 0 starts from the same controls, at weight 1 from the reader's
    (with `predictor_continuous_weight` at its default 1, which keeps the guess as it is)."""
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=with_predictor)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    assert fitter.models.predictor is not None and fitter.models.controls is not None
    images, targets = photo_inputs(fitter)
    c = fitter.layout.continuous_size

    def start(mode: str, w: float) -> torch.Tensor:
        cfg = replace(fitter.config, mode=mode, controls_weight=w)
        return fitter._initial_vectors(targets, images, cfg)

    with torch.no_grad():
        read = fitter.models.controls(images)
    fast = start("fast", 0.0)
    assert torch.equal(start("fast", 1.0), fast)
    # the continuous part: `full` keeps the discrete groups' probabilities, `fast` picks
    assert torch.equal(start("full", 0.0)[:, :c], fast[:, :c])
    assert torch.allclose(start("full", 1.0)[:, :c], read)
    assert not torch.allclose(fast[:, :c], read)


def test_where_the_predictor_is_blind_the_reader_reads_alone(with_predictor, tmp_path):
    """Controls whose held-out error in the predictor's manifest reaches
    `predictor_blind_error` start from the controls reader's reading alone; the others from
    the blend; above 0.25 (chance) the blend is everywhere."""
    copy_weights(with_predictor, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    errors = manifest["weights"]["predictor-lite.pt"]["validation"]["continuous_mae_per_control"]
    names = [control.name for control in load_spec().continuous]
    for name in names:
        errors[name] = 0.24 if name in ("ear_lobe", "brow_arch") else 0.05
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tmp_path)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    assert fitter.models.predictor_errors is not None
    images, targets = photo_inputs(fitter)
    c = fitter.layout.continuous_size
    everywhere = replace(fitter.config, predictor_blind_error=1.0)
    blend = fitter._initial_vectors(targets, images, everywhere)[:, :c]
    cfg = replace(fitter.config, predictor_blind_error=0.2)
    start = fitter._initial_vectors(targets, images, cfg)[:, :c]
    with torch.no_grad():
        read = fitter.models.controls(images)
    blind = torch.tensor([name in ("ear_lobe", "brow_arch") for name in names])
    assert torch.allclose(start[:, blind], read[:, blind])
    assert torch.allclose(start[:, ~blind], blend[:, ~blind])
    assert not torch.allclose(blend[:, blind], read[:, blind])


def test_blending_by_error_gives_the_reader_more_only_where_the_predictor_errs_more(
    with_predictor, tmp_path
):
    """With `blend_by_error` k the reader's share of a control is the larger of
    `controls_weight` and e_p^k / (e_p^k + e_r^k), from both manifests' held-out errors."""
    copy_weights(with_predictor, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entries = manifest["weights"]
    predictor = entries["predictor-lite.pt"]["validation"]["continuous_mae_per_control"]
    reader = entries["controls-lite.pt"]["validation"]["per_control"]
    names = [control.name for control in load_spec().continuous]
    for name in names:
        predictor[name], reader[name] = 0.05, 0.05
    predictor["cheekbone_height"], reader["cheekbone_height"] = 0.15, 0.03
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tmp_path)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    images, targets = photo_inputs(fitter)
    c = fitter.layout.continuous_size
    cfg = replace(fitter.config, controls_weight=0.625, blend_by_error=0.0)
    alone = fitter._initial_vectors(targets, images, replace(cfg, controls_weight=0.0))[:, :c]
    with torch.no_grad():
        read = fitter.models.controls(images)
    w = torch.full((c,), 0.625)
    w[names.index("cheekbone_height")] = 0.15 / (0.15 + 0.03)
    start = fitter._initial_vectors(targets, images, replace(cfg, blend_by_error=1.0))[:, :c]
    assert torch.allclose(start, (1 - w) * alone + w * read, atol=1e-6)
    off = fitter._initial_vectors(targets, images, cfg)[:, :c]
    assert torch.allclose(off, 0.375 * alone + 0.625 * read, atol=1e-6)
    assert not torch.allclose(start, off)


def test_a_close_reader_decides_the_controls_it_reads_best(with_close_reader, tmp_path):
    """Where its held-out error is below the controls reader's, the start of `full` is its
    reading; every other control is the blend, and `fast` and `patent` do not use it."""
    copy_weights(with_close_reader, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    theirs = manifest["weights"]["controls-lite.pt"]["validation"]["per_control"]
    mine = manifest["weights"]["detail-eyes.pt"]["validation"]["per_control"]
    mine["brow_arch"], mine["lid_shape"] = theirs["brow_arch"] / 2, theirs["lid_shape"] * 2
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tmp_path)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    assert not fitter.models.readers and len(fitter.models.close) == 1
    assert "detail-eyes.pt" in fitter.models.models
    close = fitter.models.close[0]
    names = [control.name for control in load_spec().continuous]
    arch = names.index("brow_arch")
    assert close.columns.tolist() == [arch] and close.outputs.tolist() == [0]
    images, targets = photo_inputs(fitter)
    c = fitter.layout.continuous_size
    w = fitter.config.controls_weight
    start = fitter._initial_vectors(targets, images, fitter.config)
    mean = torch.as_tensor(fitter.spec.mean_vector())[None]
    with torch.no_grad():
        blend = (1 - w) * mean[:, :c] + w * fitter.models.controls(images)
        read = close.reader.read_controls(images)
    assert torch.allclose(start[:, arch], read[:, 0])
    others = torch.ones(c, dtype=torch.bool)
    others[arch] = False
    assert torch.allclose(start[:, :c][:, others], blend[:, others], atol=1e-6)
    patent = replace(fitter.config, mode="patent")
    assert torch.equal(fitter._initial_vectors(targets, images, patent), mean)


def test_a_close_reader_without_the_controls_reader_is_not_used(with_close_reader, tmp_path):
    """It sharpens the controls reader's reading; alone it would replace the predictor's."""
    copy_weights(with_close_reader, tmp_path, leave_out=("controls-lite.pt",))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tmp_path)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    assert fitter.models.controls is None and not fitter.models.close
    assert "detail-eyes.pt" not in fitter.models.models


@pytest.fixture(scope="module")
def with_two_close_readers(with_close_reader, shards, tmp_path_factory) -> Path:
    """The close reader's folder with a second one of the same two controls (other seed)."""
    weights = copy_weights(with_close_reader, tmp_path_factory.mktemp("with-two-close-readers"))
    train_tiny_reader(shards, weights, "tiny-controls", "detail-mouth.pt", seed=1)
    return weights


def test_a_later_close_reader_takes_over_only_what_it_reads_closer(
    with_two_close_readers, tmp_path
):
    """Each close reader is weighed against the readings before it: the second takes brow
    arch from the first where it reads it closer, and leaves it lid shape where it does not."""
    copy_weights(with_two_close_readers, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entries = manifest["weights"]
    theirs = entries["controls-lite.pt"]["validation"]["per_control"]
    first = entries["detail-eyes.pt"]["validation"]["per_control"]
    second = entries["detail-mouth.pt"]["validation"]["per_control"]
    first["brow_arch"], first["lid_shape"] = theirs["brow_arch"] / 2, theirs["lid_shape"] / 2
    second["brow_arch"], second["lid_shape"] = theirs["brow_arch"] / 4, theirs["lid_shape"] / 1.5
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tmp_path)
    fitter = load_fitter(settings, FitConfig(max_iters=0))
    eyes, mouth = fitter.models.close
    names = [control.name for control in load_spec().continuous]
    arch, lid = names.index("brow_arch"), names.index("lid_shape")
    assert eyes.columns.tolist() == [arch, lid] and mouth.columns.tolist() == [arch]
    errors = fitter.models.start_errors
    assert float(errors[arch]) == pytest.approx(theirs["brow_arch"] / 4)
    assert float(errors[lid]) == pytest.approx(theirs["lid_shape"] / 2)
    images, targets = photo_inputs(fitter)
    start = fitter._initial_vectors(targets, images, fitter.config)
    with torch.no_grad():
        by_eyes, by_mouth = eyes.reader.read_controls(images), mouth.reader.read_controls(images)
    assert not torch.allclose(by_eyes, by_mouth)
    assert torch.allclose(start[:, arch], by_mouth[:, 0])
    assert torch.allclose(start[:, lid], by_eyes[:, 1])
