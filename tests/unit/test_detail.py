"""The detail reader: where it looks, that both brows count alike, training and the fit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facefit.cli import main
from facefit.fit.config import FitConfig
from facefit.fit.fitter import load_fitter
from facefit.nets.detail import CONFIGS, build_reader, load_reader, reader_box
from facefit.rig.reference import REFERENCE_SIZE, reference_landmarks68
from facefit.rig.sampling import sample_dataset
from facefit.rig.spec import load_spec
from facefit.settings import CoreSettings
from facefit.train.detail import DetailTrainConfig, train_detail
from tests.tiny_weights import (
    tiny_detail_configs,
    tiny_detail_configs_dict,
    train_tiny_reader,
    write_tiny_weights,
)

TINY = tiny_detail_configs_dict()  # test-sized readers: a brow reader, a reader of controls

PHOTO = Path(__file__).parent.parent / "fixtures" / "faces" / "london_024_neutral.jpg"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Tiny imitator and extractor and a tiny brow reader trained for a few steps."""
    weights = write_tiny_weights(tmp_path_factory.mktemp("weights"))
    shards = tmp_path_factory.mktemp("shards")
    sample_dataset(shards, n=30, seed=3, size=64, shard_size=15, workers=1)
    train_tiny_reader(shards, weights, "tiny", "detail-brows.pt")
    return weights


def test_the_box_holds_both_reference_brows_and_is_centred_on_the_face():
    cfg = CONFIGS["brows"]
    top, bottom, left, right = reader_box(cfg, reference_landmarks68(), REFERENCE_SIZE)
    brows = reference_landmarks68()[17:27] * cfg.size / REFERENCE_SIZE
    assert top < brows[:, 1].min() and bottom > brows[:, 1].max()
    assert left < brows[:, 0].min() and right > brows[:, 0].max()
    assert left + right == cfg.size  # the midline splits it into mirror halves


def test_a_box_without_its_middle_reads_the_outer_side_of_each_half():
    """`inner_x` leaves out the strip next to the midline: each half keeps its outer side
    (the ears' box reads the ears, not the cheeks between them)."""
    cfg = replace(TINY["tiny"], inner_x=0.05)
    box = reader_box(cfg, reference_landmarks68(), REFERENCE_SIZE)
    reader = build_reader(cfg, "eyebrow_style", 6, box).eval()
    top, bottom, left, right = box
    half, inner = (right - left) // 2, round(0.05 * cfg.size)
    faces = torch.rand(2, 3, cfg.size, cfg.size)
    crops = reader.crops(faces)
    assert crops.shape == (4, 3, bottom - top, half - inner)
    assert torch.equal(crops[:2], faces[:, :, top:bottom, left : left + half - inner])
    assert torch.equal(crops[2:], faces[:, :, top:bottom, right - half + inner : right].flip(-1))
    assert reader(faces).shape == (2, 6)
    assert CONFIGS["ears"].inner_x > 0  # the shipped config that needs it


def test_a_mirrored_face_reads_the_same():
    """Each brow is read as a left brow (the right one mirrored) and the two are summed, so
    a face and its mirror image give the same answer; a face and another do not."""
    torch.manual_seed(0)
    box = reader_box(TINY["tiny"], reference_landmarks68(), REFERENCE_SIZE)
    reader = build_reader(TINY["tiny"], "eyebrow_style", 6, box).eval()
    faces = torch.stack([torch.rand(3, 512, 512), torch.full((3, 512, 512), 0.2)])
    with torch.no_grad():
        logits = reader(faces)
        assert torch.allclose(reader(faces.flip(-1)), logits, atol=1e-5)
        assert not torch.allclose(logits[0], logits[1], atol=1e-3)
    assert logits.shape == (2, 6)


def test_training_writes_a_reader_of_the_rig_group(trained):
    reader = load_reader(trained / "detail-brows.pt")
    assert reader.cfg.group == "eyebrow_style" and reader.cfg.options == 6
    entry = json.loads((trained / "manifest.json").read_text())["weights"]["detail-brows.pt"]
    validation = entry["validation"]
    assert 0.0 <= validation["accuracy"] <= 1.0
    assert validation["options"] == list(load_spec().discrete[1].options)


def test_a_reader_of_controls_reads_them_in_range_and_records_each_ones_error(tmp_path):
    shards = tmp_path / "shards"
    sample_dataset(shards, n=12, seed=2, size=64, shard_size=12, workers=1)
    tcfg = DetailTrainConfig(config="tiny-controls", steps=2, batch_size=4, val_n=4, val_every=2)
    with tiny_detail_configs():
        train_detail(
            shards, tmp_path, tcfg, device=torch.device("cpu"), checkpoint=tmp_path / "d.ckpt"
        )  # fmt: skip
    reader = load_reader(tmp_path / "detail-tiny-controls.pt")
    assert reader.cfg.group == "" and reader.cfg.controls == ("brow_arch", "lid_shape")
    with torch.no_grad():
        read = reader.read_controls(torch.rand(3, 3, 512, 512))
    assert read.shape == (3, 2) and float(read.min()) >= 0 and float(read.max()) <= 1
    entry = json.loads((tmp_path / "manifest.json").read_text())["weights"]
    validation = entry["detail-tiny-controls.pt"]["validation"]
    assert set(validation["per_control"]) == {"brow_arch", "lid_shape"}
    assert 0.0 < validation["continuous_mae"] < 1.0


def test_train_refuses_a_group_for_a_reader_of_controls(tmp_path, capsys):
    shards = tmp_path / "shards"
    sample_dataset(shards, n=4, seed=1, size=32, shard_size=4, workers=1)
    with tiny_detail_configs():
        code = main([
            "train", "detail", "--data", str(shards), "--out", str(tmp_path),
            "--config", "tiny-controls", "--group", "eyebrow_style",
        ])  # fmt: skip
    assert code == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert "reads continuous controls" in error["message"]


def test_train_refuses_a_group_the_rig_lacks(tmp_path, capsys):
    shards = tmp_path / "shards"
    sample_dataset(shards, n=4, seed=1, size=32, shard_size=4, workers=1)
    code = main([
        "train", "detail", "--data", str(shards), "--out", str(tmp_path), "--group", "tattoo",
    ])  # fmt: skip
    assert code == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert error["code"] == "BAD_PARAMS" and "tattoo" in error["message"]


def test_train_refuses_another_networks_file_to_start_from(tmp_path, capsys):
    """`--init` is checked before any shard is read (there are none here)."""
    shipped = Path(__file__).resolve().parents[2] / "weights" / "imitator-lite.pt"
    code = main([
        "train", "detail", "--data", str(tmp_path / "no-shards"), "--out", str(tmp_path),
        "--init", str(shipped),
    ])  # fmt: skip
    assert code == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert "holds a 'imitator' network, not 'detail'" in error["message"]


def test_the_reader_decides_its_group_in_the_fit(trained):
    """Its choice is the start, the search does not move it and the real-rig check keeps it;
    the patent's method still starts from the average face."""
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=trained)
    fitter = load_fitter(settings, FitConfig(max_iters=4, threshold=1.0))
    assert fitter.calibration.start.group_owners == {"eyebrow_style": "detail-brows.pt"}
    reader = fitter.networks.detail["detail-brows.pt"]
    result = fitter.fit_photo(PHOTO.read_bytes(), mode="full")
    options = load_spec().discrete[1].options
    with torch.no_grad():
        aligned = torch.from_numpy(result.aligned).permute(2, 0, 1)[None].float() / 255
        weighed = reader(aligned)[0].argsort(descending=True, stable=True)
    assert "detail-brows.pt" in result.models
    assert result.params["discrete"]["eyebrow_style"] == options[int(weighed[0])]
    # the editor offers the brows in the order the reader weighs them
    assert result.fit["runner_ups"]["eyebrow_style"] == [options[int(i)] for i in weighed]
    patent = fitter.fit_photo(PHOTO.read_bytes(), mode="patent", max_iters=0)
    assert patent.params["discrete"]["eyebrow_style"] == "natural"
    assert np.isfinite(patent.fit["real_render_loss"])
