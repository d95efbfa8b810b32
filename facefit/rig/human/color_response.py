"""A render of rig 3 as an affine function of its colours: many colours for six draws.

Every fragment program of rig 3 (`shaders`) is affine in its colour uniforms jointly (skin,
hair, brows, lips, irises): each pixel's linear colour is `base + sum(U * gain_U)` per
channel, before the clamp and the gamma the programs end with. Nothing else a colour control
moves: the geometry, the labels, the discards and the landmarks are the same. So one draw
with every colour black and one per colour at `PROBE` give `base` and each gain, and the
picture at any colour controls is then arithmetic, exact up to float rounding: those draws
are read back unrounded (`HumanRenderer.render_unfiltered`). The colour match
(`facefit.fit.colors`) tries ~70 colours a face: this replaces ~60 of its draws with six.

The six draws skip the edge filter (it is not affine: it follows the edges' contrast); each
colour's picture goes through it on its own, as a render does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facefit.rig.render import RigRender

# The shader's colour uniforms, and the controls that move only them (`colors.palette`)
UNIFORMS = ("u_skin", "u_hair", "u_brow", "u_lip", "u_iris")
PALETTE_CONTROLS = (
    "skin_tone", "skin_undertone", "skin_saturation", "hair_color", "hair_redness",
    "hair_grey", "brow_color", "lip_color", "eye_color",
)  # fmt: skip
# Each uniform's grey in its own draw: dim enough that no lit pixel clips (the brightest
# lighting plus sheen is ~2.2x a colour)
PROBE = 0.4
GAMMA = 2.2  # the programs' output encoding


def decode(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] as the programs wrote it -> linear colour, float32."""
    return image.astype(np.float32) ** GAMMA


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear colour -> uint8, as the programs write it (clamped, gamma, rounded)."""
    return (np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class ColorResponse:
    """One face's render at any colour controls: `render(vec)` for a vector that differs from
    the one it was drawn for (`drawn_for`) only in `PALETTE_CONTROLS`."""

    renderer: object  # the HumanRenderer that drew it: its palette maps controls to uniforms
    drawn_for: np.ndarray  # (D,) the vector drawn
    base: np.ndarray  # (H, W, 3) linear colour with every colour uniform black
    gains: dict[str, np.ndarray]  # uniform -> (H, W, 3) linear colour per unit of it
    labels: np.ndarray
    landmarks68: np.ndarray

    def render(self, vec: np.ndarray) -> RigRender:
        """The render of `vec`; raises ValueError if more than colours changed."""
        vec = np.asarray(vec, np.float32)
        if not self.accepts(vec):
            raise ValueError("a colour response renders only changes of colour controls")
        uniforms = self.renderer.shader_uniforms(vec)
        linear = self.base.copy()
        for name, gain in self.gains.items():
            linear += gain * np.asarray(uniforms[name], np.float32)
        image = self.renderer.edge_filtered(encode(linear))
        return RigRender(image=image, labels=self.labels, landmarks68=self.landmarks68)

    def accepts(self, vec: np.ndarray) -> bool:
        """Whether `vec` differs from the vector drawn in colour controls only."""
        fixed = self._fixed()
        return bool(np.array_equal(np.asarray(vec, np.float32)[fixed], self.drawn_for[fixed]))

    def _fixed(self) -> np.ndarray:
        """Indices of the vector that must not change: all but the palette's controls."""
        spec = self.renderer.spec
        colour = [spec.continuous_index[c] for c in PALETTE_CONTROLS]
        return np.setdiff1d(np.arange(len(self.drawn_for)), colour)


def color_response(renderer, vec: np.ndarray) -> ColorResponse:
    """`vec`'s render on `renderer` (a HumanRenderer) as a `ColorResponse`: six draws."""
    vec = renderer.spec.validate_vector(vec)
    black = {name: (0.0, 0.0, 0.0) for name in UNIFORMS}
    base_render = renderer.render_unfiltered(vec, black)
    base = decode(base_render.image)
    gains = {}
    for name in UNIFORMS:
        lit = renderer.render_unfiltered(vec, {**black, name: (PROBE, PROBE, PROBE)})
        gains[name] = (decode(lit.image) - base) / PROBE
    return ColorResponse(
        renderer=renderer,
        drawn_for=vec.astype(np.float32),
        base=base,
        gains=gains,
        labels=base_render.labels,
        landmarks68=base_render.landmarks68,
    )
