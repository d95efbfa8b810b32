"""Skin patches from landmarks: the cheeks and the chin's lightness against them."""

from __future__ import annotations

import numpy as np

from facefit.fit.skin_regions import chin_minus_cheek_lightness
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
