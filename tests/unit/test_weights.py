"""Weights files and their manifest: fp16 round trip, hash and network checks."""

from __future__ import annotations

import json

import pytest
import torch

from facefit.errors import ModelError
from facefit.nets.weights import load_weights, save_weights


def _save(tmp_path, name="net-x.pt", network="net"):
    state = {"w": torch.randn(3, 4), "steps": torch.tensor(7)}
    entry = save_weights(
        tmp_path / name, network=network, config_name="x", config={"size": 4}, rig="r/1",
        layout={"vector_size": 4}, state_dict=state, provenance={"train_samples": 10},
    )  # fmt: skip
    return state, entry


def test_round_trip_is_fp16_and_listed_in_manifest(tmp_path):
    state, entry = _save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["weights"]["net-x.pt"] == entry
    assert entry["train_samples"] == 10 and entry["rig"] == "r/1" and len(entry["sha256"]) == 64
    loaded = load_weights(tmp_path / "net-x.pt", network="net", expected_rig="r/1")
    assert loaded.state_dict["w"].dtype == torch.float16
    assert torch.allclose(loaded.state_dict["w"].float(), state["w"], atol=1e-2)
    assert loaded.state_dict["steps"].item() == 7


def test_second_file_keeps_the_first_entry(tmp_path):
    _save(tmp_path, "a-x.pt")
    _save(tmp_path, "b-x.pt")
    assert set(json.loads((tmp_path / "manifest.json").read_text())["weights"]) == {
        "a-x.pt", "b-x.pt"
    }  # fmt: skip


def test_trainers_saving_side_by_side_keep_every_entry(tmp_path):
    """Two close readers train side by side into one folder; each save reads, changes and
    writes the manifest, so without the lock one entry could overwrite the other's."""
    from concurrent.futures import ThreadPoolExecutor

    names = [f"n{k}-x.pt" for k in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda name: _save(tmp_path, name), names))
    assert set(json.loads((tmp_path / "manifest.json").read_text())["weights"]) == set(names)


def test_refuses_other_network_missing_file_and_changed_bytes(tmp_path):
    _save(tmp_path)
    with pytest.raises(ModelError, match="holds a 'net' network"):
        load_weights(tmp_path / "net-x.pt", network="imitator", expected_rig=None)
    with pytest.raises(ModelError, match="does not exist"):
        load_weights(tmp_path / "nope.pt", network="net", expected_rig=None)
    path = tmp_path / "net-x.pt"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelError, match="changed or truncated"):
        load_weights(path, network="net", expected_rig=None)
