"""How close rig 3's skin colours come to real cheeks: CIE Lab distance, every shared photo.

Usage: .venv/bin/python bench/human_skin_reach.py [--faces ../shared/data/faces]

For each photo in the folder's manifest, dlib's landmarks place the cheek patches of
`facefit.fit.skin_regions` and their mean Lab is compared with the closest cheek colour the
rig draws: the average face rendered on a grid of skin_tone x skin_undertone x
skin_saturation, measured the same way and interpolated (the colour is smooth in the
controls). Prints the distribution of the distance (CIE76 Delta E) and the worst photos.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

GRID = (np.linspace(0, 1, 11), np.linspace(0, 1, 5), np.linspace(0, 1, 5))
FINE = (np.linspace(0, 1, 101), np.linspace(0, 1, 21), np.linspace(0, 1, 21))


def rig_cheek_grid(size: int = 256) -> np.ndarray:
    """(11, 5, 5, 3) cheek Lab of the average face over the skin controls' grid."""
    from facefit.fit.skin_regions import cheek_lab
    from facefit.rig.choice import make_renderer, rig_spec

    spec, renderer = rig_spec("human"), make_renderer(size, "human")
    out = np.zeros((*[len(g) for g in GRID], 3))
    for i, tone in enumerate(GRID[0]):
        for j, under in enumerate(GRID[1]):
            for k, sat in enumerate(GRID[2]):
                vec = spec.encode({"continuous": {"skin_tone": tone, "skin_undertone": under,
                                                  "skin_saturation": sat}})  # fmt: skip
                r = renderer.render(vec)
                out[i, j, k] = cheek_lab(r.image, r.landmarks68)
    return out


def photo_cheeks(faces: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    from facefit.align.detect import detect_faces, predict_landmarks68
    from facefit.fit.skin_regions import cheek_lab

    out = {}
    with open(faces / "manifest.csv") as f:
        for row in csv.DictReader(f):
            image = np.asarray(Image.open(faces / row["image"]).convert("RGB"))
            boxes = detect_faces(image)
            if boxes:
                out[row["image"]] = cheek_lab(image, predict_landmarks68(image, boxes[0]))
    return out


def main() -> None:
    from scipy.interpolate import RegularGridInterpolator

    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    args = parser.parse_args()
    grid = rig_cheek_grid()
    fine = np.stack(np.meshgrid(*FINE, indexing="ij"), axis=-1).reshape(-1, 3)
    reach = RegularGridInterpolator(GRID, grid)(fine)  # (M, 3) Lab the rig can draw
    photos = photo_cheeks(args.faces)
    dist = {name: float(np.linalg.norm(reach - lab, axis=1).min()) for name, lab in photos.items()}
    values = np.array(list(dist.values()))
    worst = sorted(dist.items(), key=lambda kv: -kv[1])[:5]
    print(json.dumps({
        "photos": len(values),
        "delta_e_median": round(float(np.median(values)), 2),
        "delta_e_p90": round(float(np.percentile(values, 90)), 2),
        "delta_e_max": round(float(values.max()), 2),
        "within_3": round(float((values <= 3).mean()), 3),
        "within_5": round(float((values <= 5).mean()), 3),
        "rig_L_range": [round(float(reach[:, 0].min()), 1), round(float(reach[:, 0].max()), 1)],
        "photo_L_range": [round(float(min(v[0] for v in photos.values())), 1),
                          round(float(max(v[0] for v in photos.values())), 1)],
        "worst": [[name, round(d, 2)] for name, d in worst],
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
