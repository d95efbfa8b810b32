"""`facefit fit PHOTO … --out DIR`: photos to game-face parameters, previews and loss curves."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from facefit.errors import FacefitError
from facefit.fit.config import SERVICE_MODES, FitConfig, given

logger = logging.getLogger(__name__)
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fit", help="fit game-face parameters to photos")
    parser.add_argument("photos", nargs="+", type=Path, help="JPEG, PNG or WebP photos")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--mode", choices=SERVICE_MODES, default=FitConfig.mode)
    parser.add_argument("--threshold", type=float, default=None, help="stop at this similarity")
    parser.add_argument("--max-iters", type=int, default=None, help="iteration budget")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from facefit.fit.fitter import load_fitter
    from facefit.settings import CoreSettings

    settings = CoreSettings.from_env()
    if args.device:
        settings = replace(settings, device=args.device)
    fitter = load_fitter(settings)
    photos = [path.read_bytes() for path in args.photos]
    results = fitter.fit_photos(
        photos,
        **given(
            mode=args.mode,
            threshold=args.threshold,
            max_iters=args.max_iters,
        ),
    )
    failed = 0
    for path, result in zip(args.photos, results, strict=True):
        out = args.out / path.stem if len(args.photos) > 1 else args.out
        out.mkdir(parents=True, exist_ok=True)
        if isinstance(result, FacefitError):
            failed += 1
            error = {"error": result.to_dict()}
            (out / "error.json").write_text(json.dumps(error, indent=2))
            print(json.dumps({"photo": str(path), **error}))
            continue
        (out / "params.json").write_text(json.dumps(result.to_json(), indent=2))
        (out / "preview.png").write_bytes(result.preview_png())
        (out / "loss.png").write_bytes(result.loss_png())
        similarity = result.fit["similarity"]  # None: `fast` does not judge its answer
        logger.info(
            "%s: similarity %s after %d iterations -> %s", path.name,
            "not judged" if similarity is None else f"{similarity:.3f}", result.fit["iterations"], out,
        )  # fmt: skip
    return EXIT_USAGE if failed else 0
