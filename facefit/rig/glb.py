"""The binary glTF 2.0 container of the rigs' character files: posed vertex sets, primitives
and PBR materials packed as one node with one mesh (`facefit.rig.gltf` for rig 2.2,
`facefit.rig.human.gltf` for rig 3)."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRES_PER_CM = 0.01
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
FLOAT, UNSIGNED_INT = 5126, 5125


@dataclass(frozen=True)
class Primitive:
    """Triangles of one vertex set drawn with one material."""

    vertex_set: int
    material: str
    triangles: np.ndarray  # (T, 3) uint32


def split(
    vertex_set: int, tris: np.ndarray, material: np.ndarray, names: Sequence[str]
) -> list[Primitive]:
    """One primitive per material name (in `names` order) of triangles `tris` of a vertex
    set, `material` naming each triangle's; names no triangle has are left out."""
    return [
        Primitive(vertex_set, name, tris[material == name].astype(np.uint32))
        for name in names
        if (material == name).any()
    ]


def pbr_material(
    name: str, rgb: Sequence[float], roughness: float, double_sided: bool = False
) -> dict:
    """A non-metallic material of linear base colour `rgb`."""
    return {
        "name": name,
        "pbrMetallicRoughness": {
            "baseColorFactor": [round(float(c), 6) for c in rgb] + [1.0],
            "metallicFactor": 0.0,
            "roughnessFactor": roughness,
        },
        "doubleSided": double_sided,
    }


def character_file(
    sets: Sequence[np.ndarray],
    prims: Sequence[Primitive],
    materials: dict[str, dict],
    rig_id: str,
    params: dict,
) -> bytes:
    """The GLB of vertex sets ((N, 6) positions and normals in cm, written in metres) and
    their primitives; `materials` by name in file order (those no primitive uses are left
    out), `params` in `extras.params`."""
    blob = bytearray()
    views: list[dict] = []
    accessors: list[dict] = []

    def add(data: np.ndarray, target: int, accessor: dict) -> int:
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": data.nbytes,
                      "target": target})  # fmt: skip
        blob.extend(data.tobytes())
        blob.extend(b"\0" * (-len(blob) % 4))
        accessors.append({"bufferView": len(views) - 1, **accessor})
        return len(accessors) - 1

    set_accessors = []
    for posed in sets:
        pos = np.ascontiguousarray(posed[:, :3] * METRES_PER_CM, dtype=np.float32)
        nrm = np.ascontiguousarray(unit_normals(posed), dtype=np.float32)
        p = add(pos, ARRAY_BUFFER, {"componentType": FLOAT, "count": len(pos), "type": "VEC3",
                "min": pos.min(axis=0).tolist(), "max": pos.max(axis=0).tolist()})  # fmt: skip
        n = add(nrm, ARRAY_BUFFER, {"componentType": FLOAT, "count": len(nrm), "type": "VEC3"})
        set_accessors.append((p, n))

    names = [m for m in materials if any(p.material == m for p in prims)]
    primitives = []
    for prim in prims:
        idx = np.ascontiguousarray(prim.triangles.reshape(-1), dtype=np.uint32)
        i = add(idx, ELEMENT_ARRAY_BUFFER,
                {"componentType": UNSIGNED_INT, "count": len(idx), "type": "SCALAR"})  # fmt: skip
        p, n = set_accessors[prim.vertex_set]
        primitives.append({"attributes": {"POSITION": p, "NORMAL": n}, "indices": i,
                           "material": names.index(prim.material), "mode": 4})  # fmt: skip
    document = {
        "asset": {"version": "2.0", "generator": f"facefit {rig_id}"},
        "scene": 0,
        "scenes": [{"name": "character", "nodes": [0]}],
        "nodes": [{"name": "character", "mesh": 0}],
        "meshes": [{"name": "character", "primitives": primitives}],
        "materials": [materials[m] for m in names],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
        "extras": {"rig": rig_id, "params": params},
    }
    return pack_glb(document, bytes(blob))


def unit_normals(posed: np.ndarray) -> np.ndarray:
    """Unit normals; a grid's collapsed poles (zero-length normals) point away from the centre,
    since glTF requires every normal to be of unit length."""
    normals = posed[:, 3:].astype(np.float64)
    length = np.linalg.norm(normals, axis=1)
    flat = length < 1e-6
    if flat.any():
        outward = posed[:, :3] - posed[:, :3].mean(axis=0)
        normals[flat] = outward[flat]
        length = np.linalg.norm(normals, axis=1)
    return normals / np.maximum(length, 1e-12)[:, None]


def pack_glb(document: dict, binary: bytes) -> bytes:
    """The GLB container: a 12-byte header, the JSON chunk (space-padded), the BIN chunk."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    length = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, length),
            struct.pack("<I4s", len(text), b"JSON"),
            text,
            struct.pack("<I4s", len(binary), b"BIN\0"),
            binary,
        ]
    )
