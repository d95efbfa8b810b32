"""Import renders exported from a studio's own game client into training shards.

Folder format (documented in `facefit/rig/README.md`): `spec.json` (same shape as ours) and
per sample `NNNNNN.json` (parameters) + `NNNNNN.png` (render), optionally
`NNNNNN_labels.png` (class ids in spec label order) and `NNNNNN_landmarks.json`
(`{"landmarks68": [[x, y], ...]}` in render pixels).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facefit.errors import FacefitError, SpecError
from facefit.rig import shards
from facefit.rig.spec import parse_params_document, spec_from_json

log = logging.getLogger(__name__)

NO_LABEL = 255  # label maps of a client that exports none: "ignore" for a loss
_SAMPLE = re.compile(r"^(\d{6})\.json$")


def import_client_folder(
    src: str | Path,
    out: str | Path,
    size: int | None = None,
    shard_size: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> shards.ShardFolderMeta:
    """Convert a client export folder into a shard folder at `size` px (default: native size)."""
    import cv2
    from PIL import Image

    src, out = Path(src), Path(out)
    spec_path = src / "spec.json"
    if not spec_path.exists():
        raise FacefitError(f"{src} has no spec.json", code="BAD_DATA")
    spec = spec_from_json(json.loads(spec_path.read_text()))
    ids = sorted(m.group(1) for p in src.iterdir() if (m := _SAMPLE.match(p.name)))
    if not ids:
        raise FacefitError(f"{src} holds no NNNNNN.json / NNNNNN.png pairs", code="BAD_DATA")
    out.mkdir(parents=True, exist_ok=True)
    names: list[tuple[str, int]] = []
    writer = None
    for k, sid in enumerate(ids):
        png = src / f"{sid}.png"
        if not png.exists():
            raise FacefitError(f"{sid}.json has no {sid}.png", code="BAD_DATA")
        try:
            params = parse_params_document(json.loads((src / f"{sid}.json").read_text()))
            vec = spec.encode(params)
        except SpecError as exc:
            raise SpecError(f"{sid}.json: {exc.message}") from exc
        image = np.asarray(Image.open(png).convert("RGB"))
        h, w = image.shape[:2]
        if h != w:
            raise FacefitError(f"{sid}.png is {w}x{h}; renders must be square", code="BAD_DATA")
        px = size or w
        scale = px / w
        if px != w:
            image = cv2.resize(image, (px, px), interpolation=cv2.INTER_AREA)
        lab_path = src / f"{sid}_labels.png"
        if lab_path.exists():
            labels = np.asarray(Image.open(lab_path))
            if labels.ndim == 3:
                labels = labels[..., 0]
            labels = cv2.resize(labels.astype(np.uint8), (px, px), interpolation=cv2.INTER_NEAREST)
        else:
            labels = np.full((px, px), NO_LABEL, np.uint8)
        lm_path = src / f"{sid}_landmarks.json"
        landmarks = None
        if lm_path.exists():
            pts = np.asarray(json.loads(lm_path.read_text())["landmarks68"], np.float32)
            if pts.shape != (68, 2):
                raise FacefitError(f"{lm_path.name} must hold 68 [x, y] points", code="BAD_DATA")
            landmarks = pts * scale
        if writer is None:
            writer = shards.ShardWriter(out, shards.shard_name(len(names)), px, spec.vector_size)
        if writer.size != px:
            raise FacefitError("all renders must share one size (or pass --size)", code="BAD_DATA")
        writer.add(vec, image, labels, landmarks)
        if len(writer) == shard_size or k == len(ids) - 1:
            names.append((writer.name, writer.close()))
            if on_progress:
                on_progress(len(writer))
            size_px = writer.size
            writer = None
    meta = shards.ShardFolderMeta(
        rig=spec.rig_id,
        size=size_px,
        vector_size=spec.vector_size,
        labels=spec.labels,
        shards=tuple(names),
        spec=spec.to_json(),
    )
    shards.write_meta(out, meta)
    log.info("imported %d samples of %s into %s", len(ids), spec.rig_id, out)
    return meta


def export_client_folder(
    out: str | Path, vectors: np.ndarray, size: int = 256, with_labels: bool = True
) -> None:
    """Write our own renders in the client folder format (tests, and an example for studios)."""
    from PIL import Image

    from facefit.rig.choice import make_renderer, rig_spec

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = rig_spec()
    (out / "spec.json").write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    renderer = make_renderer(size)
    for i, vec in enumerate(vectors):
        sid = f"{i:06d}"
        r = renderer.render(vec)
        (out / f"{sid}.json").write_text(json.dumps(spec.decode(vec)) + "\n")
        Image.fromarray(r.image).save(out / f"{sid}.png")
        if with_labels:
            Image.fromarray(r.labels).save(out / f"{sid}_labels.png")
            (out / f"{sid}_landmarks.json").write_text(
                json.dumps({"landmarks68": r.landmarks68.round(3).tolist()}) + "\n"
            )
