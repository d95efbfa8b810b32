"""The imitator: shapes and gradients, training writes checked weights, resume, evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from facefit.cli import main
from facefit.errors import ModelError
from facefit.nets.imitator import CONFIGS, build_imitator, load_imitator, load_imitator_with_info
from facefit.nets.weights import sha256_of
from facefit.train import toy
from facefit.train.common import run_training, start_from
from facefit.train.imitator import (
    ImitatorTrainConfig,
    control_probes,
    sensitivity_agreement,
    train_imitator,
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return toy.write_toy_shards(tmp_path_factory.mktemp("shards"), n=160, size=32, seed=3)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("weights")
    ckpt = tmp_path_factory.mktemp("ckpt") / "imitator-tiny.ckpt"
    tcfg = ImitatorTrainConfig(
        config="tiny", steps=120, batch_size=16, val_n=32, val_every=60, lr=1e-2, warmup=20
    )
    result = train_imitator(shards, out, tcfg, device=torch.device("cpu"), checkpoint=ckpt)
    return result, ckpt, tcfg


def test_configs_build_with_published_and_lite_output_sizes():
    for name, side in (("paper", 512), ("lite", 128), ("tiny", 16)):
        cfg = CONFIGS[name]
        assert cfg.size == side
    paper = build_imitator("paper", 40)
    assert [m.out_channels for m in paper.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [
        512, 512, 512, 256, 128, 64, 64, 3
    ]  # fmt: skip


def test_forward_shapes_and_gradient_reaches_every_parameter_value():
    model = build_imitator("tiny", toy.VECTOR_SIZE).eval()
    x = torch.rand(2, toy.VECTOR_SIZE, requires_grad=True)
    image, landmarks = model(x)
    assert image.shape == (2, 3, 16, 16)
    assert landmarks.shape == (2, 68, 2)
    (image.mean() + landmarks.mean()).backward()
    assert torch.all(x.grad.abs() > 0)


def test_training_lowers_error_and_writes_loadable_weights(trained, shards):
    result, _, _ = trained
    entry = json.loads((result.weights.parent / "manifest.json").read_text())["weights"][
        result.weights.name
    ]
    assert entry["rig"] == toy.RIG_ID
    assert entry["train_samples"] == 128
    assert entry["validation"]["pixel_l1"] == result.metrics["pixel_l1"]
    assert result.metrics["pixel_l1"] < 0.6 * result.metrics["mean_face_pixel_l1"]
    loaded = load_imitator_with_info(result.weights, "cpu", rig=toy.RIG_ID)
    assert not loaded.model.training
    assert loaded.layout["vector_size"] == toy.VECTOR_SIZE
    with torch.no_grad():
        image, _ = loaded.model(torch.from_numpy(toy.random_vector(np.random.default_rng(1)))[None])
    assert image.shape == (1, 3, 16, 16)


def test_loader_refuses_other_rig_and_changed_file(trained, tmp_path):
    result, _, _ = trained
    with pytest.raises(ModelError, match="trained for rig 'toy/1'"):
        load_imitator(result.weights, "cpu", rig="other/2")
    copy = tmp_path / result.weights.name
    copy.write_bytes(result.weights.read_bytes() + b"x")
    (tmp_path / "manifest.json").write_text((result.weights.parent / "manifest.json").read_text())
    with pytest.raises(ModelError, match="does not match its manifest"):
        load_imitator(copy, "cpu", rig=toy.RIG_ID)
    (tmp_path / "manifest.json").write_text('{"weights": {}}')
    with pytest.raises(ModelError, match="not listed"):
        load_imitator(copy, "cpu", rig=toy.RIG_ID)


def test_resume_continues_from_checkpoint(trained, shards, tmp_path):
    _, ckpt, tcfg = trained
    longer = ImitatorTrainConfig(**{**tcfg.__dict__, "steps": 130})
    result = train_imitator(
        shards, tmp_path, longer, device=torch.device("cpu"), checkpoint=ckpt, resume=True
    )
    assert result.steps == 130
    assert torch.load(ckpt, weights_only=False)["step"] == 130


def test_init_fine_tunes_from_a_weights_file_and_records_it(trained, shards, tmp_path):
    result, _, tcfg = trained
    # With a vanishing learning rate the run ends where it started: the file's network.
    short = replace(tcfg, steps=2, val_every=2, lr=1e-9, warmup=1, init=str(result.weights))
    cpu = torch.device("cpu")
    tuned = train_imitator(shards, tmp_path / "tuned", short, device=cpu, checkpoint=tmp_path / "t")
    fresh = train_imitator(
        shards, tmp_path / "fresh", replace(short, init=None), device=cpu, checkpoint=tmp_path / "f"
    )
    assert tuned.metrics["pixel_l1"] == pytest.approx(result.metrics["pixel_l1"], rel=0.02)
    assert fresh.metrics["pixel_l1"] > 1.5 * tuned.metrics["pixel_l1"]
    entry = json.loads((tuned.weights.parent / "manifest.json").read_text())["weights"]
    assert entry[tuned.weights.name]["train_config"]["init"] == str(result.weights)
    # the file itself, which a later run may replace at that path
    assert entry[tuned.weights.name]["init_sha256"] == sha256_of(result.weights)
    fresh_entry = json.loads((fresh.weights.parent / "manifest.json").read_text())["weights"]
    assert "init_sha256" not in fresh_entry[fresh.weights.name]


def test_init_refuses_another_networks_file(trained):
    result, _, _ = trained
    with pytest.raises(ModelError, match="holds a 'imitator' network"):
        start_from(torch.nn.Linear(4, 1), result.weights, "detail")


@dataclass(frozen=True)
class ToyLoop:
    steps: int = 12
    batch_size: int = 8
    lr: float = 0.05
    warmup: int = 3
    val_every: int = 4
    checkpoint_minutes: float = 0.0  # after every step
    max_minutes: float | None = None
    init: str | None = None


class Killed(Exception):
    """Stands in for the process dying mid-run."""


def toy_run(checkpoint, tcfg=ToyLoop(), *, resume=False, kill_at=None):
    """A linear model fitted by `run_training` on batches drawn from numpy's and torch's rngs."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.Adam(model.parameters())
    rng = np.random.default_rng(0)

    def step_loss():
        x = torch.from_numpy(rng.normal(size=(8, 4)).astype(np.float32))
        noise = 0.1 * torch.randn(8, 1)  # torch's generator must resume too
        return ((model(x) - x.sum(1, keepdim=True) - noise) ** 2).mean()

    seen = []

    def on_step(p):
        seen.append(p.step)
        if p.step == kill_at:
            raise Killed

    def validate(step):
        return {"w": model.weight.detach().clone()}

    run = run_training(
        tcfg, model, opt, rng, step_loss, validate,
        checkpoint=checkpoint, resume=resume, on_step=on_step,
    )  # fmt: skip
    return run, seen, model


def test_driver_resumes_where_it_was_killed_and_ends_as_if_never_stopped(tmp_path):
    whole, _, model = toy_run(tmp_path / "whole.ckpt")
    ckpt = tmp_path / "killed.ckpt"
    with pytest.raises(Killed):
        toy_run(ckpt, kill_at=7)
    assert torch.load(ckpt, weights_only=False)["step"] == 6  # the last completed checkpoint
    resumed, seen, resumed_model = toy_run(ckpt, resume=True)
    assert seen == list(range(7, 13))
    assert resumed.step == 12 and [h["step"] for h in resumed.history] == [4, 8, 12]
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert torch.equal(a["w"], b["w"])
    for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_driver_stops_at_max_minutes_and_still_checkpoints(tmp_path):
    run, seen, _ = toy_run(tmp_path / "c.ckpt", ToyLoop(max_minutes=0.0))
    assert seen == [1] and run.step == 1
    assert torch.load(tmp_path / "c.ckpt", weights_only=False)["step"] == 1


def test_sensitivity_agreement_is_a_cosine_over_moving_controls(trained):
    result, _, _ = trained
    model = load_imitator(result.weights, "cpu", rig=toy.RIG_ID)
    rng = np.random.default_rng(5)
    vectors = np.stack([toy.random_vector(rng) for _ in range(32)])
    controls = list(range(toy.CONTINUOUS))
    steps, centres = control_probes(vectors, controls)
    out = sensitivity_agreement(
        model, lambda v: toy.render(v, 32), vectors[:2], controls, steps, centres
    )
    assert 0.0 <= out["sensitivity_agreement"] <= 1.0
    assert out["sensitivity_controls_measured"] >= toy.CONTINUOUS - 2


def test_eval_cli_on_shards_reports_the_issue_metrics(trained, shards, capsys, tmp_path):
    result, _, _ = trained
    picture = tmp_path / "imitator.png"
    code = main(
        ["eval", "imitator", "--weights", str(result.weights), "--data", str(shards),
         "--n", "40", "--json", "--picture", str(picture)]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("pixel_l1", "per_region_l1", "landmark_error_pct", "sensitivity_agreement"):
        assert key in out
    assert out["per_region_l1"]["skin"] > 0
    assert picture.exists()
