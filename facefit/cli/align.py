"""`facefit align PHOTO --out aligned.png [--landmarks lm.json]`: align a photo to the rig's face.

Failures exit 2 with `{"error": {"code", "message"}}`: the intake codes of `facefit.align`,
or FILE_NOT_FOUND when PHOTO cannot be read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facefit.errors import IntakeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "align", help="warp a face photo onto the rig's reference face (PNG + landmarks JSON)"
    )
    parser.add_argument("photo", type=Path, help="JPEG, PNG or WebP photo of one face")
    parser.add_argument("--out", type=Path, required=True, help="aligned image to write (PNG)")
    parser.add_argument("--landmarks", type=Path, help="write landmarks, transform and quality")
    parser.add_argument("--size", type=int, default=512, help="output size in pixels")
    parser.add_argument(
        "--detector", choices=("hog", "cnn"), default="hog", help="cnn: slower, finds more"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from facefit.align import align_photo

    try:
        data = args.photo.read_bytes()
    except OSError as exc:
        raise IntakeError(
            f"Cannot read {args.photo}: {exc.strerror}.", code="FILE_NOT_FOUND"
        ) from exc
    aligned = align_photo(data, size=args.size, detector=args.detector)
    Image.fromarray(aligned.image).save(args.out, format="PNG")
    document = aligned.to_json()
    if args.landmarks is not None:
        args.landmarks.write_text(json.dumps(document) + "\n")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "faces_found": aligned.faces_found,
                "residual": document["residual"],
                "warnings": aligned.quality["warnings"],
            }
        )
    )
    return 0
