"""Rig shards held in memory at a network's resolution, served as whole batches.

A shard folder (`meta.json` + `shard-XXXXX/{params,images,labels,landmarks}.npy`) is what
`facefit rig sample` writes and what `facefit rig import` makes of a studio's own game
client. Everything a network needs to know about the rig (vector size, labels, rig id) is
read from `meta.json`, so training on an imported client needs no code change.

Per-sample `Dataset.__getitem__` plus a `DataLoader` costs more than a small network's step
on two CPU cores; here the arrays are resized once into uint8 memory (or memory-mapped when
already at the right size) and a batch is one fancy-indexing call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from facefit.rig.shards import ShardFolderMeta, ShardWriter, read_meta, shard_name, write_meta

logger = logging.getLogger(__name__)


def _majority_labels(stack: np.ndarray, factor: int) -> np.ndarray:
    """(N, S, S) labels shrunk by an integer `factor`: the most frequent class of each block.

    Nearest-neighbour shrinking would take each block's top-left pixel, a quarter pixel off
    the block the area-averaged image shows. Ties go to the higher class index, the small
    facial parts (brows, eyes, lips) over skin and background.
    """
    n, side = stack.shape[:2]
    blocks = stack.reshape(n, side // factor, factor, side // factor, factor)
    best = np.zeros((n, side // factor, side // factor), stack.dtype)
    best_count = np.zeros(best.shape, np.int32)
    present = np.flatnonzero(np.bincount(stack.ravel()))  # one pass, unlike a sort
    for c in present:  # ascending, so `>=` hands ties to the higher index
        count = (blocks == c).sum(axis=(2, 4))
        take = count >= best_count
        best[take], best_count[take] = c, count[take]
    return best


def _resize_stack(stack: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    import cv2

    side = stack.shape[1]
    if nearest and side % size == 0 and side != size:
        return _majority_labels(stack, side // size)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    out = np.empty((len(stack), size, size, *stack.shape[3:]), dtype=stack.dtype)
    for i, item in enumerate(stack):
        out[i] = cv2.resize(np.ascontiguousarray(item), (size, size), interpolation=interp)
    return out


class ShardArrays:
    """All samples of a shard folder as arrays at `size` px.

    params (N, D) float32; images (N, S, S, 3) uint8; labels (N, S, S) uint8;
    landmarks (N, 68, 2) float32 in [0, 1] of the image side.
    """

    def __init__(self, root: Path, size: int | None = None, limit: int | None = None) -> None:
        self.root = Path(root)
        self.meta = read_meta(root)
        self.size = size or self.meta.size
        params, images, labels, landmarks = [], [], [], []
        remaining = limit if limit is not None else self.meta.n
        for name, _ in self.meta.shards:
            if remaining <= 0:
                break
            folder = self.root / name
            p = np.load(folder / "params.npy", mmap_mode="r")[:remaining]
            count = len(p)
            im = np.load(folder / "images.npy", mmap_mode="r")[:count]
            lb = np.load(folder / "labels.npy", mmap_mode="r")[:count]
            lm = np.asarray(np.load(folder / "landmarks.npy", mmap_mode="r")[:count], np.float32)
            if float(np.abs(lm).max(initial=0.0)) > 2.0:  # stored in pixels of the shard size
                lm = lm / float(self.meta.size)
            if im.shape[1] != self.size:
                im = _resize_stack(im, self.size, nearest=False)
                lb = _resize_stack(lb, self.size, nearest=True)
            params.append(np.asarray(p, np.float32))
            images.append(im)
            labels.append(lb)
            landmarks.append(lm)
            remaining -= count
        self.params = np.concatenate(params)
        # One shard stays memory-mapped; several are joined once into memory.
        self.images = images[0] if len(images) == 1 else np.concatenate(images)
        self.labels = labels[0] if len(labels) == 1 else np.concatenate(labels)
        self.landmarks = np.concatenate(landmarks)
        if self.params.shape[1] != self.meta.vector_size:
            raise ValueError(
                f"params have {self.params.shape[1]} values, meta.json says {self.meta.vector_size}"
            )
        logger.info("loaded %d samples of rig %s at %d px", len(self), self.meta.rig, self.size)

    def __len__(self) -> int:
        return len(self.params)

    def provenance(self) -> dict[str, Any]:
        """The manifest's account of these shards as a network's training data."""
        return {
            "source": str(self.root),
            "rig": self.meta.rig,
            "shard_size": self.meta.size,
            "samples": len(self),
            "split": "fixed permutation seed 0",  # `split_indices`
        }

    def batch(self, index: np.ndarray) -> dict[str, Any]:
        """Tensors of the samples at `index` (sorted for memory-mapped reads)."""
        import torch

        index = np.sort(np.asarray(index))
        return {
            "params": torch.from_numpy(self.params[index]),
            "image": torch.from_numpy(np.ascontiguousarray(self.images[index]))
            .permute(0, 3, 1, 2)
            .float()
            .div_(255.0),
            "labels": torch.from_numpy(self.labels[index].astype(np.int64)),
            "landmarks": torch.from_numpy(self.landmarks[index]),
        }


def split_indices(n: int, val_n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed train/validation split: the same `val_n` faces are held out on every run."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_n:]), np.sort(order[:val_n])


def training_split(n: int, val_n: int) -> tuple[np.ndarray, np.ndarray]:
    """`split_indices` for a trainer, which refuses a folder too small to leave it any face."""
    if n <= val_n:
        raise ValueError(f"{n} samples cannot hold out {val_n} for validation")
    return split_indices(n, val_n, seed=0)


def write_shards(
    root: Path,
    *,
    rig: str,
    params: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    landmarks: np.ndarray,
    label_names: list[str],
    shard_size: int = 1000,
    spec: dict[str, Any] | None = None,
) -> Path:
    """Write whole arrays in the shard format (tests and other rigs' tooling)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    size, vector_size = int(images.shape[1]), int(params.shape[1])
    shards = []
    for k, start in enumerate(range(0, len(params), shard_size)):
        writer = ShardWriter(root, shard_name(k), size, vector_size)
        for i in range(start, min(start + shard_size, len(params))):
            writer.add(params[i], images[i].astype(np.uint8), labels[i], landmarks[i])
        shards.append((writer.name, writer.close()))
    meta = ShardFolderMeta(rig, size, vector_size, tuple(label_names), tuple(shards), spec or {})
    write_meta(root, meta)
    return root
