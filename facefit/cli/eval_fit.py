"""`facefit eval synthetic` and `facefit eval photos`: the whole fit, measured (JSON out)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facefit.fit.config import MODES, PATENT_MAX_ITERS, FitConfig, given


def register_eval(evals: argparse._SubParsersAction) -> None:
    synthetic = evals.add_parser(
        "synthetic", help="fit random rig faces whose parameters are known"
    )
    synthetic.add_argument("--n", type=int, default=200)
    synthetic.add_argument("--seed", type=int, default=7)
    synthetic.add_argument("--batch", type=int, default=8)
    fit_options(synthetic)
    synthetic.set_defaults(func=run_synthetic)

    photos = evals.add_parser("photos", help="fit the shared photos: landmarks and identity")
    photos.add_argument("--manifest", type=Path, default=None, help="faces manifest.csv")
    photos.add_argument("--sets", default="london", help="comma-separated sets to fit")
    photos.add_argument("--limit", type=int, default=None, help="fit only the first N photos")
    fit_options(photos)
    photos.set_defaults(func=run_photos)


def fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=MODES, default=FitConfig.mode)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument(
        "--max-iters",
        type=int,
        default=None,
        help=f"iteration budget (default: the calibrated one; {PATENT_MAX_ITERS} in patent)",
    )
    parser.add_argument(
        "--default-margin",
        type=float,
        default=None,
        help="relative real-render loss a non-default discrete option must win by",
    )
    parser.add_argument(
        "--default-margin-groups",
        type=lambda text: tuple(g for g in text.split(",") if g),
        default=None,
        help="comma-separated discrete groups the margin applies to",
    )
    parser.add_argument(
        "--silhouette-groups",
        type=lambda text: tuple(tuple(p.split(":", 1)) for p in text.split(",") if p),
        default=None,
        help="comma-separated GROUP:LABEL pairs chosen by outline ('' for none)",
    )
    parser.add_argument(
        "--w-recognition",
        type=float,
        default=None,
        help="weight of dlib's reading in the fit's last shape solve (0 switches the step off)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")


def fit_overrides(args: argparse.Namespace) -> dict:
    """The fit options given; `patent` (the patent's loop from the average face) runs its own
    budget unless one is given."""
    max_iters = args.max_iters
    if max_iters is None and args.mode == "patent":
        max_iters = PATENT_MAX_ITERS
    return given(
        mode=args.mode,
        threshold=args.threshold,
        max_iters=max_iters,
        default_margin=args.default_margin,
        default_margin_groups=args.default_margin_groups,
        silhouette_groups=args.silhouette_groups,
        w_recognition=args.w_recognition,
    )


def emit(report: dict, args: argparse.Namespace) -> int:
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def run_synthetic(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facefit.fit.evaluate import evaluate_synthetic
    from facefit.fit.fitter import load_fitter

    fitter = load_fitter()
    with tqdm(total=args.n, desc="fit synthetic", unit="face", disable=args.json) as bar:
        report = evaluate_synthetic(
            fitter, n=args.n, seed=args.seed, batch=args.batch, progress=bar.update,
            **fit_overrides(args),
        )  # fmt: skip
    return emit(report, args)


def run_photos(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facefit.data.faces import read_manifest
    from facefit.fit.evaluate import evaluate_photos
    from facefit.fit.fitter import load_fitter

    root = args.manifest.parent if args.manifest else None
    sets = set(args.sets.split(","))
    records = [r for r in read_manifest(root) if r.set in sets][: args.limit]
    fitter = load_fitter()
    with tqdm(total=len(records), desc="fit photos", unit="photo", disable=args.json) as bar:
        report = evaluate_photos(fitter, records, progress=bar.update, **fit_overrides(args))
    return emit(report, args)
