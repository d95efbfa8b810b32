"""Colour controls -> linear RGB shader colours along hand-picked, natural-looking paths."""

from __future__ import annotations

import numpy as np

# sRGB anchors at control values 0, 0.25, 0.5, 0.75, 1
_SKIN = np.array(
    [(0.98, 0.84, 0.76), (0.93, 0.75, 0.63), (0.84, 0.63, 0.50), (0.62, 0.43, 0.31),
     (0.34, 0.22, 0.16)]
)  # fmt: skip
_HAIR = np.array(
    [(0.93, 0.86, 0.68), (0.76, 0.60, 0.37), (0.40, 0.27, 0.16), (0.17, 0.11, 0.075),
     (0.05, 0.045, 0.04)]
)  # fmt: skip
_IRIS = np.array(
    [(0.22, 0.12, 0.06), (0.35, 0.22, 0.10), (0.45, 0.36, 0.16), (0.36, 0.46, 0.40),
     (0.45, 0.62, 0.82)]
)  # fmt: skip


def _path(anchors: np.ndarray, t: float) -> np.ndarray:
    x = np.linspace(0.0, 1.0, len(anchors))
    return np.array([np.interp(t, x, anchors[:, i]) for i in range(3)])


def _linear(srgb: np.ndarray) -> tuple[float, float, float]:
    c = np.clip(srgb, 0.0, 1.0) ** 2.2
    return (float(c[0]), float(c[1]), float(c[2]))


def palette(values: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """Shader colour uniforms (linear RGB) for the colour controls."""
    skin = _path(_SKIN, values["skin_tone"])
    # Warmth scales the skin's chroma around its own grey: studio photos of real skin are far
    # less saturated than the anchors (photo skin R/G about 1.15, B/G 0.9; anchors 1.33, 0.8),
    # so the cool end must reach muted, near-neutral skin and the warm end a saturated tan.
    warm = values["skin_warmth"]
    grey = float(skin @ np.array([0.3, 0.59, 0.11]))
    skin = grey + (skin - grey) * (0.35 + 0.95 * warm)
    skin = skin * (1.0 + 0.04 * (2.0 * warm - 1.0) * np.array([0.0, 0.5, -1.0]))
    hair = _path(_HAIR, values["hair_color"])
    red = 2.0 * values["hair_redness"] - 1.0
    if red > 0:
        copper = np.array([0.72, 0.30, 0.12]) * (hair.mean() / 0.38) ** 0.6
        hair = hair + (copper - hair) * 0.7 * red
    else:
        hair = hair + (hair.mean() - hair) * (-red) * 0.9
    darkest = np.minimum(hair, np.array([0.12, 0.08, 0.06]))
    brow = skin * 0.62 + (darkest - skin * 0.62) * values["brow_darkness"]
    lip_pale = skin * np.array([0.97, 0.8, 0.8])
    lip = lip_pale + (np.array([0.66, 0.2, 0.22]) - lip_pale) * (0.15 + 0.8 * values["lip_color"])
    return {
        "u_skin": _linear(skin),
        "u_hair": _linear(hair),
        "u_brow": _linear(brow),
        "u_lip": _linear(lip),
        "u_iris": _linear(_path(_IRIS, values["eye_color"])),
        "u_shirt": _linear(np.array([0.9, 0.9, 0.91])),
    }
