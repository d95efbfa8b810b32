"""Helpers of the editor tests: a finished job stored as the worker stores it, and the validator."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from db import jobs as job_store
from tests.conftest import FACES, ROOT

SPEC = json.loads((ROOT / "facefit" / "rig" / "spec.json").read_text())


def average_face() -> dict:
    """The rig's average face in the fit's parameter document form."""
    return {
        "rig": SPEC["rig"],
        "continuous": {c["name"]: 0.5 for c in SPEC["continuous"]},
        "discrete": {g["name"]: g["options"][0] for g in SPEC.get("discrete", [])},
    }


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), shade, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def store_succeeded_job(sessions, params: dict | None = None, **owner) -> uuid.UUID:
    """A finished job written through `db.jobs` as the worker writes it (never queued)."""
    params = params or average_face()
    with sessions.begin() as session:
        photo = (FACES / "london_024_neutral.jpg").read_bytes()
        upload = job_store.PhotoUpload(photo, "image/jpeg", 1350, 1350)
        job_id = job_store.create_job(session, upload, **owner).id
        job_store.store_image(session, job_id, "aligned", png(90))
        job_store.store_image(session, job_id, "preview", png(160))
        job_store.complete_job(
            session,
            job_id,
            params=params,
            fit={"mode": "full", "iterations": 3, "loss": 0.2, "similarity": 0.9},
            models={"imitator.pt": "0" * 64},
            rig=params["rig"],
            loss_curve=[[1, 0.5, 0.5], [2, 0.3, 0.7], [3, 0.2, 0.9]],
        )
    return job_id


def validate_glb(content: bytes, tmp_path: Path) -> dict:
    """The Khronos glTF validator's report (npm `gltf-validator`, run by node)."""
    path = tmp_path / f"{uuid.uuid4().hex}.glb"
    path.write_bytes(content)
    script = (
        "const v = require('gltf-validator'); const fs = require('fs');"
        "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
        ".then(r => console.log(JSON.stringify(r)));"
    )
    result = subprocess.run(
        ["node", "-e", script, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def glb_json(content: bytes) -> dict:
    """The JSON chunk of a GLB file."""
    length = int.from_bytes(content[12:16], "little")
    assert content[:4] == b"glTF" and content[16:20] == b"JSON"
    return json.loads(content[20 : 20 + length])
