"""The rig's character as a binary glTF 2.0 file: the posed mesh with its parameters applied.

A game, a launcher or a web page can show the fitted (or edited) character in 3D from this
file alone. The mesh is the renderer's (same bones, same lip gap, same hair shell); what the
renderer paints procedurally on the skin (brows, lips, eye openings, scalp and beard hair)
becomes separate primitives with their own PBR material, sorted by the class the rig's own
frontal label map gives each triangle, so the file's frontal view draws the rig's picture's
regions. Colours are the renderer's linear base colours (`colors.palette`); texture
detail (strands, skin noise, blush) is not carried over.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from facefit.rig import camera, colors, geometry, shapes
from facefit.rig.bones import BODY, EARS, EYES, HEAD, MOUTH
from facefit.rig.glb import Primitive, character_file, pbr_material, split
from facefit.rig.render import deform_part, hair_offset, make_part
from facefit.rig.spec import RigSpec, load_reference_spec

NOT_SEEN = 255  # a triangle the frontal camera does not see: sorted by its geometry alone
# Label classes (spec.labels order) of the rig's label map.
HAIR_LABEL, BROW_LABELS, EYE_LABELS, LIP_LABELS, INNER_MOUTH = 2, (3, 4), (5, 6), (8, 10), 9
SCLERA = (0.92, 0.89, 0.86)  # the eye shader's sclera and mouth colours (linear)
MOUTH_CAVITY = (0.28, 0.07, 0.07)
MATERIAL_NAMES = ("skin", "lips", "brows", "hair", "eyes", "iris", "mouth", "shirt")


@cache
def _core():
    return make_part(geometry.core_meshes())


@cache
def _hair(style: str):
    return make_part(geometry.hair_meshes(style))


def _mesh_triangles(part) -> list[tuple[geometry.GridMesh, np.ndarray, np.ndarray]]:
    """Each mesh of a part with its triangles: indices into the part's vertices, and its own."""
    out = []
    for mesh, offset in zip(part.meshes, part.offsets, strict=True):
        local = mesh.triangles().astype(np.int64)
        out.append((mesh, local + offset, local))
    return out


def frontal_labels(posed: np.ndarray, tris: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(T,) label of each triangle's centre in the rig's frontal label map, NOT_SEEN where
    the triangle faces away from the camera. posed: (N, 6) positions and normals in cm."""
    size = labels.shape[0]
    centres = posed[tris, :3].mean(axis=1)
    normals = posed[tris, 3:].mean(axis=1)
    eye = np.array([0.0, camera.CAM_Y, camera.CAM_DIST])
    facing = np.einsum("ij,ij->i", normals, eye - centres) > 0.0
    xy = np.round(camera.project(centres, size)).astype(np.int64)
    inside = facing & (xy >= 0).all(axis=1) & (xy < size).all(axis=1)
    out = np.full(len(tris), NOT_SEEN, np.uint8)
    out[inside] = labels[xy[inside, 1], xy[inside, 0]]
    return out


def _head_material(label: np.ndarray) -> np.ndarray:
    """Skin triangles by what the rig paints there; '' where the renderer shows through them
    (eye openings and the parted lips let the eyeballs and the mouth cavity show)."""
    out = np.full(len(label), "skin", dtype=object)
    out[np.isin(label, BROW_LABELS)] = "brows"
    out[np.isin(label, LIP_LABELS)] = "lips"
    out[label == HAIR_LABEL] = "hair"
    out[np.isin(label, (*EYE_LABELS, INNER_MOUTH))] = ""
    return out


def _eye_material(mesh: geometry.GridMesh, tris_local: np.ndarray, iris_size: float) -> np.ndarray:
    """Iris where the eye shader draws it (a disc around the eyeball's front pole), else sclera."""
    rest = mesh.rest.reshape(-1, 3)[tris_local].mean(axis=1)
    side = float(mesh.attr[0, 0, 0])
    d = rest - np.array([side * shapes.EYE_X, shapes.EYE_Y, shapes.EYEBALL_Z])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    iris = (d[:, 2] > 0) & (np.hypot(d[:, 0], d[:, 1]) < 0.47 * (0.8 + 0.4 * iris_size))
    return np.where(iris, "iris", "eyes").astype(object)


def _body_material(mesh: geometry.GridMesh, tris_local: np.ndarray) -> np.ndarray:
    """Shirt below the collar line of the body shader, skin (the neck) above it."""
    r = mesh.rest.reshape(-1, 3)[tris_local].mean(axis=1)
    collar = -15.0 - 3.2 * np.exp(-((np.abs(r[:, 0]) / 3.6) ** 2)) + np.where(r[:, 2] < 0, 3.0, 0)
    return np.where(r[:, 1] < collar, "shirt", "skin").astype(object)


def _hair_kept(mesh: geometry.GridMesh, tris_local: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Hair triangles the renderer draws: where the camera sees them, those it labels hair;
    elsewhere those the shell covers densely (the shader thins the edges with strand noise)."""
    cover = mesh.attr.reshape(-1, 2)[tris_local, 0].mean(axis=1)
    return np.where(label == NOT_SEEN, cover > 0.6, label == HAIR_LABEL)


def character_primitives(
    spec: RigSpec, vec: np.ndarray, labels: np.ndarray
) -> tuple[list[np.ndarray], list[Primitive]]:
    """Posed vertex sets ((N, 6) cm) and their primitives for one parameter vector.

    `labels` is the rig's frontal label map of the same vector (any size).
    """
    vec = spec.validate_vector(vec)
    values = {c.name: float(vec[i]) for i, c in enumerate(spec.continuous)}
    choice = spec.options(vec)
    gap = shapes.LipShape.from_controls(values).gap
    core = _core()
    sets = [deform_part(core, values, gap)]
    prims: list[Primitive] = []
    for mesh, tris, local in _mesh_triangles(core):
        if mesh.part == HEAD:
            material = _head_material(frontal_labels(sets[0], tris, labels))
        elif mesh.part == EYES:
            material = _eye_material(mesh, local, values["iris_size"])
        elif mesh.part == BODY:
            material = _body_material(mesh, local)
        elif mesh.part == EARS:
            material = np.full(len(tris), "skin", dtype=object)
        elif mesh.part == MOUTH:
            material = np.full(len(tris), "mouth", dtype=object)
        else:
            raise ValueError(f"no material for rig part {mesh.part!r}")
        prims += _split(0, tris, material)
    if geometry.HAIRSTYLES[choice["hairstyle"]] is not None:
        hair = _hair(choice["hairstyle"])
        posed = deform_part(hair, values, 0.0).copy()
        posed[:, :3] += posed[:, 3:] * hair_offset(values)
        sets.append(posed)
        for mesh, tris, local in _mesh_triangles(hair):
            kept = _hair_kept(mesh, local, frontal_labels(posed, tris, labels))
            prims += _split(1, tris[kept], np.full(int(kept.sum()), "hair", dtype=object))
    return sets, _merge(prims)


def _split(vertex_set: int, tris: np.ndarray, material: np.ndarray) -> list[Primitive]:
    return split(vertex_set, tris, material, MATERIAL_NAMES)


def _merge(prims: list[Primitive]) -> list[Primitive]:
    """One primitive per (vertex set, material), in a fixed order."""
    merged: dict[tuple[int, str], list[np.ndarray]] = {}
    for p in prims:
        merged.setdefault((p.vertex_set, p.material), []).append(p.triangles)
    return [
        Primitive(s, m, np.concatenate(merged[(s, m)]))
        for s in sorted({k[0] for k in merged})
        for m in MATERIAL_NAMES
        if (s, m) in merged
    ]


def _materials(values: dict[str, float]) -> dict[str, dict]:
    palette = colors.palette(values)
    # The skin shader lays the brow colour over the skin at the brows' density, never fully.
    density = min(0.45 + 0.75 * values["brow_darkness"], 1.0) * 0.8
    skin, brow = np.array(palette["u_skin"]), np.array(palette["u_brow"])
    base = {
        "skin": (palette["u_skin"], 0.75),
        "lips": (palette["u_lip"], 0.45),
        "brows": (tuple(skin + (brow - skin) * density), 0.8),
        "hair": (palette["u_hair"], 0.7),
        "eyes": (SCLERA, 0.2),
        "iris": (palette["u_iris"], 0.2),
        "mouth": (MOUTH_CAVITY, 0.9),
        "shirt": (palette["u_shirt"], 0.9),
    }
    # Hair shells and brows are seen from both sides when the head turns.
    return {
        name: pbr_material(name, rgb, roughness, name in ("hair", "brows"))
        for name, (rgb, roughness) in base.items()
    }


def character_glb(vec: np.ndarray, labels: np.ndarray, spec: RigSpec | None = None) -> bytes:
    """The character of parameter vector `vec` as a binary glTF 2.0 file (metres, +Y up,
    facing +Z like the rig's camera); `labels` is the rig's frontal label map of `vec`."""
    spec = spec or load_reference_spec()
    vec = spec.validate_vector(vec)
    values = {c.name: float(vec[i]) for i, c in enumerate(spec.continuous)}
    sets, prims = character_primitives(spec, vec, labels)
    return character_file(sets, prims, _materials(values), spec.rig_id, spec.decode(vec))
