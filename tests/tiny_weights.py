"""Tiny untrained networks written as a real weights folder (manifest, sha256, rig id).

They make every code path of a fit run in seconds: alignment, the search, the real rig's
check, results and pictures. Their parameters are valid but meaningless; quality is measured
by `facefit eval` on the shipped weights, never by these.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import tempfile
from collections.abc import Iterator
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


def tiny_detail_configs_dict() -> dict:
    """Test-sized detail reader configs, by name: a brow reader and a reader of two controls."""
    from facefit.nets.detail import BROW_LANDMARKS, EYE_LANDMARKS, DetailConfig

    return {
        "tiny": DetailConfig(widths=(4, 8)),
        "tiny-controls": DetailConfig(
            group="",
            controls=("brow_arch", "lid_shape"),
            landmarks=BROW_LANDMARKS + EYE_LANDMARKS,
            widths=(4, 8),
            hidden=8,
        ),
    }


@contextlib.contextmanager
def tiny_detail_configs() -> Iterator[dict]:
    """The tiny detail configs, known by name to training (`--config tiny`) while inside."""
    from facefit.nets.detail import CONFIGS

    added = {k: v for k, v in tiny_detail_configs_dict().items() if k not in CONFIGS}
    CONFIGS.update(added)
    try:
        yield tiny_detail_configs_dict()
    finally:
        for name in added:
            CONFIGS.pop(name, None)


def train_tiny_reader(
    shards: Path, weights: Path, config: str, shipped: str, seed: int = 0
) -> None:
    """Train a tiny detail reader (`config`) for a few steps on `shards` and install it in
    `weights` as the shipped file `shipped` (`detail-eyes.pt`)."""
    import torch

    from facefit.train.detail import DetailTrainConfig, train_detail

    tcfg = DetailTrainConfig(config=config, steps=3, batch_size=8, val_n=6, val_every=3, seed=seed)
    with tempfile.TemporaryDirectory() as scratch, tiny_detail_configs():
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


@functools.cache
def tiny_shards() -> Path:
    """30 tiny rig renders in shards, shared by the tests that train tiny readers."""
    from facefit.rig.sampling import sample_dataset

    folder = _scratch("facefit-tiny-shards-")
    sample_dataset(folder, n=30, seed=3, size=64, shard_size=15, workers=1)
    return folder


@functools.cache
def with_controls_reader() -> Path:
    """Tiny networks and a tiny controls reader trained for a few steps, without a
    predictor: the start of `full` is then the average face's, blended with the reader's."""
    from facefit.train.controls import ControlsTrainConfig, train_controls

    weights = write_tiny_weights(_scratch("facefit-with-controls-"))
    tcfg = ControlsTrainConfig(config="tiny", steps=3, batch_size=8, val_n=6, val_every=3)
    return _train_tiny("controls", train_controls, weights, tcfg)


@functools.cache
def with_predictor() -> Path:
    """`with_controls_reader` with a tiny predictor trained for a few steps beside it."""
    from facefit.train.predictor import PredictorTrainConfig, train_predictor

    weights = copy_weights(with_controls_reader(), _scratch("facefit-with-predictor-"))
    tcfg = PredictorTrainConfig(
        config="tiny", steps=2, batch_size=8, photo_batch=0, val_n=6, val_every=2
    )
    networks = (weights / "imitator-lite.pt", weights / "extractor-lite.pt")
    return _train_tiny("predictor", train_predictor, weights, tcfg, *networks)


def _train_tiny(network: str, train, weights: Path, tcfg, *inputs: Path) -> Path:
    """Train `network` by `train(shards, *inputs, weights, tcfg, ...)` on the tiny shards and
    install it in `weights` under the shipped config's file name."""
    import torch

    checkpoint = _scratch("facefit-ckpt-") / f"{network}.ckpt"
    train(tiny_shards(), *inputs, weights, tcfg, device=torch.device("cpu"), checkpoint=checkpoint)
    install_as_shipped(weights, f"{network}-tiny.pt", f"{network}-lite.pt")
    return weights


@functools.cache
def with_detail_reader_of_controls() -> Path:
    """`with_controls_reader` with a tiny detail reader of two eye controls beside it."""
    weights = copy_weights(with_controls_reader(), _scratch("facefit-with-detail-"))
    train_tiny_reader(tiny_shards(), weights, "tiny-controls", "detail-eyes.pt")
    return weights


@functools.cache
def with_two_detail_readers_of_controls() -> Path:
    """... and a second one of the same two controls (another seed), as `detail-mouth.pt`."""
    weights = copy_weights(with_detail_reader_of_controls(), _scratch("facefit-with-two-"))
    train_tiny_reader(tiny_shards(), weights, "tiny-controls", "detail-mouth.pt", seed=1)
    return weights


def _scratch(prefix: str) -> Path:
    """A folder removed when the test process exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
