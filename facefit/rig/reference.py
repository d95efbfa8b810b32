"""The reference face (every control 0.5, option 0 everywhere) that photos are aligned to.

Its 68 landmarks are stored in `reference.json` so that photo alignment (patent §0096) needs
no OpenGL; `facefit rig reference --write` rewrites the file from the renderer and a unit
test checks that the two agree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

REFERENCE_SIZE = 512
REFERENCE_PATH = Path(__file__).with_name("reference.json")


@cache
def _stored() -> tuple[str, np.ndarray]:
    data = json.loads(REFERENCE_PATH.read_text())
    if int(data["size"]) != REFERENCE_SIZE:
        raise ValueError(f"{REFERENCE_PATH} is for size {data['size']}, expected {REFERENCE_SIZE}")
    pts = np.asarray(data["landmarks68"], dtype=np.float32)
    pts.flags.writeable = False
    return str(data["rig"]), pts


def reference_landmarks68(size: int = REFERENCE_SIZE) -> np.ndarray:
    """(68, 2) float32 pixel (x, y) of the reference face in a `size` x `size` render."""
    _, pts = _stored()
    return (pts * (size / REFERENCE_SIZE)).astype(np.float32)


def reference_rig_id() -> str:
    """The rig version the stored reference landmarks were rendered with."""
    return _stored()[0]


def compute_reference(size: int = REFERENCE_SIZE) -> dict:
    """Render the mean face and return the JSON document stored in `reference.json`."""
    from facefit.rig.render import Renderer
    from facefit.rig.spec import load_reference_spec

    spec = load_reference_spec()
    out = Renderer(size=size).render(spec.mean_vector())
    return {
        "rig": spec.rig_id,
        "size": size,
        "landmarks68": [[round(float(x), 3), round(float(y), 3)] for x, y in out.landmarks68],
    }


def write_reference(doc: dict) -> None:
    """Store a `compute_reference` document, one landmark per line (readable diffs)."""
    points = ",\n".join(f"    {json.dumps(p)}" for p in doc["landmarks68"])
    head = json.dumps({k: v for k, v in doc.items() if k != "landmarks68"})[:-1]
    REFERENCE_PATH.write_text(f'{head},\n  "landmarks68": [\n{points}\n  ]\n}}\n')
    _stored.cache_clear()
