"""`facefit parse ALIGNED.png --out labels.png`: face parsing of an aligned face image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "parse", help="label an aligned face: PNG of class indices in the rig's label order"
    )
    parser.add_argument("image", type=Path, help="aligned face image (any size, RGB)")
    parser.add_argument("--out", type=Path, required=True, help="single-channel PNG to write")
    parser.add_argument("--weights", type=Path, default=None, help="extractor weights file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from facefit.device import resolve_device
    from facefit.errors import IntakeError
    from facefit.nets.extractor import DEFAULT_CONFIG, load_extractor_with_info
    from facefit.nets.weights import weights_name
    from facefit.settings import CoreSettings

    settings = CoreSettings.from_env()
    path = args.weights or settings.weights_dir / weights_name("extractor", DEFAULT_CONFIG)
    loaded = load_extractor_with_info(path, resolve_device(settings.device), rig=None)
    try:
        image = Image.open(args.image).convert("RGB")
    except OSError as exc:
        raise IntakeError(f"cannot read {args.image}: {exc}", code="CORRUPT_IMAGE") from exc
    side = loaded.model.cfg.size
    x = torch.from_numpy(np.array(image.resize((side, side), Image.Resampling.BILINEAR)))
    x = x.permute(2, 0, 1)[None].float().div(255.0)
    with torch.no_grad():
        logits = loaded.model(x.to(next(loaded.model.parameters()).device)).logits
    # Back at the input's size: upsample the logits, not the labels, for smooth boundaries.
    logits = torch.nn.functional.interpolate(
        logits, size=(image.height, image.width), mode="bilinear", align_corners=False
    )
    labels = logits.argmax(dim=1)[0].cpu().numpy().astype(np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels, mode="L").save(args.out)
    counts = np.bincount(labels.ravel(), minlength=len(loaded.labels))
    print(
        json.dumps(
            {
                "out": str(args.out),
                "labels": loaded.labels,
                "pixels": {n: int(c) for n, c in zip(loaded.labels, counts, strict=False)},
            }
        )
    )
    return 0
