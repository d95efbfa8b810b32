"""Feature outlines in rest-pose coordinates (cm), shared by landmarks, labels and shading.

Eye openings, brows and lips are drawn on the skin as shapes in rest coordinates, so the
bone deformations carry them along like a texture. The same formulas exist twice: here in
numpy (to place landmarks) and in `shaders.py` in GLSL (to shade and label pixels); the unit
tests check that they agree.

Coordinates: x to image-right, y up, z towards the camera, origin on the eye line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EYE_X, EYE_Y = 3.15, 0.0  # eye centre (cm), mirrored
EYE_HALF_WIDTH = 1.27
EYEBALL_RADIUS = 1.2
EYEBALL_Z = 6.55
BROW_INNER_X, BROW_INNER_Y = 1.15, 1.62
BROW_LENGTH = 4.9
MOUTH_Y = -6.75
MOUTH_HALF_WIDTH = 2.5
UPPER_LIP = 0.72
LOWER_LIP = 0.95

# eyebrow styles: (arch height cm, arch peak position 0..1, thickness cm, peak sharpness)
BROW_STYLES = {
    "natural": (0.5, 0.62, 0.52, 1.0),
    "straight": (0.16, 0.55, 0.55, 1.0),
    "high_arch": (0.9, 0.58, 0.42, 1.0),
    "thin": (0.55, 0.65, 0.24, 1.0),
    "bushy": (0.42, 0.55, 0.85, 1.0),
    "soft_angled": (0.7, 0.7, 0.5, 2.2),
}
# `brow_arch` and `brow_thickness` scale the style's own arch and thickness between these
# factors (control 0 -> the low one, 1 -> the high one). The ranges are narrow so that every
# style keeps its character under the controls: rig 2.1 let them scale 0-2x and 0.5-1.5x,
# and then six styles could draw the same brow, which no reader of the image can tell apart
# (docs/decisions.md).
BROW_ARCH_RANGE = (0.7, 1.3)
BROW_THICKNESS_RANGE = (0.8, 1.2)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _signed(t: float) -> float:
    """Control value in [0, 1] -> [-1, 1] with 0.5 -> 0."""
    return 2.0 * float(t) - 1.0


@dataclass(frozen=True)
class EyeShape:
    """The eye opening, per side, in local coords: s along the eye (-1 inner, +1 outer)."""

    half_width: float
    upper: float
    lower: float
    upper_power: float
    peak_shift: float
    tilt_rad: float

    @classmethod
    def from_controls(cls, c: dict[str, float]) -> EyeShape:
        opening = _lerp(0.55, 1.45, c["eye_opening"])
        lid = c["lid_shape"]
        return cls(
            half_width=EYE_HALF_WIDTH * _lerp(0.85, 1.15, c["eye_width"]),
            upper=_lerp(0.46, 0.6, lid) * opening,
            lower=(0.42 + 0.15 * _signed(c["lower_lid"])) * (0.5 + 0.5 * opening),
            upper_power=_lerp(1.0, 0.55, lid),
            peak_shift=_lerp(-0.22, 0.22, lid),
            tilt_rad=np.deg2rad(10.0) * _signed(c["eye_tilt"]),
        )

    def uniforms(self) -> tuple[float, ...]:
        return (self.half_width, self.upper, self.lower, self.upper_power, self.peak_shift,
                self.tilt_rad)  # fmt: skip

    def lids(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower lid heights (local, cm) at positions s in [-1, 1]."""
        base = np.clip(1.0 - s * s, 0.0, None)
        upper = self.upper * base**self.upper_power * (1.0 + self.peak_shift * s)
        lower = -self.lower * base**0.8
        return upper, lower

    def to_rest(self, s: np.ndarray, v: np.ndarray, side: float) -> np.ndarray:
        """Local (s, v) -> rest (x, y); side = -1 image-left eye, +1 image-right eye."""
        u = s * self.half_width
        cos, sin = np.cos(self.tilt_rad), np.sin(self.tilt_rad)
        # tilt raises the outer corner: rotate local frame by +tilt
        ux = u * cos - v * sin
        vy = u * sin + v * cos
        return np.stack([side * (EYE_X + ux), EYE_Y + vy], axis=-1)


@dataclass(frozen=True)
class BrowShape:
    """A brow as a centreline and a thickness over t in [0, 1] (inner end -> outer end)."""

    length: float
    arch: float
    peak: float
    sharpness: float
    thickness: float
    tilt_rad: float

    @classmethod
    def from_controls(cls, c: dict[str, float], style: str) -> BrowShape:
        arch, peak, thick, sharp = BROW_STYLES[style]
        return cls(
            length=BROW_LENGTH * _lerp(0.75, 1.25, c["brow_length"]),
            arch=arch * _lerp(*BROW_ARCH_RANGE, c["brow_arch"]),
            peak=peak,
            sharpness=sharp,
            thickness=thick * _lerp(*BROW_THICKNESS_RANGE, c["brow_thickness"]),
            tilt_rad=np.deg2rad(12.0) * _signed(c["brow_tilt"]),
        )

    def uniforms(self) -> tuple[float, ...]:
        return (self.length, self.arch, self.peak, self.sharpness, self.thickness, self.tilt_rad)

    def centre(self, t: np.ndarray) -> np.ndarray:
        """Centreline height above the inner end (cm, before tilt) at t."""
        t = np.clip(t, 0.0, 1.0)
        left = np.clip(t / self.peak, 0.0, 1.0)
        right = np.clip((1.0 - t) / (1.0 - self.peak), 0.0, 1.0)
        bump = np.where(t < self.peak, np.sin(left * np.pi / 2), np.sin(right * np.pi / 2))
        bump = bump**self.sharpness
        return self.arch * bump - 0.35 * t

    def half_thickness(self, t: np.ndarray) -> np.ndarray:
        t = np.clip(t, 0.0, 1.0)
        return 0.5 * self.thickness * (1.0 - 0.55 * t) * np.sqrt(np.clip(t * 12.0, 0.15, 1.0))

    def to_rest(self, t: np.ndarray, v: np.ndarray, side: float) -> np.ndarray:
        """(t, height above the centreline) -> rest (x, y) for side -1 (image-left) or +1."""
        u = t * self.length
        y = self.centre(t) + v
        cos, sin = np.cos(self.tilt_rad), np.sin(self.tilt_rad)
        ux = u * cos - y * sin
        vy = u * sin + y * cos
        return np.stack([side * (BROW_INNER_X + ux), BROW_INNER_Y + vy], axis=-1)


@dataclass(frozen=True)
class LipShape:
    """Lip outlines around the mouth line in rest coordinates (before bones)."""

    bow: float
    gap: float

    @classmethod
    def from_controls(cls, c: dict[str, float]) -> LipShape:
        t = c["mouth_open"]
        gap = 0.05 * t / 0.5 if t <= 0.5 else 0.05 + 0.45 * (t - 0.5) / 0.5
        return cls(bow=_lerp(0.0, 2.0, c["cupids_bow"]), gap=gap)

    def uniforms(self) -> tuple[float, ...]:
        return (self.bow, self.gap)

    @staticmethod
    def mouth_line(x: np.ndarray) -> np.ndarray:
        q = np.clip(np.abs(x) / MOUTH_HALF_WIDTH, 0.0, 1.0)
        return MOUTH_Y - 0.12 * q * q

    def upper(self, x: np.ndarray) -> np.ndarray:
        q = np.clip(np.abs(x) / MOUTH_HALF_WIDTH, 0.0, 1.0)
        bow = self.bow * (
            0.16 * np.exp(-(((np.abs(x) - 0.55) / 0.35) ** 2)) - 0.18 * np.exp(-((x / 0.22) ** 2))
        )
        return self.mouth_line(x) + (UPPER_LIP * (1.0 - q * q) ** 0.6 + bow * (1.0 - q))

    def lower(self, x: np.ndarray) -> np.ndarray:
        q = np.clip(np.abs(x) / MOUTH_HALF_WIDTH, 0.0, 1.0)
        return self.mouth_line(x) - LOWER_LIP * (1.0 - q * q) ** 0.55

    def opening(self, x: np.ndarray) -> np.ndarray:
        """Half height of the gap between the lips in rest coordinates."""
        q = np.clip(np.abs(x) / (MOUTH_HALF_WIDTH * 0.95), 0.0, 1.0)
        return self.gap * (1.0 - q * q) ** 0.7
