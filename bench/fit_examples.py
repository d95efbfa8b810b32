"""Picture of fits on held-out people: aligned photo | imitator | real rig render, per row.

    .venv/bin/python bench/fit_examples.py --n 6 --out docs/fit_examples.png

People come from identity fold 0 (never used to train or calibrate). Photos: Face Research
Lab London Set, DeBruine & Jones (2017), CC BY 4.0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from facefit.data.faces import faces_dir, identity_folds, read_manifest
from facefit.fit.fitter import load_fitter
from facefit.fit.result import preview_strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--mode", default="full")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    records = [r for r in read_manifest(faces_dir()) if r.set == "london"]
    held = [r for r in identity_folds(records, n_folds=5, seed=0)[0] if r.expression == "neutral"]
    fitter = load_fitter()
    rows = []
    for record in held[: args.n]:
        result = fitter.fit_photo(record.image.read_bytes(), mode=args.mode)
        rows.append(
            preview_strip([result.aligned, result.imitator_image, result.real_render], height=192)
        )
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([x for row in rows for x in (row, gap)][:-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out, optimize=True)


if __name__ == "__main__":
    main()
