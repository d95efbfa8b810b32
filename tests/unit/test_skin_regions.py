"""Skin patches from landmarks: the cheeks, and the chin's lightness and texture against them."""

from __future__ import annotations

import numpy as np

from facefit.fit.beard import CHIN_LIGHTNESS, CHIN_TEXTURE
from facefit.fit.skin_regions import chin_minus_cheek_lightness, chin_minus_cheek_texture
from facefit.rig.render import Renderer
from facefit.rig.spec import load_spec


def test_a_beard_darkens_the_chin_against_the_cheeks():
    spec = load_spec()
    renderer = Renderer(size=256)
    block = spec.discrete_slices["facial_hair"]
    contrast = {}
    for option in (0, block.stop - block.start - 1):  # none, and the last (fullest) style
        vec = spec.mean_vector()
        vec[block] = 0.0
        vec[block.start + option] = 1.0
        render = renderer.render(vec)
        contrast[option] = chin_minus_cheek_lightness(render.image, render.landmarks68)
    assert contrast[block.stop - block.start - 1] < contrast[0] - 3.0


def test_an_even_face_has_no_chin_contrast():
    render = Renderer(size=128).render(load_spec().mean_vector())
    flat = np.full_like(render.image, 150)
    # the chin's L* is read from 8-bit Lab, the cheeks' from float Lab: they agree to 0.1
    assert abs(chin_minus_cheek_lightness(flat, render.landmarks68)) < 0.2


def test_stubble_textures_the_chin_past_the_threshold_and_a_bare_chin_does_not():
    """At the fit's 512 px: the rig's bare chin stays under `beard_chin_texture`, light
    stubble (too light for the lightness threshold) passes it, and noise over the whole face
    (a photo's grain) adds to the cheeks as much as to the chin."""
    spec = load_spec()
    renderer = Renderer(size=512)
    names = [c.name for c in spec.continuous]
    threshold = CHIN_TEXTURE

    def face(option: str, density: float) -> tuple[np.ndarray, np.ndarray]:
        vec = spec.encode({"discrete": {"facial_hair": option}})
        vec[names.index("facial_hair_density")] = density
        render = renderer.render(vec)
        return render.image, render.landmarks68

    bare, points = face("none", 1.0)
    light, light_points = face("stubble", 0.3)
    assert chin_minus_cheek_texture(bare, points) < threshold / 2
    assert chin_minus_cheek_texture(light, light_points) > threshold
    assert chin_minus_cheek_lightness(light, light_points) > CHIN_LIGHTNESS
    grain = np.random.default_rng(0).normal(0, 4, bare.shape)
    noisy = np.clip(bare + grain, 0, 255).astype(np.uint8)
    assert abs(chin_minus_cheek_texture(noisy, points)) < threshold / 2
