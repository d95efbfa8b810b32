"""Is there a beard in a photo's pixels? The chin against the cheeks, women against men.

Neither the predictor nor the fit's loss tells a man's stubble from a woman's bare chin
(docs/benchmarks.md, Fitting). This measures whether the chin (inside the jaw below the
lower lip, the mouth left out) could, per aligned photo, by two measures against the cheek
patches the skin colour is measured on (`facefit.fit.skin_regions`):
- lightness: the chin's mean CIE L* minus the cheeks';
- texture: the chin's fine texture (L* against L* blurred by a pixel) minus the cheeks'.
The manifest proves no woman has a beard. The London men are labelled by eye
(`facefit/data/london_facial_hair.csv`: none, stubble or beard), and the table counts the
photos of each label past each threshold; the other men have no ground truth.

The fit's `FitConfig.beard_chin_lightness` and `beard_chin_texture` sit just past the most
beard-like women's chins of the training folds' photos, both expressions:
`--training-folds --expressions neutral,smiling`.

    .venv/bin/python bench/beard_signal.py [--sets london,canada] [--expressions neutral]
        [--training-folds]
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from facefit.align import align_photo
from facefit.data.faces import facial_hair_by_eye, fold_identities, read_manifest
from facefit.errors import FacefitError
from facefit.fit.config import FitConfig
from facefit.fit.skin_regions import chin_minus_cheek_lightness, chin_minus_cheek_texture


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
    by_eye = facial_hair_by_eye()
    cfg = FitConfig()
    rows = []  # (group, lightness, texture)
    for record in tqdm(records, unit="photo"):
        try:
            face = align_photo(record.image.read_bytes(), size=512)
        except FacefitError:
            continue
        if record.gender == "female":
            group = "women"
        elif record.gender == "male":
            group = f"men, {by_eye[record.identity]} by eye" if record.identity in by_eye else "men"
        else:
            continue
        image, points = face.image, face.aligned_landmarks68
        rows.append(
            (
                group,
                chin_minus_cheek_lightness(image, points),
                chin_minus_cheek_texture(image, points),
            )
        )
    light_at, texture_at = cfg.beard_chin_lightness, cfg.beard_chin_texture
    print(
        "| photos | n | chin - cheek L*: 10th / 50th / 90th percentile | texture: 10th / 50th / "
        f"90th | darker than {light_at:g} | more textured than {texture_at:g} | either |"
    )
    print("|---|---|---|---|---|---|---|")
    for group in sorted({g for g, _, _ in rows}, key=lambda g: (g != "women", g)):
        light = np.array([d for g, d, _ in rows if g == group])
        texture = np.array([t for g, _, t in rows if g == group])
        dark, rough = light < light_at, texture > texture_at
        lp, tp = np.percentile(light, [10, 50, 90]), np.percentile(texture, [10, 50, 90])
        print(
            f"| {group} | {len(light)} | {' / '.join(f'{v:.1f}' for v in lp)} | "
            f"{' / '.join(f'{v:.2f}' for v in tp)} | {dark.sum()} | {rough.sum()} | "
            f"{(dark | rough).sum()} |"
        )
    women = [(d, t) for g, d, t in rows if g == "women"]
    print(
        f"\nwomen: darkest chin {min(d for d, _ in women):.1f}, "
        f"most textured {max(t for _, t in women):.2f}"
    )


if __name__ == "__main__":
    main()
