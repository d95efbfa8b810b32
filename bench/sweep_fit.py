"""Compare fit settings on the training folds' people: landmarks, identity, beards, time.

The fit's defaults are chosen here, by cross-validation over identities: every setting is
scored on the people of identity folds 1-4 only (fold 0 is never used to choose), with the
same measures `facefit eval photos` reports (NME ratio, top-1 / verification, facial hair
on women and men, hair overlap, seconds per face). Each `--set FIELD=V1,V2` names a
`FitConfig` field or a `BlendRules` field (how the start's owners are decided,
`facefit.fit.ownership`) and its candidate values; several `--set` options are crossed. A
choice made here is recorded as a line of docs/decisions.md; the shipped default's training-fold
scores are in docs/benchmarks.md (Fitting, "Calibration").

    OMP_NUM_THREADS=1 FACEFIT_TORCH_THREADS=1 .venv/bin/python bench/sweep_fit.py \\
        --set max_iters=4,8,12 --out var/bench/sweep_iters.json

prints one markdown row per setting (and writes the summaries as JSON with `--out`). With
`--synthetic N` each setting also fits N random rig faces (`facefit eval synthetic`), whose
true parameters are known, and the row gains their continuous error and discrete accuracy.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from facefit.data.faces import faces_dir, fold_identities, read_manifest
from facefit.fit.calibration import from_manifests
from facefit.fit.config import FitConfig
from facefit.fit.evaluate import evaluate_photos, evaluate_synthetic
from facefit.fit.fitter import load_fitter
from facefit.fit.ownership import BlendRules

RULES = {f.name: f.type for f in fields(BlendRules)}
FIELDS = {f.name: f.type for f in fields(FitConfig)} | RULES


def _names(text: str) -> tuple[str, ...]:
    """'a+b' -> ('a', 'b'): the value of a tuple field (',' separates candidates)."""
    return tuple(name for name in text.split("+") if name)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """'max_iters=4,8' -> ('max_iters', [4, 8]), typed like the field
    ('beard_group=none,facial_hair' -> [None, 'facial_hair'] where the field allows None)."""
    name, _, values = text.partition("=")
    if name not in FIELDS or not values:
        raise argparse.ArgumentTypeError(f"expected FIELD=V1,V2 with a known field: {text}")
    kind = str(FIELDS[name])
    optional = kind.endswith(" | None")  # 'none' then stands for None: the step off
    kind = kind.removesuffix(" | None")
    cast = _names if kind.startswith("tuple") else {"int": int, "float": float, "str": str}[kind]
    return name, [None if optional and v == "none" else cast(v) for v in values.split(",")]


def row(
    overrides: dict[str, Any], summary: dict[str, Any], synthetic: dict[str, Any] | None
) -> str:
    """One markdown table row of a training-fold summary (and of rig faces, if fitted)."""

    def scores(kind: str) -> str:
        found = summary["identity"][kind]  # None with under 3 people photographed twice
        return f"{found['top1']:.3f} / {found['verification']:.3f}" if found else "-"

    iterations = summary.get("iterations_mean")
    cells = [
        ", ".join(f"{k}={v}" for k, v in overrides.items()),
        f"{summary['nme_ratio_fit_to_reference']:.3f}",
        scores("shape_controls"),
        scores("all_controls"),
        f"{summary.get('facial_hair_on_women', float('nan')):.2f}",
        f"{summary.get('facial_hair_on_men', float('nan')):.2f}",
        f"{summary.get('hair_iou', float('nan')):.3f}",
        f"{iterations:.1f}" if iterations is not None else "",
        f"{summary['seconds_per_face_median']:.2f}",
    ]
    if synthetic is not None:
        accuracy = " / ".join(f"{v:.3f}" for v in synthetic["discrete_accuracy"].values())
        cells += [f"{synthetic['continuous_mae']:.4f}", accuracy]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", dest="sets", type=parse_set, action="append", required=True)
    parser.add_argument("--photo-sets", default="london", help="comma-separated sets to fit")
    parser.add_argument("--limit", type=int, default=None, help="first N photos only (a smoke run)")
    parser.add_argument("--synthetic", type=int, default=0, help="also fit N random rig faces")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    fitter = load_fitter()
    photo_sets = set(args.photo_sets.split(","))
    # Only the training folds' people are fitted: fold 0 is never used to choose.
    held = fold_identities(0)
    records = [
        r for r in read_manifest(faces_dir()) if r.set in photo_sets and r.identity not in held
    ][: args.limit]
    names = [name for name, _ in args.sets]
    grid = [dict(zip(names, values, strict=True)) for values in itertools.product(
        *[values for _, values in args.sets]
    )]  # fmt: skip
    header = (
        "| setting | NME ratio | top-1 / verification, shape | top-1 / verification, all "
        "| women with facial hair | men with facial hair | hair overlap | iterations | s/face |"
    )
    if args.synthetic:
        groups = " / ".join(g.name for g in fitter.spec.discrete)
        header += f" rig faces: continuous MAE | rig faces: {groups} |"
    print(header + "\n" + "|---" * (header.count("|") - 1) + "|", flush=True)
    report = []
    shipped = fitter.calibration
    for overrides in grid:
        rules = {k: v for k, v in overrides.items() if k in RULES}
        fitter.calibration = shipped
        if rules:  # the start's owners decided again from the manifests by these rules
            decided = from_manifests(fitter.networks, replace(shipped.rules, **rules))
            fitter.calibration = replace(shipped, start=decided.start, rules=decided.rules)
        config = {k: v for k, v in overrides.items() if k not in RULES}
        with tqdm(total=len(records), desc=str(overrides), unit="photo", leave=False) as bar:
            summary = evaluate_photos(fitter, records, progress=bar.update, **config)
        training = summary["training_folds"]
        ok = [r for r in summary["rows"] if "error" not in r]
        training["iterations_mean"] = sum(r["iterations"] for r in ok) / max(len(ok), 1)
        synthetic = None
        if args.synthetic:
            with tqdm(total=args.synthetic, desc="rig faces", unit="face", leave=False) as bar:
                synthetic = evaluate_synthetic(
                    fitter, n=args.synthetic, progress=bar.update, **config
                )
        print(row(overrides, training, synthetic), flush=True)
        report.append({"overrides": overrides, "training_folds": training, "synthetic": synthetic})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
