"""Is there a beard in a photo's colours? Chin-against-cheek lightness, women against men.

Neither the predictor nor the fit's loss tells a man's stubble from a woman's bare chin
(docs/benchmarks.md, Fitting). This measures whether a simple colour region could: the mean
CIE L* of the chin (inside the jaw below the lower lip, the mouth left out) minus that of
the cheek patches the skin colour is measured on, per aligned neutral photo. The manifest
proves no woman has a beard; the men have no ground truth, so the darkest men's chins are
listed to be checked against the photos.

    .venv/bin/python bench/beard_signal.py [--sets london,canada]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from tqdm import tqdm

from facefit.align import align_photo
from facefit.data.faces import read_manifest
from facefit.errors import FacefitError
from facefit.fit.evaluate import cheek_lab

CHIN_JAW = slice(5, 12)  # iBUG jaw points around the chin
LOWER_LIP_BOTTOM = 57
MOUTH = slice(48, 60)


def chin_minus_cheek_lightness(image: np.ndarray, landmarks68: np.ndarray) -> float:
    """CIE L* (0-100) of the chin minus that of the cheeks, for an aligned RGB face."""
    points = np.concatenate([landmarks68[CHIN_JAW], landmarks68[[LOWER_LIP_BOTTOM]]])
    chin = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(chin, [cv2.convexHull(points.astype(np.int32))], 1)
    mouth = np.zeros_like(chin)
    cv2.fillPoly(mouth, [cv2.convexHull(landmarks68[MOUTH].astype(np.int32))], 1)
    chin &= 1 - cv2.dilate(mouth, np.ones((9, 9), np.uint8))  # lips and their shadow out
    lightness = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) * 100 / 255
    return float(lightness[chin > 0].mean() - cheek_lab(image, landmarks68)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="london,canada", help="comma-separated photo sets")
    args = parser.parse_args()
    sets = set(args.sets.split(","))
    records = [r for r in read_manifest() if r.set in sets and r.expression == "neutral"]
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
