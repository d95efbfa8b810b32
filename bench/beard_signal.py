"""Is there a beard in a photo's colours? Chin-against-cheek lightness, women against men.

Neither the predictor nor the fit's loss tells a man's stubble from a woman's bare chin
(docs/benchmarks.md, Fitting). This measures whether a simple colour region could: the mean
CIE L* of the chin (inside the jaw below the lower lip, the mouth left out) minus that of
the cheek patches the skin colour is measured on, per aligned photo. The manifest proves
no woman has a beard; the men have no ground truth, so the darkest men's chins are listed
to be checked against the photos (the London men's are labelled by eye in
`facefit/data/london_facial_hair.csv`).

The fit's `FitConfig.beard_chin_lightness` is chosen from the darkest women's chin of the
training folds' photos, both expressions: `--training-folds --expressions neutral,smiling`.

    .venv/bin/python bench/beard_signal.py [--sets london,canada] [--expressions neutral]
        [--training-folds]
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from facefit.align import align_photo
from facefit.data.faces import fold_identities, read_manifest
from facefit.errors import FacefitError
from facefit.fit.skin_regions import chin_minus_cheek_lightness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="london,canada", help="comma-separated photo sets")
    parser.add_argument("--expressions", default="neutral", help="comma-separated expressions")
    parser.add_argument(
        "--training-folds", action="store_true", help="leave out identity fold 0's people"
    )
    args = parser.parse_args()
    sets, expressions = set(args.sets.split(",")), set(args.expressions.split(","))
    held = fold_identities(0) if args.training_folds else set()
    records = [
        r
        for r in read_manifest()
        if r.set in sets and r.expression in expressions and r.identity not in held
    ]
    found: dict[str, list[tuple[float, str]]] = {"female": [], "male": []}
    for record in tqdm(records, unit="photo"):
        try:
            face = align_photo(record.image.read_bytes(), size=512)
        except FacefitError:
            continue
        if record.gender in found:
            delta = chin_minus_cheek_lightness(face.image, face.aligned_landmarks68)
            found[record.gender].append((delta, record.name))
    women = np.array([d for d, _ in found["female"]])
    print("| photos | n | chin - cheek L*: 10th / 50th / 90th percentile |\n|---|---|---|")
    for gender, label in (("female", "women"), ("male", "men")):
        values = np.array([d for d, _ in found[gender]])
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        print(f"| {label} | {len(values)} | {p10:.1f} / {p50:.1f} / {p90:.1f} |")
    darkest = min(women)
    beyond = sorted((d, name) for d, name in found["male"] if d < darkest)
    print(f"\nmen darker at the chin than every woman (< {darkest:.1f}):")
    print(", ".join(f"{name} {d:.1f}" for d, name in beyond))


if __name__ == "__main__":
    main()
