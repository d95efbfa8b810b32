"""Tiny untrained networks written as a real weights folder (manifest, sha256, rig id).

They make every code path of a fit run in seconds: alignment, the search, the real rig's
check, results and pictures. Their parameters are valid but meaningless; quality is measured
by `facefit eval` on the shipped weights, never by these.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path


def write_tiny_weights(folder: Path) -> Path:
    """Write `imitator-lite.pt` and `extractor-lite.pt` (tiny configs) and their manifest."""
    import torch

    from facefit.nets.extractor import build_extractor
    from facefit.nets.imitator import build_imitator
    from facefit.nets.weights import save_weights
    from facefit.rig.spec import load_spec

    torch.manual_seed(0)
    spec = load_spec()
    networks = {
        "imitator": build_imitator("tiny", spec.vector_size),
        "extractor": build_extractor("tiny", len(spec.labels)),
    }
    for network, model in networks.items():
        # Stored under the shipped config's file name, which is what `load_fitter` looks for.
        save_weights(
            folder / f"{network}-lite.pt",
            network=network,
            config_name="tiny",
            config=asdict(model.cfg),
            rig=spec.rig_id,
            layout={"vector_size": spec.vector_size, "labels": list(spec.labels)},
            state_dict=model.state_dict(),
            provenance={"train_samples": 0, "data": "untrained test network"},
        )
    return folder


def copy_weights(source: Path, folder: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """Copy a weights folder's files (weights, manifest) into `folder`, but `leave_out`."""
    for path in source.iterdir():
        if path.name not in leave_out:
            (folder / path.name).write_bytes(path.read_bytes())
    return folder


def train_tiny_reader(
    shards: Path, weights: Path, config: str, shipped: str, seed: int = 0
) -> None:
    """Train a tiny detail reader (`config`) for a few steps on `shards` and install it in
    `weights` as the shipped file `shipped` (`detail-eyes.pt`)."""
    import torch

    from facefit.train.detail import DetailTrainConfig, train_detail

    tcfg = DetailTrainConfig(config=config, steps=3, batch_size=8, val_n=6, val_every=3, seed=seed)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = Path(scratch) / "detail.ckpt"
        train_detail(shards, weights, tcfg, device=torch.device("cpu"), checkpoint=checkpoint)
    install_as_shipped(weights, f"detail-{config}.pt", shipped)


def install_as_shipped(weights: Path, trained: str, shipped: str) -> None:
    """Rename a test-trained file (`predictor-tiny.pt`) to the shipped config's name, in the
    manifest too, so that `load_fitter` picks it up."""
    (weights / trained).rename(weights / shipped)
    manifest = weights / "manifest.json"
    manifest.write_text(manifest.read_text().replace(trained, shipped))


@functools.cache
def tiny_weights_dir() -> Path:
    """One tiny weights folder per test process, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="facefit-tiny-weights-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_tiny_weights(folder)
