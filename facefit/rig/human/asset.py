"""The committed geometry of the human rig (`assets/human.npz`), loaded once per process.

Built by `tools/build_human_rig.py` from MakeHuman's CC0 assets: the head-and-neck part of
the base mesh (dm, Y up, facing +Z), sparse float16 morph targets, and the proxies (hair,
eyebrows, eyes, eyelashes) bound to base-mesh triangles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from facefit.errors import FacefitError

ASSET_PATH = Path(__file__).resolve().parents[1] / "assets" / "human.npz"


@dataclass(frozen=True)
class Proxy:
    """A mesh that follows the head: each vertex a weighted triangle of base vertices + offset."""

    bind_idx: np.ndarray  # (P, 3) int: base vertices
    bind_w: np.ndarray  # (P, 3) float32
    bind_d: np.ndarray  # (P, 3) float32: offset, scaled by the head's size per axis
    scale: np.ndarray  # (3, 3): per axis (vertex a, vertex b, reference distance)
    vertex: np.ndarray  # (R,) int: proxy vertex of each render vertex (UV seams split them)
    uv: np.ndarray  # (R, 2) float32
    tris: np.ndarray  # (T, 3) int: render vertices

    def place(self, base: np.ndarray, lift: float = 1.0) -> np.ndarray:
        """Proxy vertex positions (P, 3) on the morphed base vertices (N, 3); `lift` scales
        each vertex's offset from the surface it is bound to (hair volume)."""
        axes = np.arange(3)
        a, b = self.scale[:, 0].astype(int), self.scale[:, 1].astype(int)
        size = np.abs(base[a, axes] - base[b, axes]) / self.scale[:, 2]
        pts = np.einsum("pk,pkc->pc", self.bind_w, base[self.bind_idx])
        return pts + self.bind_d * (size * lift)


@dataclass(frozen=True)
class HumanAsset:
    rest: np.ndarray  # (N, 3) float32, dm
    skin_vertex: np.ndarray
    skin_uv: np.ndarray
    skin_tris: np.ndarray
    proxies: dict[str, Proxy]
    targets: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (indices, deltas float32)
    extras: dict[str, np.ndarray]  # landmark vertices, label regions (the build's 2nd pass)


@cache
def load_asset(path: Path = ASSET_PATH) -> HumanAsset:
    """Read the asset; a typed error if the file is missing (a broken checkout)."""
    if not path.exists():
        raise FacefitError(f"{path} is missing; run tools/build_human_rig.py", code="RIG_ASSET")
    data = np.load(path)
    proxies = {}
    keys = {k.rsplit("/", 1)[0] for k in data.files if k.endswith("/bind_idx")}
    for key in sorted(keys):
        proxies[key] = Proxy(
            bind_idx=data[f"{key}/bind_idx"].astype(np.int64),
            bind_w=data[f"{key}/bind_w"],
            bind_d=data[f"{key}/bind_d"],
            scale=data[f"{key}/scale"].astype(np.float64),
            vertex=data[f"{key}/vertex"].astype(np.int64),
            uv=data[f"{key}/uv"],
            tris=data[f"{key}/tris"].astype(np.int64),
        )
    starts = data["target_starts"]
    idx, delta = data["target_idx"].astype(np.int64), data["target_delta"].astype(np.float32)
    targets = {
        str(name): (idx[starts[i] : starts[i + 1]], delta[starts[i] : starts[i + 1]])
        for i, name in enumerate(data["target_names"])
    }
    extras = {k: data[k] for k in data.files if k.startswith("lm_") or k.startswith("region_")}
    return HumanAsset(
        rest=data["rest"].astype(np.float32),
        skin_vertex=data["skin_vertex"].astype(np.int64),
        skin_uv=data["skin_uv"],
        skin_tris=data["skin_tris"].astype(np.int64),
        proxies=proxies,
        targets=targets,
        extras=extras,
    )
