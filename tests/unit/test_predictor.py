"""The amortised predictor: trains on rig shards, saves, loads, and drives `--mode fast`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facefit.cli import main
from facefit.data.faces import read_manifest
from facefit.errors import ModelError, SpecError
from facefit.fit.config import FitConfig
from facefit.fit.fitter import load_fitter
from facefit.fit.losses import color_vector
from facefit.fit.params import ParamLayout
from facefit.fit.search import photo_targets
from facefit.nets.extractor import load_extractor
from facefit.nets.predictor import build_predictor, load_predictor
from facefit.rig.sampling import sample_dataset
from facefit.rig.spec import load_spec
from facefit.settings import CoreSettings
from facefit.train.predictor import (
    PredictorTrainConfig,
    photo_label_loss,
    photo_option_labels,
    predict_raw,
    train_predictor,
)
from tests.tiny_weights import install_as_shipped, write_tiny_weights

PHOTO = Path(__file__).parent.parent / "fixtures" / "faces" / "london_024_neutral.jpg"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Tiny imitator and extractor, 40 rig renders, and a predictor trained for a few steps."""
    weights = write_tiny_weights(tmp_path_factory.mktemp("weights"))
    shards = tmp_path_factory.mktemp("shards")
    sample_dataset(shards, n=40, seed=5, size=32, shard_size=20, workers=1)
    tcfg = PredictorTrainConfig(
        config="tiny", steps=4, batch_size=8, photo_batch=0, val_n=8, val_every=2
    )
    train_predictor(
        shards, weights / "imitator-lite.pt", weights / "extractor-lite.pt", weights, tcfg,
        device=torch.device("cpu"), checkpoint=tmp_path_factory.mktemp("ckpt") / "p.ckpt",
    )  # fmt: skip
    install_as_shipped(weights, "predictor-tiny.pt", "predictor-lite.pt")
    return weights


def _read(extractor, model, images):
    """The fitter's way in: the photo targets' features, probabilities and colours."""
    spec = load_spec()
    targets = photo_targets(extractor, images, torch.rand(len(images), 68, 2), spec.labels, 32)
    return model(targets.features, targets.probs, color_vector(targets.colors))


def test_predictor_outputs_a_vector_in_the_rig_layout(trained):
    spec = load_spec()
    extractor = load_extractor(trained / "extractor-lite.pt")
    model = build_predictor("tiny", extractor, ParamLayout.from_spec(spec)).eval()
    with torch.no_grad():
        vec = _read(extractor, model, torch.rand(3, 3, 32, 32))
    assert vec.shape == (3, spec.vector_size)
    assert bool(((vec >= 0) & (vec <= 1)).all())
    for sl in spec.discrete_slices.values():
        assert torch.allclose(vec[:, sl].sum(1), torch.ones(3), atol=1e-5)


def test_manifest_records_the_error_of_every_control(trained):
    """An engineer retraining on their own game sees which controls the head cannot read."""
    spec = load_spec()
    validation = json.loads((trained / "manifest.json").read_text())["weights"][
        "predictor-lite.pt"
    ]["validation"]
    per_control = validation["continuous_mae_per_control"]
    assert sorted(per_control) == sorted(control.name for control in spec.continuous)
    assert all(0.0 <= v <= 1.0 for v in per_control.values())


def test_training_reads_an_image_as_the_fitter_does(trained):
    spec = load_spec()
    extractor = load_extractor(trained / "extractor-lite.pt")
    model = build_predictor("tiny", extractor, ParamLayout.from_spec(spec)).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        trained_on = model.vector(predict_raw(model, images, list(spec.labels)))
        assert torch.allclose(_read(extractor, model, images), trained_on, atol=1e-6)


def test_predictor_sees_the_region_colours(trained):
    """The colour controls need the photo's colours: the same features with other colours
    must give another answer."""
    spec = load_spec()
    extractor = load_extractor(trained / "extractor-lite.pt")
    torch.manual_seed(0)
    model = build_predictor("tiny", extractor, ParamLayout.from_spec(spec)).eval()
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = extractor(images)
        colors = torch.rand(1, model.cfg.color_size)
        a = model(out.features, out.probs, colors)
        b = model(out.features, out.probs, colors.flip(1))
    assert not torch.allclose(a, b)


def test_photo_labels_follow_the_manifest_and_refuse_unknown_names():
    spec = load_spec()
    records = [r for r in read_manifest() if r.set == "london"][:20]
    labels = photo_option_labels(records, ("gender=female:facial_hair=none",), spec)
    group = [g.name for g in spec.discrete].index("facial_hair")
    women = torch.tensor([r.gender == "female" for r in records])
    assert 0 < int(women.sum()) < len(records)
    assert labels[women, group].tolist() == [[True] + [False] * (labels.shape[2] - 1)] * int(
        women.sum()
    )  # "none" is option 0 and the only one allowed
    assert not labels[~women].any() and not labels[:, :group].any()
    for bad in (
        "gender=female:beard=none",  # a group the rig does not have
        "gender=female:facial_hair=mutton_chops",  # an option it does not have
        "gender=female:facial_hair=goatee|mutton_chops",
        "sex=female:facial_hair=none",  # a field the photos do not have
        "gender:facial_hair",
    ):
        with pytest.raises(SpecError, match="photo label"):
            photo_option_labels(records, (bad,), spec)


def test_photo_labels_read_the_by_eye_facial_hair_and_allow_several_options():
    spec = load_spec()
    records = [r for r in read_manifest() if r.set == "london" and r.id in ("004", "012")]
    labels = photo_option_labels(
        records, ("facial_hair_by_eye=beard:facial_hair=moustache|goatee|full_beard",), spec
    )
    group = [g.name for g in spec.discrete].index("facial_hair")
    options = list(spec.discrete[group].options)
    bearded = [r.id == "004" for r in records]  # 004: a beard by eye, 012: clean-shaven
    for row, beard in zip(labels[:, group], bearded, strict=True):
        allowed = {options[k] for k in range(len(options)) if row[k]}
        assert allowed == ({"moustache", "goatee", "full_beard"} if beard else set())


def test_train_refuses_a_bad_photo_label_before_any_work(tmp_path, capsys):
    """A misspelt rule is a user error (exit 2, code BAD_PARAMS), told before the photos are
    aligned or the networks loaded."""
    code = main([
        "train", "predictor", "--data", str(tmp_path / "no-shards"), "--out", str(tmp_path),
        "--photo-label", "gender=female:beard=none",
    ])  # fmt: skip
    assert code == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert error["code"] == "BAD_PARAMS" and "beard" in error["message"]


def test_photo_label_loss_pulls_labelled_photos_only():
    logits = [torch.zeros(3, 4, requires_grad=True), torch.zeros(3, 5, requires_grad=True)]
    labels = torch.zeros(3, 2, 5, dtype=torch.bool)
    labels[0, 1, 2] = True  # photo 0: option 2 of group 1
    labels[2, 0, 1] = True  # photo 2: option 1 of group 0
    loss = photo_label_loss(logits, labels)
    assert loss.item() == pytest.approx(
        float(torch.log(torch.tensor(4.0)) + torch.log(torch.tensor(5.0))) / 2
    )
    loss.backward()
    assert logits[1].grad[0, 2] < 0 and logits[0].grad[2, 1] < 0  # toward the labels
    assert not logits[0].grad[:2].any() and not logits[1].grad[1:].any()  # unlabelled: nothing
    assert photo_label_loss(logits, torch.zeros(3, 2, 5, dtype=torch.bool)).item() == 0.0


def test_a_partial_label_pulls_toward_any_of_its_options():
    logits = [torch.zeros(1, 5, requires_grad=True)]
    labels = torch.zeros(1, 1, 5, dtype=torch.bool)
    labels[0, 0, 2:] = True  # any of the last three
    loss = photo_label_loss(logits, labels)
    assert loss.item() == pytest.approx(float(torch.log(torch.tensor(5.0 / 3.0))))
    loss.backward()
    assert (logits[0].grad[0, :2] > 0).all() and (logits[0].grad[0, 2:] < 0).all()


def test_trained_predictor_loads_and_refuses_another_extractor(trained, tmp_path):
    extractor = load_extractor(trained / "extractor-lite.pt")
    path = trained / "predictor-lite.pt"
    assert not load_predictor(path, extractor, "cpu", trained / "extractor-lite.pt").training
    # The head was trained on other features: refuse it rather than predict nonsense.
    with pytest.raises(ModelError, match="another extractor"):
        load_predictor(path, extractor, "cpu", _retrained_extractor(tmp_path))


def _retrained_extractor(folder: Path) -> Path:
    from dataclasses import asdict

    from facefit.nets.extractor import build_extractor
    from facefit.nets.weights import save_weights

    spec = load_spec()
    torch.manual_seed(42)
    model = build_extractor("tiny", len(spec.labels))
    path = folder / "retrained" / "extractor-lite.pt"
    save_weights(
        path, network="extractor", config_name="tiny", config=asdict(model.cfg), rig=spec.rig_id,
        layout={}, state_dict=model.state_dict(), provenance={},
    )  # fmt: skip
    return path


def test_fast_mode_fits_with_the_predictor_alone(trained):
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=trained)
    fitter = load_fitter(settings, FitConfig(max_iters=5))
    fast = fitter.fit_photo(PHOTO.read_bytes(), mode="fast")
    assert fast.fit["iterations"] == 0 and fast.fit["mode"] == "fast"
    assert fast.fit["max_iters"] == 0  # its search ran no update: it says so
    assert "predictor-lite.pt" in fast.models
    # one pass, unjudged: no loss, and the real render is drawn only when asked for
    assert fast.fit["loss"] is None and fast.fit["similarity"] is None
    assert fast.fit["real_render_loss"] is None and "_render" not in vars(fast)
    assert fast.real_render.shape == (512, 512, 3)
    drawn = fitter.rig.render(fitter.spec.encode(fast.params)).image  # the params' own picture
    assert np.abs(fast.real_render.astype(np.int16) - drawn).mean() < 0.5
    full = fitter.fit_photo(PHOTO.read_bytes(), mode="full", threshold=1.0)
    assert full.fit["iterations"] == 5 and full.fit["max_iters"] == 5
