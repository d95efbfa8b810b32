"""The character file: the rig's posed mesh, its materials and the GLB container."""

from __future__ import annotations

import numpy as np
import pytest

from facefit.rig import camera, geometry
from facefit.rig.gltf import character_glb, character_primitives
from facefit.rig.render import Renderer
from facefit.rig.spec import load_spec
from tests.glb import accessor, read_glb


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def renderer():
    return Renderer(256)


def test_the_file_holds_the_posed_mesh_and_the_parameters(spec, renderer):
    vec = spec.encode({"continuous": {"jaw_width": 1.0, "skin_tone": 0.1}})
    render = renderer.render(vec)
    document, blob = read_glb(character_glb(vec, render.labels, spec))
    assert document["extras"]["params"] == spec.decode(vec)
    sets, _ = character_primitives(spec, vec, render.labels)
    first = document["meshes"][0]["primitives"][0]["attributes"]
    positions = accessor(document, blob, first["POSITION"])
    np.testing.assert_allclose(positions, sets[0][:, :3] * 0.01, rtol=1e-6)
    normals = accessor(document, blob, first["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    # a wider jaw moves the mesh: the file is not the rest pose
    average = spec.mean_vector()
    rest_sets, _ = character_primitives(spec, average, renderer.render(average).labels)
    assert np.abs(rest_sets[0][:, 0] - sets[0][:, 0]).max() > 0.3  # cm


def test_materials_take_the_parameters_colours(spec, renderer):
    def skin_colour(tone: float) -> list[float]:
        vec = spec.encode({"continuous": {"skin_tone": tone}})
        document, _ = read_glb(character_glb(vec, renderer.render(vec).labels, spec))
        skin = next(m for m in document["materials"] if m["name"] == "skin")
        return skin["pbrMetallicRoughness"]["baseColorFactor"]

    light, dark = skin_colour(0.0), skin_colour(1.0)
    assert sum(light[:3]) > 3 * sum(dark[:3])


def test_brows_lips_and_eye_openings_follow_the_rigs_label_map(spec, renderer):
    vec = spec.mean_vector()
    render = renderer.render(vec)
    sets, prims = character_primitives(spec, vec, render.labels)
    by_material = {p.material: p for p in prims if p.vertex_set == 0}
    assert {"skin", "brows", "lips", "eyes", "iris", "mouth", "shirt"} <= set(by_material)
    # every brow triangle projects into the rendered brows
    centres = sets[0][by_material["brows"].triangles, :3].mean(axis=1)
    xy = np.round(camera.project(centres, render.labels.shape[0])).astype(int)
    assert np.isin(render.labels[xy[:, 1], xy[:, 0]], (3, 4)).mean() == 1.0


def test_a_bald_character_has_no_hair_shell(spec, renderer):
    bald = spec.encode({"discrete": {"hairstyle": "bald"}})
    assert geometry.HAIRSTYLES["bald"] is None
    sets, prims = character_primitives(spec, bald, renderer.render(bald).labels)
    assert len(sets) == 1 and all(p.vertex_set == 0 for p in prims)
    bob = spec.encode({"discrete": {"hairstyle": "bob"}})
    sets, prims = character_primitives(spec, bob, renderer.render(bob).labels)
    assert len(sets) == 2 and any(p.vertex_set == 1 and p.material == "hair" for p in prims)
