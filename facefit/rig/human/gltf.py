"""Rig 3's character as a binary glTF 2.0 file: the meshes `HumanRenderer` draws, posed.

The skin, eyes, lashes, the chosen brows and the chosen hair (none for bald or buzz) come
from `HumanRenderer.posed_meshes`, in metres in the picture's frame (eyes at `EYES_AT`, +Y
up, facing +Z like the rig's camera), so the file's frontal view lines up with the render.
What the shaders paint on the skin becomes skin triangles of their own material by the
shaders' own weights: lips, the hair-tinted scalp (buzz cut, under a hairstyle) and dense
beards (moustache, goatee, full beard); the iris is the eyeball's front disc. Base colours
are the renderer's linear palette (`colors.palette`); stubble, strands, skin grain, the
pupil and the holes the shaders cut in brows, lashes and hair are not carried over.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from facefit.rig.glb import Primitive, character_file, pbr_material, split
from facefit.rig.human.render import HumanRenderer, PosedMesh
from facefit.rig.human.spec import human_spec
from facefit.rig.spec import RigSpec

MATERIAL_NAMES = ("skin", "lips", "scalp", "beard", "eyes", "iris", "lashes", "brows", "hair")
# The shaders' constant colours (linear) and the eye shader's iris radius (unit eyeball).
SCLERA = (0.88, 0.85, 0.82)
LASHES = (0.03, 0.025, 0.02)
IRIS_RADIUS = 0.42
DOUBLE_SIDED = ("lashes", "brows", "hair")  # cards: seen from both sides as the head turns


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _skin_material(mesh: PosedMesh, uniforms: dict) -> np.ndarray:
    """Per skin triangle, what the skin shader paints at its corners (weights averaged)."""
    a, b = mesh.a[mesh.tris].mean(axis=1), mesh.b[mesh.tris].mean(axis=1)
    lip = _smoothstep(0.25, 0.75, np.clip(a[:, 1] + a[:, 2], 0.0, 1.0))
    out = np.full(len(mesh.tris), "skin", dtype=object)
    out[lip > 0.5] = "lips"
    beard = uniforms["u_beard"]
    if beard > 1:  # moustache, goatee, full beard: the zones the shader labels hair
        zone = {2: b[:, 0], 3: b[:, :2].max(axis=1)}.get(beard, b[:, :3].max(axis=1))
        density = 0.45 + 0.5 * uniforms["u_beard_density"]
        out[_smoothstep(0.2, 0.6, zone * (1.0 - lip)) * density > 0.55] = "beard"
    scalp = _smoothstep(0.2, 0.8, a[:, 3] - uniforms["u_hairline"]) * uniforms["u_scalp"]
    out[scalp > 0.5] = "scalp"
    return out


def _eye_material(mesh: PosedMesh) -> np.ndarray:
    """Iris on the front disc of each eyeball (unit directions from its centre), else sclera."""
    d = mesh.a[mesh.tris, :3].mean(axis=1)
    iris = (d[:, 2] > 0.0) & (np.hypot(d[:, 0], d[:, 1]) < IRIS_RADIUS)
    return np.where(iris, "iris", "eyes").astype(object)


def _materials(mesh: PosedMesh, uniforms: dict) -> np.ndarray:
    if mesh.material == "skin":
        return _skin_material(mesh, uniforms)
    if mesh.material == "eyes":
        return _eye_material(mesh)
    material = np.full(len(mesh.tris), mesh.material, dtype=object)
    if mesh.material == "lashes":  # the shader draws the upper lashes only
        material[mesh.a[mesh.tris, 0].mean(axis=1) < 0.5] = ""
    return material


def _pbr(uniforms: dict) -> dict[str, dict]:
    skin, hair = np.array(uniforms["u_skin"]), np.array(uniforms["u_hair"])
    beard = min(0.45 + 0.5 * uniforms["u_beard_density"], 0.95)  # the shader's cover
    base = {
        "skin": (skin, 0.75),
        "lips": (uniforms["u_lip"], 0.45),
        "scalp": (skin + (hair * 0.9 - skin) * uniforms["u_scalp"], 0.75),
        "beard": (skin + (hair * 0.8 - skin) * beard, 0.8),
        "eyes": (SCLERA, 0.2),
        "iris": (uniforms["u_iris"], 0.2),
        "lashes": (LASHES, 0.8),
        "brows": (uniforms["u_brow"], 0.8),
        "hair": (hair, 0.7),
    }
    return {
        name: pbr_material(name, rgb, roughness, name in DOUBLE_SIDED)
        for name, (rgb, roughness) in base.items()
    }


def character_primitives(
    renderer: HumanRenderer, vec: np.ndarray
) -> tuple[list[np.ndarray], list[Primitive], dict]:
    """Posed vertex sets ((R, 6) positions and normals, cm), one per drawn mesh in the
    renderer's vertex order, their primitives, and the shader uniforms of `vec`."""
    uniforms = renderer.shader_uniforms(vec)
    sets, prims = [], []
    for mesh in renderer.posed_meshes(vec):
        sets.append(np.concatenate([mesh.positions, mesh.normals], axis=1))
        prims += split(len(sets) - 1, mesh.tris, _materials(mesh, uniforms), MATERIAL_NAMES)
    return sets, prims, uniforms


@cache
def _renderer() -> HumanRenderer:
    return HumanRenderer()


def character_glb(
    vec: np.ndarray, spec: RigSpec | None = None, renderer: HumanRenderer | None = None
) -> bytes:
    """The character of rig 3's parameter vector `vec` as a binary glTF 2.0 file.

    `renderer` (its meshes and morphs are reused; no GL context is made) defaults to one
    kept by this process; a shared one must not draw meanwhile.
    """
    spec = spec or human_spec()
    renderer = renderer or _renderer()
    vec = spec.validate_vector(vec)
    sets, prims, uniforms = character_primitives(renderer, vec)
    return character_file(sets, prims, _pbr(uniforms), spec.rig_id, spec.decode(vec))
