"""Picture of fits on held-out people: aligned photo | imitator | real rig render, per row.

Produces the pictures the README and docs/benchmarks.md show (docs/fit_examples.png,
docs/hair_before_after.png, docs/beards_before_after.png); no number.

    .venv/bin/python bench/fit_examples.py --n 6 --out docs/fit_examples.png

With `--hair-before-after`: aligned photo | real render with the hairstyle's outline and the
colour matches off | real render as fitted by default, per row:

    .venv/bin/python bench/fit_examples.py --n 6 --hair-before-after --out docs/hair_before_after.png

With `--beards-before-after`: aligned photo | real render with the beard evidence off
(`beard_group=None`) | real render as fitted by default, for the London men's
neutral photos whose chin passes `facefit.fit.beard.CHIN_LIGHTNESS` or `CHIN_TEXTURE`
(thresholds chosen on women's photos alone, so every man may be shown):

    .venv/bin/python bench/fit_examples.py --n 4 --beards-before-after \
        --out docs/beards_before_after.png

People come from identity fold 0 (never used to train or calibrate), but for the beards.
Photos: Face Research Lab London Set, DeBruine & Jones (2017), CC BY 4.0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from facefit.data.faces import fold_identities, read_manifest
from facefit.fit.fitter import load_fitter
from facefit.fit.result import preview_strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--mode", default="full")
    parser.add_argument("--hair-before-after", action="store_true")
    parser.add_argument("--beards-before-after", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    held_people = fold_identities(0)
    held = [
        r for r in read_manifest()
        if r.set == "london" and r.expression == "neutral" and r.identity in held_people
    ]  # fmt: skip
    fitter = load_fitter()
    if args.beards_before_after:
        men = [
            r for r in read_manifest()
            if r.set == "london" and r.expression == "neutral" and r.gender == "male"
        ]  # fmt: skip
        rows = beard_rows(fitter, men, args.n)
    else:
        rows = default_rows(fitter, held[: args.n], args)
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([x for row in rows for x in (row, gap)][:-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out, optimize=True)


def beard_rows(fitter, records, n: int) -> list[np.ndarray]:
    """Aligned photo | fit without the chin's evidence | fit with it, for the first `n`
    photos whose chin the fit reads as a beard."""
    rows = []
    for record in records:
        result = fitter.fit_photo(record.image.read_bytes())
        if not result.fit["beard_from_chin"]:
            continue
        before = fitter.fit_photo(record.image.read_bytes(), beard_group=None)  # evidence off
        images = [result.aligned, before.real_render, result.real_render]
        rows.append(preview_strip(images, height=192))
        if len(rows) == n:
            break
    return rows


def default_rows(fitter, records, args) -> list[np.ndarray]:
    """Aligned photo | imitator | real render, or the hair before and after its steps."""
    rows = []
    for record in records:
        result = fitter.fit_photo(record.image.read_bytes(), mode=args.mode)
        if args.hair_before_after:
            before = fitter.fit_photo(
                record.image.read_bytes(), mode=args.mode, silhouette_groups=(), color_matches=()
            )
            images = [result.aligned, before.real_render, result.real_render]
        else:
            images = [result.aligned, result.imitator_image, result.real_render]
        rows.append(preview_strip(images, height=192))
    return rows


if __name__ == "__main__":
    main()
