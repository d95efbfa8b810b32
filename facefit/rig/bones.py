"""Bone-like controls: translate / rotate / scale a region of the rest mesh with smooth falloff.

Each continuous shape control drives one or two bones. A bone's weight at a rest point is
1 inside `inner` of its ellipsoidal region and falls smoothly to 0 at its boundary; regions
marked `mirror` act on both sides of the face with x mirrored, so every control is symmetric.
Displacements of all bones are summed (linear blend), computed from rest positions only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

# Mesh parts a bone can act on (see `geometry.PART_*`).
HEAD, EARS, EYES, MOUTH, HAIR, BODY = "head", "ears", "eyes", "mouth", "hair", "body"
FACE_PARTS = frozenset({HEAD, EYES, MOUTH, HAIR})
ALL_PARTS = frozenset({HEAD, EARS, EYES, MOUTH, HAIR, BODY})


@dataclass(frozen=True)
class Bone:
    """A region (centre, radii, inner) and the transform applied at control value 1.

    At control value t the transform is scaled by k = 2t - 1, so 0.5 leaves the face alone.
    `ygate` = (y0, direction) limits the bone to rest points above (+1) or below (-1) y0.
    """

    control: str
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    inner: float = 0.3
    pivot: tuple[float, float, float] | None = None
    translate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotate_deg: float = 0.0
    rotate_axis: int = 2
    rotate_offset_deg: float = 0.0
    mirror: bool = False
    parts: frozenset[str] = FACE_PARTS | frozenset({EARS, BODY})
    ygate: tuple[float, float] | None = None

    def weights(self, rest: np.ndarray) -> np.ndarray:
        """(N,) weights in [0, 1] of rest points (N, 3)."""
        p = rest.copy()
        if self.mirror:
            p[:, 0] = np.abs(p[:, 0])
        d = np.sqrt((((p - np.asarray(self.centre)) / np.asarray(self.radii)) ** 2).sum(axis=1))
        w = 1.0 - _smoothstep(self.inner, 1.0, d)
        if self.ygate is not None:
            y0, direction = self.ygate
            w = w * _smoothstep(-0.06, 0.06, direction * (rest[:, 1] - y0))
        return w.astype(np.float32)

    def displacement(self, rest: np.ndarray, k: float) -> np.ndarray:
        """(N, 3) displacement of rest points at full weight for k in [-1, 1]."""
        pivot = np.asarray(self.pivot if self.pivot is not None else self.centre, np.float64)
        side = np.where(rest[:, 0] < 0, -1.0, 1.0) if self.mirror else np.ones(len(rest))
        piv = np.broadcast_to(pivot, rest.shape).copy()
        if self.mirror:
            piv[:, 0] = side * pivot[0]
        local = rest - piv
        out = local * (np.asarray(self.scale) * k)
        if self.rotate_deg:
            angle = np.deg2rad(self.rotate_deg * k + self.rotate_offset_deg) * side
            a, b = [(1, 2), (0, 2), (0, 1)][self.rotate_axis]
            cos, sin = np.cos(angle), np.sin(angle)
            ra = local[:, a] * cos - local[:, b] * sin
            rb = local[:, a] * sin + local[:, b] * cos
            out[:, a] += ra - local[:, a]
            out[:, b] += rb - local[:, b]
        t = np.asarray(self.translate) * k
        out[:, 0] += side * t[0]
        out[:, 1] += t[1]
        out[:, 2] += t[2]
        return out


def _smoothstep(e0, e1, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


EAR_ROOT = (6.9, -1.3, -0.6)
_EYE = (3.15, 0.0, 7.0)
_EYE_PIVOT = (3.15, 0.0, 6.55)
_ONLY_HEAD = frozenset({HEAD, EYES, MOUTH})

BONES: tuple[Bone, ...] = (
    # face and head shape
    Bone("head_width", (0, 0, 0), (200, 200, 200), 0.9, (0, 0, 0), scale=(0.12, 0, 0)),
    Bone("skull_height", (0, 16, -1), (40, 12, 40), 0.2, translate=(0, 1.2, 0),
         parts=frozenset({HEAD, HAIR}), ygate=(6.0, 1)),
    Bone("face_length", (0, -13, 4), (40, 12.5, 40), 0.15, (0, 0, 0), scale=(0, 0.1, 0),
         parts=FACE_PARTS, ygate=(0.0, -1)),
    Bone("forehead_height", (0, 12, 4), (40, 10, 40), 0.2, (0, 2.0, 0), scale=(0, 0.15, 0),
         parts=FACE_PARTS | {EARS}, ygate=(2.0, 1)),
    Bone("forehead_slope", (0, 9.5, 9), (9, 5, 5), 0.2, translate=(0, 0, -1.0)),
    Bone("temple_width", (6.8, 4.5, 3), (3.2, 3.5, 5), 0.2, translate=(1.0, 0, 0), mirror=True),
    Bone("cheekbone_width", (5.6, -2.2, 5), (2.6, 2.2, 4), 0.2, translate=(0.8, 0, 0),
         mirror=True),
    Bone("cheekbone_height", (5.2, -2.2, 5.5), (2.6, 2.2, 4), 0.2, translate=(0, 0.8, 0),
         mirror=True),
    Bone("cheek_fullness", (4.4, -5.6, 6.5), (2.4, 2.3, 4), 0.15, translate=(0.35, 0, 0.6),
         mirror=True),
    Bone("jaw_width", (5.6, -8.5, 2.5), (3.6, 4.2, 7), 0.2, (0, -8.5, 0), scale=(0.2, 0, 0),
         parts=_ONLY_HEAD | {HAIR}),
    Bone("jaw_angle", (6.0, -9.3, 1.5), (2.4, 2.4, 4.5), 0.1, translate=(0.5, -0.5, 0),
         mirror=True, parts=_ONLY_HEAD),
    Bone("jaw_height", (5.8, -8.8, 2), (3.2, 3.4, 6), 0.2, translate=(0, 1.0, 0), mirror=True,
         parts=_ONLY_HEAD),
    Bone("chin_width", (0, -11.0, 7), (3.6, 2.4, 7), 0.2, (0, -11.0, 8), scale=(0.3, 0, 0),
         parts=_ONLY_HEAD),
    Bone("chin_length", (0, -11.8, 7), (5.5, 3.6, 6), 0.3, translate=(0, -0.9, 0),
         parts=_ONLY_HEAD),
    Bone("chin_protrusion", (0, -10.8, 8), (4, 2.8, 5), 0.2, translate=(0, 0, 1.0),
         parts=_ONLY_HEAD),
    Bone("chin_shape", (2.0, -11.4, 7.5), (2.0, 1.6, 4), 0.1, translate=(0.7, -0.2, 0),
         mirror=True, parts=_ONLY_HEAD),
    Bone("neck_width", (0, -20, -1), (40, 10, 40), 0.3, (0, -20, -1), scale=(0.15, 0, 0.1),
         parts=frozenset({BODY})),
    # eyes
    Bone("eye_size", _EYE, (2.0, 1.6, 3), 0.45, _EYE_PIVOT, scale=(0.15, 0.15, 0.15), mirror=True),
    Bone("eye_spacing", _EYE, (2.2, 1.8, 3), 0.45, translate=(0.63, 0, 0), mirror=True),
    Bone("eye_height", _EYE, (2.2, 1.8, 3), 0.45, translate=(0, 0.6, 0), mirror=True),
    Bone("eye_depth", _EYE, (1.9, 1.5, 3), 0.45, translate=(0, 0, 0.4), mirror=True),
    # brows
    Bone("brow_height", (3.6, 2.0, 7.5), (3.4, 1.25, 4), 0.35, translate=(0, 0.6, 0),
         mirror=True),
    Bone("brow_spacing", (3.6, 2.0, 7.5), (3.4, 1.25, 4), 0.35, translate=(0.5, 0, 0),
         mirror=True),
    # nose
    Bone("nose_length", (0, -3.9, 9.5), (2.2, 1.5, 4), 0.3, translate=(0, -0.7, 0)),
    Bone("nose_height", (0, -2.0, 9), (2.6, 3.6, 5), 0.5, translate=(0, 0.5, 0)),
    Bone("nose_width", (0, -3.9, 9), (2.8, 1.3, 4), 0.3, (0, -3.9, 9), scale=(0.25, 0, 0)),
    Bone("nose_bridge_height", (0, -0.8, 9.5), (1.2, 2.6, 4), 0.3, translate=(0, 0, 0.5)),
    Bone("nose_bridge_width", (0, -0.8, 9), (1.8, 2.4, 4), 0.3, (0, -0.8, 9),
         scale=(0.33, 0, 0)),
    Bone("nose_protrusion", (0, -3.3, 11), (1.8, 1.4, 3), 0.2, translate=(0, 0, 0.6)),
    Bone("nose_tip_size", (0, -3.4, 11.2), (1.2, 1.0, 2), 0.3, (0, -3.4, 10.6),
         scale=(0.35, 0.35, 0.35)),
    Bone("nose_tip_angle", (0, -3.6, 11), (1.3, 1.2, 2.5), 0.2, translate=(0, 0.35, 0)),
    Bone("nostril_size", (1.15, -3.9, 9.8), (0.9, 0.8, 2), 0.2, (1.15, -3.9, 9.6),
         scale=(0.3, 0.3, 0.3), mirror=True),
    # mouth
    Bone("mouth_width", (0, -6.8, 9.5), (4.0, 1.6, 4), 0.25, (0, -6.8, 9), scale=(0.2, 0, 0)),
    Bone("mouth_height", (0, -6.8, 9.5), (3.8, 2.2, 4), 0.4, translate=(0, 0.6, 0)),
    Bone("upper_lip_thickness", (0, -6.3, 9.5), (3.0, 1.0, 4), 0.45, (0, -6.75, 9.5),
         scale=(0, 0.55, 0.25), ygate=(-6.8, 1)),
    Bone("lower_lip_thickness", (0, -7.3, 9.5), (3.0, 1.2, 4), 0.45, (0, -6.75, 9.5),
         scale=(0, 0.55, 0.25), ygate=(-6.8, -1)),
    Bone("mouth_corner_tilt", (2.5, -6.9, 8.5), (1.2, 1.0, 3), 0.1, translate=(0, 0.35, 0),
         mirror=True),
    Bone("mouth_protrusion", (0, -6.9, 10), (3.2, 1.8, 4), 0.3, translate=(0, 0, 0.5)),
    # ears
    Bone("ear_size", (7.3, -1.3, -0.6), (4, 5, 4), 0.9, EAR_ROOT, scale=(0.2, 0.2, 0.2),
         mirror=True, parts=frozenset({EARS})),
    Bone("ear_protrusion", (7.3, -1.3, -0.6), (4, 5, 4), 0.9, EAR_ROOT, rotate_deg=-17.5,
         rotate_axis=1, mirror=True, parts=frozenset({EARS})),
    Bone("ear_height", (7.3, -1.3, -0.6), (4, 5, 4), 0.9, translate=(0, 1.0, 0), mirror=True,
         parts=frozenset({EARS})),
    Bone("ear_lobe", (7.4, -4.0, -0.4), (2.0, 1.4, 3), 0.3, translate=(0, -0.4, 0), mirror=True,
         parts=frozenset({EARS})),
)  # fmt: skip

# Controls that act through shading or outlines rather than bones.
SHADER_CONTROLS = frozenset(
    {
        "hairline_height", "eye_width", "eye_opening", "eye_tilt", "lid_shape", "lower_lid",
        "iris_size", "eye_color", "brow_tilt", "brow_arch", "brow_thickness", "brow_length",
        "brow_darkness", "cupids_bow", "mouth_open", "skin_tone", "skin_warmth", "cheek_blush",
        "lip_color", "hair_color", "hair_redness", "hair_volume", "facial_hair_density",
    }
)  # fmt: skip


@dataclass(frozen=True)
class BoneTable:
    """What every bone does to a mesh, as two sparse (3N, B) matrices of weighted displacements.

    Column b holds weight * displacement of bone b at k = 1 (`positive`) and at k = -1
    (`negative`; rotations and gates are not odd), so deforming is two sparse products.
    """

    positive: sparse.csr_matrix
    negative: sparse.csr_matrix
    controls: tuple[str, ...]


def build_table(rest: np.ndarray, parts: np.ndarray, bones: tuple[Bone, ...] = BONES) -> BoneTable:
    """Precompute what each bone does to `rest` (N, 3) whose mesh part names are `parts` (N,)."""
    rows, cols, pos, neg = [], [], [], []
    for column, bone in enumerate(bones):
        mask = np.isin(parts, list(bone.parts))
        w = np.zeros(len(rest), np.float32)
        w[mask] = bone.weights(rest[mask])
        idx = np.nonzero(w > 1e-4)[0]
        sub = rest[idx]
        rows.append((idx[:, None] * 3 + np.arange(3)).ravel())
        cols.append(np.full(3 * len(idx), column))
        pos.append((w[idx, None] * bone.displacement(sub, 1.0)).ravel())
        neg.append((w[idx, None] * bone.displacement(sub, -1.0)).ravel())
    shape = (3 * len(rest), len(bones))
    rows_all, cols_all = np.concatenate(rows), np.concatenate(cols)

    def matrix(data: list[np.ndarray]) -> sparse.csr_matrix:
        values = np.concatenate(data).astype(np.float32)
        return sparse.csr_matrix((values, (rows_all, cols_all)), shape=shape)

    return BoneTable(matrix(pos), matrix(neg), tuple(b.control for b in bones))


def apply_table(rest: np.ndarray, table: BoneTable, values: dict[str, float]) -> np.ndarray:
    """Deformed positions (N, 3) for control values in [0, 1].

    Each bone's displacement is linear in k on each side of 0.5 (exact for translation and
    scale; a rotation is interpolated between its end poses, close enough for 35 degrees).
    """
    k = np.array([2.0 * values[name] - 1.0 for name in table.controls], np.float32)
    moved = table.positive @ np.maximum(k, 0.0) + table.negative @ np.maximum(-k, 0.0)
    return (rest.reshape(-1) + moved).astype(np.float32).reshape(rest.shape)


@dataclass(frozen=True)
class BoneArrays:
    """All bones as stacked arrays, to move a few points (landmarks) in one vectorised step."""

    centre: np.ndarray  # (B, 3)
    radii: np.ndarray  # (B, 3)
    inner: np.ndarray  # (B,)
    pivot: np.ndarray  # (B, 3)
    translate: np.ndarray  # (B, 3)
    scale: np.ndarray  # (B, 3)
    mirror: np.ndarray  # (B,) bool
    ygate: np.ndarray  # (B, 2): y0, direction (0 = none)
    rotating: tuple[int, ...]  # bones with rotations (handled one by one)
    controls: tuple[str, ...]


def bone_arrays(bones: tuple[Bone, ...] = BONES, part: str = HEAD) -> BoneArrays:
    """Stack the bones acting on `part`."""
    sel = [b for b in bones if part in b.parts]
    return BoneArrays(
        centre=np.array([b.centre for b in sel], float),
        radii=np.array([b.radii for b in sel], float),
        inner=np.array([b.inner for b in sel], float),
        pivot=np.array([b.pivot if b.pivot is not None else b.centre for b in sel], float),
        translate=np.array([b.translate for b in sel], float),
        scale=np.array([b.scale for b in sel], float),
        mirror=np.array([b.mirror for b in sel]),
        ygate=np.array([b.ygate if b.ygate is not None else (0.0, 0.0) for b in sel], float),
        rotating=tuple(i for i, b in enumerate(sel) if b.rotate_deg),
        controls=tuple(b.control for b in sel),
    )


def apply_points(rest: np.ndarray, arr: BoneArrays, values: dict[str, float]) -> np.ndarray:
    """Deform a few rest points (N, 3) exactly like `apply_table` does for mesh vertices."""
    if arr.rotating:
        raise NotImplementedError("rotating bones are applied to mesh vertices only")
    k = np.array([2.0 * values[c] - 1.0 for c in arr.controls])  # (B,)
    side = np.where(rest[:, 0] < 0, -1.0, 1.0)  # (N,)
    sgn = np.where(arr.mirror[:, None], side[None, :], 1.0)  # (B, N)
    p = np.broadcast_to(rest, (len(k), *rest.shape)).copy()  # (B, N, 3)
    p[..., 0] = np.where(arr.mirror[:, None], np.abs(rest[None, :, 0]), rest[None, :, 0])
    d = np.sqrt((((p - arr.centre[:, None]) / arr.radii[:, None]) ** 2).sum(-1))  # (B, N)
    w = 1.0 - _smoothstep(arr.inner[:, None], 1.0, d)
    gate = arr.ygate[:, 1:2] != 0
    gated = _smoothstep(-0.06, 0.06, arr.ygate[:, 1:2] * (rest[None, :, 1] - arr.ygate[:, 0:1]))
    w = np.where(gate, w * gated, w)
    piv = np.broadcast_to(arr.pivot[:, None], p.shape).copy()
    piv[..., 0] = piv[..., 0] * sgn
    local = rest[None] - piv
    disp = local * (arr.scale[:, None] * k[:, None, None])
    disp[..., 0] += sgn * arr.translate[:, None, 0] * k[:, None]
    disp[..., 1:] += arr.translate[:, None, 1:] * k[:, None, None]
    return (rest + (w[..., None] * disp).sum(0)).astype(np.float32)
