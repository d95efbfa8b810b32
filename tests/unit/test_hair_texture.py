"""Curled hair told from strands by the texture of the photo's hair (`facefit.fit.hair_texture`)."""

from __future__ import annotations

import numpy as np

from facefit.fit.hair_texture import MIN_PIXELS, hair_coherence, is_curled

SIZE = 512


def _grey(pattern: np.ndarray) -> np.ndarray:
    return np.repeat((pattern * 255).astype(np.uint8)[..., None], 3, axis=2)


def strands() -> np.ndarray:
    """Fine, gently waving strands falling from the crown, as straight hair shows them."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    return _grey(0.5 + 0.4 * np.sin(x / 2.0 + 3.0 * np.sin(y / 60.0)))


def coils() -> np.ndarray:
    """Small rings scattered at random, as curls show them."""
    rng = np.random.default_rng(0)
    image = np.full((SIZE, SIZE), 0.3)
    y, x = np.mgrid[0:24, 0:24] - 11.5
    ring = np.clip(1.0 - np.abs(np.hypot(x, y) - 7.0) / 2.0, 0.0, 1.0)
    for cy, cx in rng.integers(0, SIZE - 24, size=(3000, 2)):
        patch = image[cy : cy + 24, cx : cx + 24]
        np.maximum(patch, 0.3 + 0.6 * ring, out=patch)
    return _grey(image)


def test_strands_are_coherent_and_coils_are_not():
    hair = np.ones((128, 128))
    straight, curled = hair_coherence(strands(), hair), hair_coherence(coils(), hair)
    assert straight > 0.8 and curled < 0.4, (straight, curled)
    assert not is_curled(strands(), hair) and is_curled(coils(), hair)


def test_only_the_parses_sure_hair_is_read():
    """Coils outside the hair (the background, the face) do not make strands curled, and a
    head with too little sure hair (a shaved one) is not called curled."""
    image = strands()
    image[:, SIZE // 2 :] = coils()[:, SIZE // 2 :]
    hair = np.zeros((128, 128))
    hair[:, :60] = 1.0
    assert not is_curled(image, hair)
    speck = np.zeros((128, 128))
    speck[10:12, 10:12] = 1.0  # after the edge is taken off, fewer than MIN_PIXELS remain
    assert hair_coherence(coils(), speck) is None and MIN_PIXELS > 0
    assert not is_curled(coils(), speck)


def test_the_hairs_middle_colour_leaves_out_its_sheen_and_the_wall_beside_it():
    """Black hair (0.05) with a bright sheen band, in a band beside a light wall whose edge
    pixels the parse still calls hair: its middle colour is the black, its mean is not."""
    from facefit.fit.colors import core_rgb

    image = np.full((64, 64, 3), 0.85)  # the studio wall
    image[10:30, :] = 0.05  # the hair
    image[14:17, :] = 0.7  # its sheen
    hair = np.zeros((64, 64), bool)
    hair[9:31, :] = True  # a pixel of wall on each side
    middle = core_rgb(image, hair)
    assert np.allclose(middle, 0.05)
    assert image[hair].mean() > 0.15
    assert core_rgb(image, np.eye(64, dtype=bool)) is None  # a line has no inside
