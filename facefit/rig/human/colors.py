"""Colour controls of the human rig -> linear RGB shader colours.

Skin anchors are sRGB colours of real cheeks under soft studio light, from very light to
very dark; undertone rotates the colour between pink (cool) and olive-golden (warm), and
saturation scales its chroma around its own grey.
"""

from __future__ import annotations

import numpy as np

from facefit.rig.colors import _linear, _path

# sRGB anchors at control values 0, 0.25, 0.5, 0.75, 1
_SKIN = np.array(
    [(0.93, 0.80, 0.74), (0.85, 0.68, 0.58), (0.72, 0.54, 0.43), (0.50, 0.35, 0.26),
     (0.27, 0.18, 0.14)]
)  # fmt: skip
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


def skin_srgb(tone: float, undertone: float, saturation: float) -> np.ndarray:
    """The skin's sRGB colour (3,) in [0, 1] for the three skin controls."""
    skin = _path(_SKIN, tone)
    grey = float(skin @ np.array([0.3, 0.59, 0.11]))
    # undertone: towards pink (more red and blue) or towards olive-golden (more green, less blue)
    u = 2.0 * undertone - 1.0
    skin = skin * (1.0 + 0.07 * u * np.array([-0.3, 0.5, -1.0]))
    skin = grey + (skin - grey) * (0.45 + 1.1 * saturation)
    return np.clip(skin, 0.0, 1.0)


def hair_srgb(color: float, redness: float, grey: float) -> np.ndarray:
    hair = _path(_HAIR, color)
    red = 2.0 * redness - 1.0
    if red > 0:
        copper = _COPPER * (hair.mean() / 0.3) ** 0.5
        hair = hair + (np.clip(copper, 0, 1) - hair) * 0.75 * red
    else:
        hair = hair + (hair.mean() - hair) * (-red) * 0.8
    return hair + (_GREY - hair) * grey**1.5


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
