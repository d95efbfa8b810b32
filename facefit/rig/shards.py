"""Training shards of (parameter vector, image, label map, landmarks), memory-mappable.

A shard folder is `meta.json` plus `shard-XXXXX/{params,images,labels,landmarks}.npy`
written with plain `np.save`, so `np.load(mmap_mode="r")` reads any sample without loading
a shard. `meta.json` carries the full spec, so a studio's own client trains the same way.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facefit.errors import FacefitError

log = logging.getLogger(__name__)

META = "meta.json"
ARRAYS = ("params", "images", "labels", "landmarks")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


@dataclass(frozen=True)
class ShardFolderMeta:
    """What `meta.json` says: rig id, image size, vector size, labels, shards and full spec."""

    rig: str
    size: int
    vector_size: int
    labels: tuple[str, ...]
    shards: tuple[tuple[str, int], ...]
    spec: dict[str, Any]

    @property
    def n(self) -> int:
        return sum(n for _, n in self.shards)

    @property
    def layout(self) -> dict[str, Any]:
        """The parameter layout a network trained on these shards stores beside its weights."""
        return {"vector_size": self.vector_size, "labels": list(self.labels), "spec": self.spec}

    def to_json(self) -> dict[str, Any]:
        return {
            "rig": self.rig,
            "size": self.size,
            "vector_size": self.vector_size,
            "labels": list(self.labels),
            "shards": [{"name": name, "n": n} for name, n in self.shards],
            "spec": self.spec,
        }


def read_meta(root: str | Path) -> ShardFolderMeta:
    """Parse `root/meta.json`; a typed error if the folder is not a shard folder."""
    path = Path(root) / META
    if not path.exists():
        raise FacefitError(f"{root} is not a shard folder (no {META})", code="BAD_DATA")
    data = json.loads(path.read_text())
    return ShardFolderMeta(
        rig=str(data["rig"]),
        size=int(data["size"]),
        vector_size=int(data["vector_size"]),
        labels=tuple(data["labels"]),
        shards=tuple((s["name"], int(s["n"])) for s in data["shards"]),
        spec=data.get("spec") or {},
    )


def write_meta(root: str | Path, meta: ShardFolderMeta) -> None:
    """Write `meta.json` atomically (readers never see half a file)."""
    path = Path(root) / META
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta.to_json(), indent=1) + "\n")
    os.replace(tmp, path)


def shard_complete(root: str | Path, name: str, n: int) -> bool:
    """True if a shard's four arrays exist with `n` rows (what `--resume` skips)."""
    folder = Path(root) / name
    try:
        return all(np.load(folder / f"{a}.npy", mmap_mode="r").shape[0] == n for a in ARRAYS)
    except (OSError, ValueError):
        return False


class ShardWriter:
    """Collects samples of one shard and writes its arrays (to a temporary folder, then renamed)."""

    def __init__(self, root: str | Path, name: str, size: int, vector_size: int) -> None:
        self.root = Path(root)
        self.name = name
        self.size = int(size)
        self.vector_size = int(vector_size)
        self._rows: dict[str, list[np.ndarray]] = {a: [] for a in ARRAYS}

    def __len__(self) -> int:
        return len(self._rows["params"])

    def add(
        self,
        params: np.ndarray,
        image: np.ndarray,
        labels: np.ndarray,
        landmarks: np.ndarray | None,
    ) -> None:
        """One sample: params (D,), image (S,S,3) uint8, labels (S,S) uint8, landmarks (68,2) px."""
        s = self.size
        params = np.asarray(params, np.float32).reshape(-1)
        if params.shape != (self.vector_size,):
            raise FacefitError(f"params has shape {params.shape}, expected ({self.vector_size},)",
                               code="BAD_DATA")  # fmt: skip
        if image.shape != (s, s, 3) or image.dtype != np.uint8:
            raise FacefitError(f"image must be ({s}, {s}, 3) uint8, got {image.shape} {image.dtype}",
                               code="BAD_DATA")  # fmt: skip
        if labels.shape != (s, s):
            raise FacefitError(f"labels must be ({s}, {s}), got {labels.shape}", code="BAD_DATA")
        lm = (
            np.full((68, 2), np.nan, np.float32)
            if landmarks is None
            else np.asarray(landmarks, np.float32).reshape(68, 2)
        )
        self._rows["params"].append(params)
        self._rows["images"].append(image)
        self._rows["labels"].append(labels.astype(np.uint8))
        self._rows["landmarks"].append(lm)

    def close(self) -> int:
        """Write the arrays; returns the number of samples."""
        final = self.root / self.name
        tmp = self.root / f".{self.name}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for a in ARRAYS:
            np.save(tmp / f"{a}.npy", np.stack(self._rows[a]))
        if final.exists():
            for a in ARRAYS:
                (final / f"{a}.npy").unlink(missing_ok=True)
            final.rmdir()
        os.replace(tmp, final)
        return len(self)


class RigShardDataset:
    """A torch `Dataset` over a shard folder, memory-mapping each shard lazily per worker.

    Items are dicts of tensors: `params` (D,) float32, `image` (3, S, S) float32 in [0, 1],
    `labels` (S, S) int64, `landmarks` (68, 2) float32 divided by S (NaN where unknown).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.meta = read_meta(self.root)
        counts = np.array([n for _, n in self.meta.shards], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self._open: dict[int, Mapping[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _arrays(self, shard: int) -> Mapping[str, np.ndarray]:
        # opened on first use inside each DataLoader worker, never pickled open
        if shard not in self._open:
            folder = self.root / self.meta.shards[shard][0]
            self._open[shard] = {a: np.load(folder / f"{a}.npy", mmap_mode="r") for a in ARRAYS}
        return self._open[shard]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open"] = {}
        return state

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        shard = int(np.searchsorted(self._starts, index, side="right") - 1)
        row = index - int(self._starts[shard])
        arr = self._arrays(shard)
        image = torch.from_numpy(np.array(arr["images"][row])).permute(2, 0, 1).float() / 255.0
        return {
            "params": torch.from_numpy(np.array(arr["params"][row], dtype=np.float32)),
            "image": image,
            "labels": torch.from_numpy(np.array(arr["labels"][row], dtype=np.int64)),
            "landmarks": torch.from_numpy(np.array(arr["landmarks"][row], np.float32))
            / float(self.meta.size),
        }
