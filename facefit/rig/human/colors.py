"""Colour controls of the human rig -> linear RGB shader colours.

Skin is set in CIE Lch (lightness, chroma, hue), so that its three controls move the
colour along the axes in which real cheeks differ; hair, iris and lips follow paths of
hand-picked sRGB anchors.
"""

from __future__ import annotations

import cv2
import numpy as np

from facefit.rig.colors import _linear, _path

# sRGB anchors at control values 0, 0.25, 0.5, 0.75, 1
_HAIR = np.array(
    [(0.035, 0.03, 0.028), (0.15, 0.10, 0.07), (0.34, 0.23, 0.14), (0.58, 0.45, 0.30),
     (0.86, 0.76, 0.56)]
)  # fmt: skip
_IRIS = np.array(
    [(0.16, 0.09, 0.05), (0.33, 0.19, 0.08), (0.45, 0.36, 0.16), (0.33, 0.45, 0.33),
     (0.45, 0.62, 0.82)]
)  # fmt: skip
_GREY = np.array([0.78, 0.77, 0.75])
_COPPER = np.array([0.62, 0.25, 0.10])


def eye_shade(eye_color: float) -> str:
    """The word a person would use for the irises `eye_color` draws: "dark" (dark brown or
    brown, up to 0.375), "light" (green or blue, from 0.625) or "hazel" (between)."""
    return "dark" if eye_color <= 0.375 else "light" if eye_color >= 0.625 else "hazel"


def skin_srgb(tone: float, undertone: float, saturation: float) -> np.ndarray:
    """The skin's sRGB colour (3,) in [0, 1] for the three skin controls.

    Drawn in CIE Lch, the space the photos' cheeks are measured in: tone sets lightness,
    undertone the hue from pink-red to golden-olive, saturation the chroma. Studio photos of
    the shared faces span cheek L* 33-81, a* 4-35 and b* 5-21 (`bench/human_skin_reach.py`);
    the rig's light adds about 8 L* to the albedo, so the albedo spans L* 80 down to 22.
    """
    lightness = 80.0 - 58.0 * tone
    chroma = (4.0 + 44.0 * saturation) * (0.6 + 0.4 * (1.0 - tone))
    hue = np.deg2rad(15.0 + 60.0 * undertone)
    lab = np.array([[[lightness, chroma * np.cos(hue), chroma * np.sin(hue)]]], np.float32)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)[0, 0].astype(np.float64), 0.0, 1.0)


def hair_srgb(color: float, redness: float, grey: float) -> np.ndarray:
    hair = _path(_HAIR, color)
    red = 2.0 * redness - 1.0
    if red > 0:
        copper = _COPPER * (hair.mean() / 0.3) ** 0.5
        hair = hair + (np.clip(copper, 0, 1) - hair) * 0.75 * red
    else:
        hair = hair + (hair.mean() - hair) * (-red) * 0.8
    return hair + (_GREY - hair) * grey**2  # the average person (0.5): a quarter grey


def palette(values: dict[str, float], bald: bool) -> dict[str, tuple[float, float, float]]:
    """Shader colour uniforms (linear RGB) for the colour controls."""
    skin = skin_srgb(values["skin_tone"], values["skin_undertone"], values["skin_saturation"])
    hair = hair_srgb(values["hair_color"], values["hair_redness"], values["hair_grey"])
    light_brow = skin * 0.7 if bald else hair
    darkest = np.minimum(light_brow, np.array([0.07, 0.05, 0.04]))
    brow = light_brow + (darkest - light_brow) * values["brow_color"]
    lip_pale = skin * np.array([0.95, 0.78, 0.78])
    deep = np.array([0.62, 0.22, 0.25]) * (0.55 + 0.45 * (1.0 - values["skin_tone"]))
    lip = lip_pale + (deep - lip_pale) * (0.2 + 0.7 * values["lip_color"])
    return {
        "u_skin": _linear(skin),
        "u_hair": _linear(hair),
        "u_brow": _linear(brow),
        "u_lip": _linear(lip),
        "u_iris": _linear(_path(_IRIS, values["eye_color"])),
    }
