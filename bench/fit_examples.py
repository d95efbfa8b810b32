"""Picture of fits on held-out people: aligned photo | imitator | real rig render, per row.

    .venv/bin/python bench/fit_examples.py --n 6 --out docs/fit_examples.png

With `--hair-before-after`: aligned photo | real render with the hairstyle's outline and the
colour matches off | real render as fitted by default, per row:

    .venv/bin/python bench/fit_examples.py --n 6 --hair-before-after --out docs/hair_before_after.png

People come from identity fold 0 (never used to train or calibrate). Photos: Face Research
Lab London Set, DeBruine & Jones (2017), CC BY 4.0.
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
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    held_people = fold_identities(0)
    held = [
        r for r in read_manifest()
        if r.set == "london" and r.expression == "neutral" and r.identity in held_people
    ]  # fmt: skip
    fitter = load_fitter()
    rows = []
    for record in held[: args.n]:
        result = fitter.fit_photo(record.image.read_bytes(), mode=args.mode)
        if args.hair_before_after:
            before = fitter.fit_photo(
                record.image.read_bytes(), mode=args.mode, silhouette_groups=(), color_matches=()
            )
            images = [result.aligned, before.real_render, result.real_render]
        else:
            images = [result.aligned, result.imitator_image, result.real_render]
        rows.append(preview_strip(images, height=192))
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([x for row in rows for x in (row, gap)][:-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out, optimize=True)


if __name__ == "__main__":
    main()
