"""Two `facefit eval likeness --json` runs compared photo by photo.

Prints `facefit.likeness.ranking.paired_change` of each recogniser's ranks (dlib, and FaceNet,
which the fit never reads): the median ranks, the mean change of log-rank with its standard
error, how many photos ranked their person higher and lower, and the mean reciprocal ranks.

With `--picture`, also draws photo | character before | character after for twelve people
(neutral photos, taken in turn from each gender and ethnicity; with `--changed`, only people
whose character the change redrew), captioned with both ranks.

Usage: [FACEFIT_RIG=human] .venv/bin/python bench/likeness_paired.py BEFORE.json AFTER.json [--picture P.png [--changed]]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RANKS = ("rank_fit", "facenet_rank_fit")  # the picture's captions: dlib's, then FaceNet's


def main() -> None:
    from facefit.likeness.evaluate import RECOGNISERS, rank_key
    from facefit.likeness.ranking import paired_change

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--picture", type=Path, default=None, help="write the sheet PNG here")
    parser.add_argument("--changed", action="store_true", help="show only redrawn characters")
    args = parser.parse_args()
    runs = [json.loads(Path(path).read_text()) for path in (args.before, args.after)]
    result = {}
    for recogniser in RECOGNISERS:
        key = rank_key(recogniser, "fit")
        ranks = [{row["photo"]: row[key] for row in run["rows"] if key in row} for run in runs]
        photos = sorted(set(ranks[0]) & set(ranks[1]))
        if photos:
            before, after = ([r[p] for p in photos] for r in ranks)
            result[recogniser] = paired_change(before, after)
    print(json.dumps(result))
    if args.picture:
        picture(runs, args.picture, changed=args.changed)


def redrawn(before: dict, after: dict) -> bool:
    """Whether two rows' characters differ: another option, or a control moved."""
    return before["discrete"] != after["discrete"] or any(
        abs(value - before["continuous"][name]) > 1e-3
        for name, value in after["continuous"].items()
    )


def picture(runs: list[dict], path: Path, size: int = 192, changed: bool = False) -> None:
    """Photo | before | after for twelve people, each pair of characters drawn on the rig."""
    from types import SimpleNamespace

    import cv2
    from PIL import Image, ImageDraw

    from facefit.align import align_photo, load_photo
    from facefit.data.faces import read_manifest
    from facefit.likeness.sheet import CAPTION, pick_people
    from facefit.rig.choice import make_renderer
    from facefit.rig.spec import load_spec

    by_name = {r.name: r for r in read_manifest()}
    before = {row["photo"]: row for row in runs[0]["rows"] if "error" not in row}
    shown = [
        SimpleNamespace(record=by_name[row["photo"]], thumbs=True, row=row)
        for row in runs[1]["rows"]
        if row["photo"] in before and (not changed or redrawn(before[row["photo"]], row))
    ]
    people = pick_people(shown)
    spec, renderer = load_spec(), make_renderer(512)

    def small(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)

    def drawn(row: dict) -> np.ndarray:
        vector = spec.encode({"continuous": row["continuous"], "discrete": row["discrete"]})
        return small(renderer.render(vector).image)

    columns = 2
    rows = -(-len(people) // columns)
    sheet = Image.new("RGB", (columns * 3 * size, rows * (size + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, person in enumerate(people):
        name, after = person.record.name, person.row
        photo = small(align_photo(load_photo(person.record.image.read_bytes())).image)
        x, y = (k % columns) * 3 * size, (k // columns) * (size + CAPTION)
        sheet.paste(Image.fromarray(np.hstack([photo, drawn(before[name]), drawn(after)])), (x, y))
        ranks = [f"{before[name].get(k, '-')} -> {after.get(k, '-')}" for k in RANKS]
        caption = f"{name}  rank {ranks[0]} (FaceNet {ranks[1]})"
        draw.text((x + 6, y + size + 5), caption, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


if __name__ == "__main__":
    main()
