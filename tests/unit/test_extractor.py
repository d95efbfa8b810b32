"""The feature extractor: dilated features, photo label maps, training, parse CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facefit.cli import main
from facefit.data.faces import faces_dir
from facefit.data.photo_labels import RIG_LABELS, photo_label_map, read_masks
from facefit.nets.extractor import build_extractor, load_extractor_with_info
from facefit.train import toy
from facefit.train.extractor import (
    ConfusionTally,
    ExtractorTrainConfig,
    soft_dice_loss,
    train_extractor,
)

needs_faces = pytest.mark.skipif(
    not (faces_dir() / "manifest.csv").exists(), reason="shared face photos not present"
)


def test_features_stay_at_one_eighth_and_probabilities_are_per_pixel():
    model = build_extractor("tiny", 11).eval()
    out = model(torch.rand(2, 3, 32, 32))
    assert [f.shape[-1] for f in out.features] == [8, 4, 4, 4]
    assert out.logits.shape == (2, 11, 32, 32)
    assert torch.allclose(out.probs.sum(dim=1), torch.ones(2, 32, 32), atol=1e-5)


def test_fine_head_classifies_at_half_resolution_from_the_stem():
    model = build_extractor("lite", 11).eval()
    out = model(torch.rand(1, 3, 64, 64))
    assert [f.shape[-1] for f in out.features] == [16, 8, 8, 8]
    assert out.logits.shape == (1, 11, 64, 64)
    # the logits move with a single input pixel's neighbourhood at 1/2 resolution
    base = torch.full((1, 3, 64, 64), 0.5)
    poked = base.clone()
    poked[..., 30:32, 30:32] = 1.0
    with torch.no_grad():
        delta = (model(poked).logits - model(base).logits).abs().sum(dim=1)[0]
    assert delta[30, 30] > delta[20, 20] * 2


def test_shrinking_labels_keeps_thin_parts_and_the_image_centre():
    from facefit.train.shards import _resize_stack

    labels = np.zeros((1, 16, 16), np.uint8)
    labels[0, 6:8, 2:14] = 3  # a brow two pixels thick on even rows
    labels[0, 9, 2:14] = 5  # one pixel thick: half of each block, a tie
    small = _resize_stack(labels, 8, nearest=True)[0]
    assert (small[3, 1:7] == 3).all() and (small[4, 1:7] == 5).all()
    assert (small[:3] == 0).all() and (small[5:] == 0).all()


def test_confusion_tally_iou_ignores_unlabelled_pixels():
    tally = ConfusionTally(3)
    target = torch.tensor([[0, 0, 1, 255]])
    tally.add(torch.tensor([[0, 1, 1, 2]]), target)
    out = tally.iou(["a", "b", "c"])
    assert out["per_class_iou"] == {"a": 0.5, "b": 0.5}
    assert out["miou"] == 0.5


@needs_faces
def test_dice_loss_scores_overlap_and_ignores_unlabelled_pixels():
    labels = torch.zeros(2, 16, 16, dtype=torch.long)
    labels[:, 6:8, 4:12] = 3  # a thin "brow"
    labels[0, :2] = 255  # unlabelled rows
    exact = torch.nn.functional.one_hot(labels.clamp(max=10), 11).permute(0, 3, 1, 2) * 40.0
    assert float(soft_dice_loss(exact.float(), labels)) < 1e-3
    shifted = exact.roll(1, dims=2)  # the brow one pixel off: half its overlap gone
    assert float(soft_dice_loss(shifted.float(), labels)) > 0.2
    # whatever is predicted under unlabelled pixels does not count
    noisy = exact.clone()
    noisy[0, :, :2] = torch.randn(11, 2, 16) * 40
    assert float(soft_dice_loss(noisy.float(), labels)) < 1e-3


def test_template_label_map_puts_regions_where_the_face_is():
    from facefit.data.faces import read_pts189

    root = faces_dir()
    points = read_pts189(root / "london" / "001_neutral.pts189")
    scale = 256 / 512
    matrix = np.array([[scale, 0, 0], [0, scale, 0]])
    labels = photo_label_map(points, matrix, 256, read_masks(root / "frl189_masks.csv"))
    index = {n: k for k, n in enumerate(RIG_LABELS)}
    for name in ("skin", "nose", "left_eye", "right_eye", "upper_lip", "lower_lip"):
        assert (labels == index[name]).sum() > 20, name
    left_x = np.nonzero(labels == index["left_eye"])[1].mean()
    right_x = np.nonzero(labels == index["right_eye"])[1].mean()
    assert left_x < right_x  # "left" is image-left, as in the templates and iBUG-68
    assert (labels == 255).any() and not (labels == index["hair"]).any()


@needs_faces
def test_training_labels_find_hair_by_colour_above_the_mouth_only():
    import cv2

    from facefit.data.faces import read_pts189

    root = faces_dir()
    points = read_pts189(root / "london" / "001_neutral.pts189")  # dark hair, plain wall
    photo = cv2.cvtColor(cv2.imread(str(root / "london" / "001_neutral.jpg")), cv2.COLOR_BGR2RGB)
    scale = 256 / photo.shape[1]
    matrix = np.array([[scale, 0, 0], [0, scale, 0]])
    image = cv2.warpAffine(photo, matrix, (256, 256), flags=cv2.INTER_AREA)
    masks = read_masks(root / "frl189_masks.csv")
    truth = photo_label_map(points, matrix, 256, masks)
    labels = photo_label_map(points, matrix, 256, masks, image=image)
    index = {n: k for k, n in enumerate(RIG_LABELS)}
    hair = labels == index["hair"]
    assert hair.sum() > 2000
    mouth_row = (points[[87, 93], 1] * scale).mean()
    assert not hair[int(np.ceil(mouth_row)) :].any()
    # the template's own regions are untouched; only hair and background are resolved
    template = (truth != 255) & (truth != index["background"])
    assert (labels[template] == truth[template]).all()
    assert ((labels == index["background"]) & (truth == index["skin"])).sum() == 0


@needs_faces
def test_training_writes_weights_that_parse_cli_uses(tmp_path):
    shards = toy.write_toy_shards(tmp_path / "renders", n=40, size=32, seed=2)
    tcfg = ExtractorTrainConfig(config="tiny", steps=6, batch_size=4, val_every=6, val_renders=8)
    result = train_extractor(
        shards, None, tmp_path / "w", tcfg, device=torch.device("cpu"),
        checkpoint=tmp_path / "c.ckpt",
    )  # fmt: skip
    assert result.metrics["photos"]["miou"] is not None
    assert "hair" not in result.metrics["photos"]["per_class_iou"]
    loaded = load_extractor_with_info(result.weights, "cpu", rig=toy.RIG_ID)
    assert loaded.labels == toy.LABELS
    aligned = tmp_path / "aligned.png"
    Image.fromarray(toy.render(toy.random_vector(np.random.default_rng(0)), 48)[0]).save(aligned)
    out = tmp_path / "labels.png"
    assert main(["parse", str(aligned), "--out", str(out), "--weights", str(result.weights)]) == 0
    written = Image.open(out)
    assert written.mode == "L" and written.size == (48, 48)
    assert np.asarray(written).max() < 11


@needs_faces
def test_evaluation_reports_both_domains_and_draws_training_labels(tmp_path):
    from facefit.train.extractor import evaluate_extractor

    shards = toy.write_toy_shards(tmp_path / "renders", n=20, size=32, seed=3)
    model = build_extractor("tiny", len(toy.LABELS)).eval()
    picture = tmp_path / "sheet.png"
    report = evaluate_extractor(
        model, list(RIG_LABELS), renders=shards, faces=None, n=4, picture=picture
    )
    assert report["photos"]["identities"] > 0 and report["renders"]["n"] == 4
    assert 0.0 <= report["photos"]["miou"] <= 1.0 and report["forward_ms"] > 0
    # photo | predicted | template labels | training labels, one row per person
    width, height = Image.open(picture).size
    assert (width, height) == (4 * 32, 6 * 32)


def test_loader_keeps_an_extractor_across_rig_revisions_with_the_same_classes(tmp_path):
    """An extractor knows the rig's label classes, not its controls: a file trained for an
    older revision with the same classes loads; one with other classes is refused."""
    from dataclasses import asdict

    from facefit.errors import ModelError
    from facefit.nets.extractor import CONFIGS, NETWORK
    from facefit.nets.weights import save_weights

    model = build_extractor("tiny", len(RIG_LABELS))
    for name, labels in (("same.pt", list(RIG_LABELS)), ("other.pt", list(RIG_LABELS)[::-1])):
        save_weights(
            tmp_path / name, network=NETWORK, config_name="tiny", config=asdict(CONFIGS["tiny"]),
            rig="facefit-reference/0.9", layout={"labels": labels},
            state_dict=model.state_dict(), provenance={},
        )  # fmt: skip
    assert load_extractor_with_info(tmp_path / "same.pt", "cpu").labels == list(RIG_LABELS)
    with pytest.raises(ModelError, match="parses the classes of rig 'facefit-reference/0.9'"):
        load_extractor_with_info(tmp_path / "other.pt", "cpu")
    with pytest.raises(ModelError, match="trained for rig 'facefit-reference/0.9'"):
        load_extractor_with_info(tmp_path / "same.pt", "cpu", rig="facefit-reference/2.2")
