"""The controls reader network: what it reads and its training (its place in the fit's start:
test_fit_start.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facefit.nets.controls import build_controls_reader, load_controls_reader
from facefit.rig.spec import load_spec
from facefit.train.controls import photo_like
from tests.tiny_weights import with_controls_reader


@pytest.fixture(scope="module")
def trained() -> Path:
    return with_controls_reader()


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
