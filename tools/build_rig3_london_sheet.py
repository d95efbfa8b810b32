"""`docs/rig3_london.png`: rig 3 set to look like eight London people, beside their photos.

    .venv/bin/python tools/build_rig3_london_sheet.py [--faces ../shared/data/faces]

Per person: sex, age and ethnic form from the set's manifest; hairstyle, facial hair and hair
and eye colour set by hand from the photo; skin from the photo's cheeks (the closest rig
colour in CIE Lab); the face's shape by a least-squares search of the morph controls that
brings the rig's 68 landmarks onto dlib's landmarks of the photo (after a similarity
alignment). Each photo is shown warped onto its render's landmarks.

Photos: Face Research Lab London Set. Lisa DeBruine, Benedict Jones (2017). figshare.
doi:10.6084/m9.figshare.5047666.v5. CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "rig3_london.png"
SIZE = 256
# id: hairstyle, facial hair, facial-hair density, hair colour, hair grey, eye colour
PEOPLE = {
    "025": ("braid01", "none", 0.5, 0.0, 0.0, 0.05),
    "024": ("short02", "none", 0.5, 0.03, 0.1, 0.05),
    "034": ("ponytail01", "none", 0.5, 0.03, 0.0, 0.05),
    "037": ("buzz", "full_beard", 0.25, 0.1, 0.0, 0.15),
    "061": ("buzz", "none", 0.5, 0.0, 0.0, 0.05),
    "107": ("ponytail01", "none", 0.5, 0.8, 0.0, 0.85),
    "140": ("short04", "goatee", 0.6, 0.15, 0.35, 0.3),
    "001": ("ponytail01", "none", 0.5, 0.12, 0.0, 0.2),
}
ETHNIC = {"black": "african", "east_asian": "asian", "white": "caucasian",
          "west_asian": "caucasian"}  # fmt: skip
SHAPE_GROUPS = ("head", "forehead", "eyebrows", "eyes", "nose", "mouth", "chin", "cheek")
PRIOR = 8.0  # px of landmark error worth a control's full swing from the average (extreme
# combinations of mouth and chin controls push the inside of the mouth through the chin)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity taking src (N, 2) onto dst (N, 2)."""
    matrix, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32),
                                            method=cv2.LMEDS)  # fmt: skip
    return matrix


def fit_shape(renderer, spec, base: dict, photo_lm: np.ndarray) -> dict:
    """Morph controls whose landmarks best match the photo's (aligned), near the average."""
    from scipy.optimize import least_squares

    from facefit.rig import camera
    from facefit.rig.human import controls

    names = [m.name for m in controls.MORPHS if m.group in SHAPE_GROUPS] + ["body_weight"]
    lm_vertex = renderer.asset.extras["lm_vertex"].astype(np.int64)
    mean_vec = spec.mean_vector()
    mean_px = camera.project(renderer._points(renderer._values(mean_vec))["skin"][lm_vertex],
                             512)  # fmt: skip
    bias = renderer.asset.extras["lm_dlib_px"] - mean_px  # where dlib sees the rig's points

    def rig_lm(x):
        values = dict(base) | dict(zip(names, np.clip(x, 0, 1), strict=True))
        pts = renderer._points(values)["skin"][lm_vertex]
        return camera.project(pts, 512) + bias

    def residual(x):
        lm = rig_lm(x)
        m = similarity(photo_lm, lm)
        aligned = photo_lm @ m[:, :2].T + m[:, 2]
        return np.concatenate([(aligned - lm).reshape(-1), (x - 0.5) * PRIOR])

    x0 = np.array([base.get(n, 0.5) for n in names])
    res = least_squares(residual, x0, bounds=(0, 1), diff_step=0.05, max_nfev=40)
    logging.info("landmark rms %.2f -> %.2f px", np.sqrt(np.mean(residual(x0)[:136] ** 2)),
                 np.sqrt(np.mean(res.fun[:136] ** 2)))  # fmt: skip
    return dict(zip(names, res.x.tolist(), strict=True))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared/data/faces")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from human_skin_reach import FINE, GRID, rig_cheek_grid
    from scipy.interpolate import RegularGridInterpolator

    from facefit.align.detect import detect_faces, predict_landmarks68
    from facefit.fit.skin_regions import cheek_lab
    from facefit.rig.choice import make_renderer, rig_spec

    spec = rig_spec("human")
    renderer = make_renderer(512, "human")
    fine = np.stack(np.meshgrid(*FINE, indexing="ij"), axis=-1).reshape(-1, 3)
    reach = RegularGridInterpolator(GRID, rig_cheek_grid())(fine)
    with open(args.faces / "manifest.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f) if r["set"] == "london"
                and r["expression"] == "neutral"}  # fmt: skip
    tiles = []
    for pid, (hair, beard, density, hair_color, grey, eye) in PEOPLE.items():
        row = rows[pid]
        photo = np.asarray(Image.open(args.faces / row["image"]).convert("RGB"))
        lm = predict_landmarks68(photo, detect_faces(photo)[0])
        tone, under, sat = fine[np.argmin(np.linalg.norm(reach - cheek_lab(photo, lm), axis=1))]
        years = float(row["age"])
        base = {c.name: 0.5 for c in spec.continuous} | {
            "sex": 0.1 if row["gender"] == "female" else 0.9,
            "age": float(np.clip((years - 18) / 52, 0, 1)),
            "african": 0.0, "asian": 0.0, "caucasian": 0.0,
            "skin_tone": float(tone), "skin_undertone": float(under),
            "skin_saturation": float(sat), "hair_color": hair_color, "hair_grey": grey,
            "eye_color": eye, "facial_hair_density": density, "brow_color": 0.6,
            "brow_density": 0.5, "lip_color": 0.3 if row["gender"] == "female" else 0.1,
        }  # fmt: skip
        for part in row["ethnicity"].split("/"):
            base[ETHNIC[part]] = 1.0
        logging.info("%s: %s %s %s", pid, row["gender"], row["age"], row["ethnicity"])
        base |= fit_shape(renderer, spec, base, lm)
        vec = spec.encode({"continuous": base, "discrete": {"hairstyle": hair,
                                                            "facial_hair": beard}})  # fmt: skip
        print(json.dumps({"id": pid, "params": spec.decode(vec)}))
        out = renderer.render(vec)
        m = similarity(lm, out.landmarks68)
        warped = cv2.warpAffine(photo, m, (512, 512), borderValue=(220, 220, 218))
        pair = np.concatenate([warped, out.image], axis=1)
        tiles.append(cv2.resize(pair, (2 * SIZE, SIZE), interpolation=cv2.INTER_AREA))
    rows_img = [np.concatenate(tiles[i : i + 2], axis=1) for i in range(0, len(tiles), 2)]
    Image.fromarray(np.concatenate(rows_img, axis=0)).save(OUT)
    print(OUT)


if __name__ == "__main__":
    main()
