"""The rest-pose head: procedural grid meshes for head, ears, eyes, mouth, body and hairstyles.

Every part is a regular grid of vertices (rows x columns) so that normals of the deformed
mesh are two finite differences, with no per-render topology work. Sizes are centimetres of
an average adult head; the frontal layout of eyes, brows, nose and mouth follows the mean
68-point landmarks of the Face Research Lab London set (see ASSETS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from scipy.interpolate import PchipInterpolator

from facefit.rig import shapes
from facefit.rig.bones import BODY, EARS, EYES, HAIR, HEAD, MOUTH

MATERIALS = {HEAD: 0, EARS: 1, EYES: 2, MOUTH: 3, HAIR: 4, BODY: 5}
SUPER = 2.4  # superellipse exponent of horizontal head sections: faces are flatter than ellipses

# Head profile knots: y, half width, section centre z, front depth, back depth (cm).
_PROFILE = np.array(
    [
        (13.7, 0.0, -0.6, 0.0, 0.0),
        (13.3, 3.0, -0.6, 3.4, 4.0),
        (12.2, 5.4, -0.6, 6.3, 7.0),
        (10.0, 6.9, -0.6, 8.5, 9.0),
        (7.0, 7.5, -0.5, 9.4, 9.6),
        (4.0, 7.5, -0.3, 9.5, 9.4),
        (1.0, 7.3, 0.0, 9.0, 8.8),
        (-1.0, 7.15, 0.0, 8.75, 8.5),
        (-3.0, 7.0, 0.2, 8.85, 8.0),
        (-5.0, 6.6, 0.5, 8.8, 7.0),
        (-7.0, 5.95, 1.0, 8.35, 5.6),
        (-9.0, 4.9, 1.5, 7.65, 4.5),
        (-10.5, 3.7, 2.2, 6.75, 3.6),
        (-11.5, 2.4, 3.0, 5.6, 2.6),
        (-12.1, 1.0, 3.6, 4.6, 1.6),
        (-12.3, 0.0, 4.0, 0.0, 0.0),
    ]
)
_P = {name: PchipInterpolator(_PROFILE[::-1, 0], _PROFILE[::-1, i]) for i, name in
      enumerate(("y", "w", "zc", "front", "back")) if i}  # fmt: skip


def _spow(v: np.ndarray, p: float) -> np.ndarray:
    return np.sign(v) * np.abs(v) ** p


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-(((x - cx) / sx) ** 2) - ((y - cy) / sy) ** 2)


def head_section(y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Base skull+face surface (no features) at heights y and angles theta (0 = front)."""
    w, zc = _P["w"](y), _P["zc"](y)
    depth = np.where(np.cos(theta) >= 0, _P["front"](y), _P["back"](y))
    x = w * _spow(np.sin(theta), 2.0 / SUPER)
    z = zc + depth * _spow(np.cos(theta), 2.0 / SUPER)
    return np.stack([x, np.broadcast_to(y, x.shape), z], axis=-1)


def face_features(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sculpt eyes, brows, nose, cheeks, lips and chin onto frontal points: new z, nose weight."""
    ax = np.abs(x)
    dz = (
        -0.8 * _gauss(ax, y, 3.1, 0.15, 1.75, 1.2)  # eye sockets
        + 0.38 * _gauss(ax, y, 2.7, 2.1, 2.2, 0.8)  # brow ridge
        + 0.45 * _gauss(ax, y, 4.6, -2.3, 1.6, 1.3)  # cheekbones
        - 0.22 * _gauss(ax, y, 4.3, -6.0, 1.4, 1.4)  # cheek hollows
        + 0.4 * _gauss(x, y, 0.0, -10.3, 1.8, 1.0)  # chin
        - 0.22 * _gauss(x, y, 0.0, -8.45, 1.5, 0.4)  # groove under the lower lip
        - 0.1 * _gauss(x, y, 0.0, -5.45, 0.22, 0.55)  # philtrum
        + 0.45 * _gauss(x, y, 0.0, -6.6, 3.0, 2.0)  # muzzle
        - 0.12 * _gauss(ax, y, 2.2, -4.7, 0.5, 1.3)  # nasolabial folds
    )
    # lips
    lips = shapes.LipShape(bow=1.0, gap=0.0)  # the average bow
    ym = lips.mouth_line(x)
    across = np.clip(1.0 - (x / (shapes.MOUTH_HALF_WIDTH + 0.15)) ** 2, 0.0, None) ** 0.5
    up_h = np.maximum(lips.upper(x) - ym, 0.05)
    lo_h = np.maximum(ym - lips.lower(x), 0.05)
    tu = (y - ym) / up_h
    tl = (ym - y) / lo_h
    dz += across * (
        0.42 * np.exp(-(((tu - 0.45) / 0.55) ** 2))
        + 0.5 * np.exp(-(((tl - 0.5) / 0.55) ** 2))
        - 0.18 * np.exp(-(((y - ym) / 0.07) ** 2))
    )
    # nose: bridge profile, tip, wings
    t = np.clip((0.6 - y) / 3.85, 0.0, None)
    ridge = np.where(
        y >= -3.25,
        0.35 + 2.05 * t**1.15,
        2.4 * np.sqrt(np.clip(1.0 - ((y + 3.25) / 1.4) ** 2, 0.0, None)),
    )
    ridge = np.where(y > 0.6, 0.35 * np.exp(-(((y - 0.6) / 0.6) ** 2)), ridge)
    width = 0.5 + 0.4 * np.clip(t, 0.0, 1.0)
    nose = ridge * np.exp(-((x / width) ** 2))
    nose = np.maximum(nose, 0.95 * _gauss(ax, y, 1.1, -3.95, 0.55, 0.5))  # wings
    nose += 0.25 * _gauss(x, y, 0.0, -3.3, 0.55, 0.5)  # tip
    dz += nose
    nose_w = _smoothstep(0.42, 0.62, nose) * (y < -0.5)
    z = z + dz
    # lids wrap the eyeball: blend towards a sphere just in front of it
    ex, ey = ax - shapes.EYE_X, y - shapes.EYE_Y
    r = np.sqrt(ex**2 + ey**2)
    lid_r = shapes.EYEBALL_RADIUS + 0.13
    lid = shapes.EYEBALL_Z + np.sqrt(np.clip(lid_r**2 - r**2, 0.0, None))
    blend = 1.0 - _smoothstep(0.75, 1.25, np.sqrt((ex / 1.35) ** 2 + (ey / 1.05) ** 2))
    z = z * (1.0 - blend) + np.maximum(lid, z - 0.35) * blend
    return z, nose_w.astype(np.float32)


def rest_front_point(xy: np.ndarray) -> np.ndarray:
    """Lift frontal (x, y) points (N, 2) onto the rest face surface: (N, 3)."""
    x, y = xy[:, 0], xy[:, 1]
    w = _P["w"](y)
    s = np.clip(np.abs(x) / np.maximum(w, 1e-6), 0.0, 1.0) ** (SUPER / 2.0)
    theta = np.sign(x) * np.arcsin(s)
    base = head_section(y, theta)
    z, _ = face_features(x, y, base[:, 2])
    gate = _smoothstep(0.35, 0.75, np.cos(theta))
    return np.stack([x, y, base[:, 2] * (1 - gate) + z * gate], axis=-1)


@dataclass(frozen=True)
class GridMesh:
    """A mesh as a rows x cols vertex grid; `wrap` closes the columns into a ring."""

    part: str
    rest: np.ndarray  # (R, C, 3) float32
    attr: np.ndarray  # (R, C, 2) float32: per-part extra data (nose weight, hair coverage, ...)
    wrap: bool
    flip: bool = False  # reverse triangle winding and normals (surfaces seen from inside)
    keep: np.ndarray | None = field(default=None)  # (R-1, C') bool: which quads to draw

    @property
    def shape(self) -> tuple[int, int]:
        return self.rest.shape[0], self.rest.shape[1]

    def triangles(self) -> np.ndarray:
        """(T, 3) uint32 vertex indices of the grid, two triangles per kept quad."""
        rows, cols = self.shape
        qc = cols if self.wrap else cols - 1
        r, c = np.meshgrid(np.arange(rows - 1), np.arange(qc), indexing="ij")
        c1 = (c + 1) % cols
        a, b = r * cols + c, r * cols + c1
        d, e = (r + 1) * cols + c, (r + 1) * cols + c1
        if self.keep is not None:
            mask = self.keep
            a, b, d, e = a[mask], b[mask], d[mask], e[mask]
        tri = np.concatenate([np.stack([a, d, b], -1), np.stack([b, d, e], -1)]).reshape(-1, 3)
        if self.flip:
            tri = tri[:, ::-1]
        return tri.astype(np.uint32)


def grid_normals(pos: np.ndarray, wrap: bool, flip: bool) -> np.ndarray:
    """Unit normals (R, C, 3) of a deformed grid from central differences."""
    du = np.roll(pos, -1, axis=1) - np.roll(pos, 1, axis=1) if wrap else np.gradient(pos, axis=1)
    dv = np.gradient(pos, axis=0)
    n = np.cross(dv, du) if not flip else np.cross(du, dv)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    return (n / np.maximum(length, 1e-8)).astype(np.float32)


def _front_theta(cols: int) -> np.ndarray:
    """Angles around the head, dense at the front where the face needs detail."""
    t = np.linspace(-1.0, 1.0, cols, endpoint=False) + 1.0 / cols
    return np.pi * np.sign(t) * np.abs(t) ** 1.55


def build_head(rows: int = 124, cols: int = 144) -> GridMesh:
    """Skull, face and under-chin as one closed grid from the crown down."""
    v = np.linspace(0.0, 1.0, rows)
    y = np.interp(v, [0.0, 0.06, 0.2, 0.86, 1.0], [13.7, 12.6, 7.0, -11.3, -12.3])
    theta = _front_theta(cols)
    yy, tt = np.meshgrid(y, theta, indexing="ij")
    base = head_section(yy, tt)
    x = base[..., 0]
    z, nose_w = face_features(x, yy, base[..., 2])
    gate = _smoothstep(0.35, 0.75, np.cos(tt))
    base[..., 2] = base[..., 2] * (1 - gate) + z * gate
    attr = np.stack([nose_w * gate, gate], axis=-1)
    return GridMesh(HEAD, base.astype(np.float32), attr.astype(np.float32), wrap=True)


def build_ears(rows: int = 14, cols: int = 28) -> list[GridMesh]:
    """Two cupped ear shells with a rim, pivoting at their root on the side of the head."""
    out = []
    r = np.linspace(0.0, 1.0, rows)
    a = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    rr, aa = np.meshgrid(r, a, indexing="ij")
    # outline: taller than wide, narrower lobe at the bottom
    half_h = 3.0
    half_w = 1.65 - 0.45 * np.clip(-np.sin(aa), 0, 1)
    u = rr * half_w * np.cos(aa)  # along the head, + = backwards
    v = rr * half_h * np.sin(aa) * np.where(np.sin(aa) < 0, 0.95, 1.0)
    cup = 0.55 * (1 - rr**2) - 0.25 * np.exp(-(((rr - 0.85) / 0.12) ** 2))  # bowl and rim
    for side in (-1.0, 1.0):
        root = np.array([side * 6.9, -1.3, -0.6])
        # ear plane faces sideways, turned 17.5 degrees forward (the average protrusion)
        ang = np.deg2rad(17.5)
        out_dir = np.array([side * np.cos(ang), 0.0, np.sin(ang)])
        back_dir = np.array([-side * np.sin(ang), 0.0, np.cos(ang)]) * -1.0
        up = np.array([0.0, 1.0, 0.0])
        centre = root + back_dir * 1.2 + out_dir * 0.35
        pos = (
            centre
            + u[..., None] * back_dir
            + v[..., None] * up
            - cup[..., None] * out_dir
            + (0.35 * rr**2)[..., None] * out_dir
        )
        attr = np.stack([rr, np.zeros_like(rr)], axis=-1)
        # winding: counter-clockwise seen from outside, so back faces can be culled
        out.append(GridMesh(EARS, pos.astype(np.float32), attr.astype(np.float32), wrap=True,
                            flip=side < 0))  # fmt: skip
    return out


def build_eyes(rows: int = 20, cols: int = 28) -> list[GridMesh]:
    """Two eyeballs; their rest positions tell the shader where iris and pupil are."""
    out = []
    lat = np.linspace(0.0, np.pi, rows)
    lon = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    # pole faces the camera so the grid is densest around the iris
    d = np.stack([np.sin(la) * np.cos(lo), np.sin(la) * np.sin(lo), np.cos(la)], axis=-1)
    for side in (-1.0, 1.0):
        c = np.array([side * shapes.EYE_X, shapes.EYE_Y, shapes.EYEBALL_Z])
        pos = c + shapes.EYEBALL_RADIUS * d
        attr = np.zeros(pos.shape[:2] + (2,), np.float32)
        attr[..., 0] = side
        out.append(GridMesh(EYES, pos.astype(np.float32), attr, wrap=True))
    return out


def build_mouth(rows: int = 10, cols: int = 24) -> GridMesh:
    """A dark mouth cavity with teeth, seen only through the gap between the lips."""
    x = np.linspace(-2.9, 2.9, cols)
    y = np.linspace(-5.7, -7.9, rows)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    z = 8.75 - 0.9 * (xx / 2.9) ** 2
    pos = np.stack([xx, yy, z], axis=-1)
    attr = np.zeros(pos.shape[:2] + (2,), np.float32)
    return GridMesh(MOUTH, pos.astype(np.float32), attr, wrap=False)


def build_body(rows: int = 30, cols: int = 48) -> GridMesh:
    """Neck, shoulders and a shirt down past the bottom of the frame."""
    y = np.linspace(-6.0, -34.0, rows)
    theta = np.linspace(-np.pi, np.pi, cols, endpoint=False)
    yy, tt = np.meshgrid(y, theta, indexing="ij")
    sh = _smoothstep(-16.0, -24.0, yy)
    w = 5.1 + 0.25 * _smoothstep(-8, -14, yy) + 14.5 * sh
    depth = 4.7 + 5.0 * sh
    zc = -0.6 - 0.3 * sh
    x = w * _spow(np.sin(tt), 2.0 / 2.2)
    z = zc + depth * _spow(np.cos(tt), 2.0 / 2.2)
    y_out = yy - 2.0 * sh * np.abs(np.sin(tt))  # shoulders slope down
    pos = np.stack([x, y_out, z], axis=-1)
    attr = np.zeros(pos.shape[:2] + (2,), np.float32)
    return GridMesh(BODY, pos.astype(np.float32), attr, wrap=True)


@dataclass(frozen=True)
class HairStyle:
    """A hair shell: thickness over the scalp, how far down it reaches, and its front edge."""

    top: float  # thickness on top (cm)
    side: float  # thickness on the sides
    back_end: float  # lowest y at the back
    side_end: float  # lowest y at the sides (covers the ears when below -3)
    hairline: float  # y of the front hairline at the centre
    fringe: float = 0.0  # asymmetric sweep of the fringe (side part)
    curl: float = 0.0  # lumpy, curly surface
    quiff: float = 0.0  # extra height at the front top
    face_open: float = 0.95  # half angle (rad) kept free in front of the face below the hairline


HAIRSTYLES: dict[str, HairStyle | None] = {
    "short_crop": HairStyle(0.7, 0.35, -5.0, -0.5, 6.9),
    "buzz_cut": HairStyle(0.12, 0.1, -5.5, -0.5, 6.9),
    "side_part": HairStyle(1.1, 0.5, -5.0, -0.8, 6.6, fringe=1.0),
    "quiff": HairStyle(0.6, 0.3, -5.0, -0.5, 7.0, quiff=2.6),
    "bob": HairStyle(1.1, 1.0, -9.5, -9.5, 3.4, face_open=0.98),
    "shoulder_length": HairStyle(1.0, 0.9, -17.0, -15.0, 6.9, face_open=1.02),
    "long_straight": HairStyle(0.9, 0.8, -30.0, -28.0, 6.9, face_open=1.02),
    "top_bun": HairStyle(0.35, 0.25, -4.5, -0.5, 7.0),
    "curly_afro": HairStyle(3.6, 3.2, -6.5, -3.0, 6.6, curl=1.0),
    "bald": None,
}


def build_hair(style: HairStyle, rows: int = 56, cols: int = 96) -> GridMesh:
    """Hair shell over the scalp that continues straight down for long styles."""
    y_top = 13.7
    v = np.linspace(0.0, 1.0, rows)
    y = y_top + (min(style.back_end, style.side_end) - 0.5 - y_top) * v
    theta = np.linspace(-np.pi, np.pi, cols, endpoint=False) + np.pi / cols
    yy, tt = np.meshgrid(y, theta, indexing="ij")
    drop = -1.0  # below here hair falls straight instead of following the jaw
    ys = np.maximum(yy, drop)
    skull = head_section(ys, tt)
    front = np.cos(tt)
    up = _smoothstep(2.0, 12.0, yy)
    thick = style.side + (style.top - style.side) * up
    thick = thick + style.quiff * _smoothstep(0.2, 0.9, front) * _smoothstep(7.0, 11.0, yy)
    thick = thick + 0.35 * style.fringe * np.clip(np.sin(tt), 0, None) * _smoothstep(4, 10, yy)
    if style.curl:
        thick = thick * (1.0 + 0.12 * np.sin(9 * tt) * np.sin(3.1 * yy))
    falling = _smoothstep(drop, drop - 8.0, yy)
    thick = thick * (1.0 + 0.25 * falling)
    # outward direction: from the section centre
    centre = np.stack([np.zeros_like(yy), yy, _P["zc"](ys)], axis=-1)
    radial = skull - centre
    radial[..., 1] = 0.0
    n = radial / np.maximum(np.linalg.norm(radial, axis=-1, keepdims=True), 1e-6)
    crown = _smoothstep(9.0, 13.7, yy)  # near the crown push up, not out
    n = n * (1 - crown[..., None]) + np.array([0.0, 1.0, 0.0]) * crown[..., None]
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    pos = skull + n * (thick[..., None] + 0.08)
    pos[..., 1] = np.where(yy < drop, yy, pos[..., 1])
    # coverage: ends at the back/sides, opening for the face, around the ears for short hair
    side_w = np.abs(np.sin(tt))
    end = style.back_end * (1 - side_w) + style.side_end * side_w
    end = np.where(front > 0.2, np.minimum(end, style.side_end), end)
    cover = _smoothstep(end - 0.4, end + 0.8, yy)
    angle = np.abs(tt)
    hairline = style.hairline + 0.8 * style.fringe * np.sin(tt)
    hairline = hairline - 2.8 * _smoothstep(0.55, 0.95, angle)  # temples recede to sideburns
    face = (1 - _smoothstep(style.face_open - 0.12, style.face_open + 0.1, angle)) * (
        1 - _smoothstep(hairline - 0.5, hairline + 0.5, yy)
    )
    cover = cover * (1 - face)
    if style.side_end > -3.0:  # short: keep ears free
        ear = np.exp(-(((angle - np.pi / 2 - 0.12) / 0.32) ** 2) - ((yy + 1.3) / 3.0) ** 2)
        cover = cover * (1 - _smoothstep(0.3, 0.6, ear))
    attr = np.stack([cover, np.full_like(cover, style.curl)], axis=-1)
    keep = (cover[:-1] > 0.01) | (cover[1:] > 0.01)
    keep = keep | np.roll(keep, 1, axis=1)
    return GridMesh(HAIR, pos.astype(np.float32), attr.astype(np.float32), wrap=True, keep=keep)


def build_bun(rows: int = 14, cols: int = 24) -> GridMesh:
    """The knot of the top-bun style: a slightly squashed sphere on the crown."""
    lat = np.linspace(0.0, np.pi, rows)
    lon = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    d = np.stack([np.sin(la) * np.cos(lo), np.cos(la), np.sin(la) * np.sin(lo)], axis=-1)
    pos = np.array([0.0, 14.2, -2.5]) + d * np.array([3.0, 2.4, 3.0])
    attr = np.stack([np.ones_like(la), np.zeros_like(la)], axis=-1)
    return GridMesh(HAIR, pos.astype(np.float32), attr.astype(np.float32), wrap=True, flip=True)


@cache
def core_meshes() -> tuple[GridMesh, ...]:
    """Head, ears, eyes, mouth cavity and body in draw order (built once per process)."""
    return (build_head(), *build_ears(), *build_eyes(), build_mouth(), build_body())


@cache
def hair_meshes(style: str) -> tuple[GridMesh, ...]:
    """The hair geometry of one hairstyle (empty for bald)."""
    params = HAIRSTYLES[style]
    if params is None:
        return ()
    meshes = [build_hair(params)]
    if style == "top_bun":
        meshes.append(build_bun())
    return tuple(meshes)
