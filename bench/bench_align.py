"""Benchmark face alignment: landmark accuracy, speed, similarity vs affine, blur threshold.

Numbers: landmark NME against the human templates, ms per `align_photo`, the transforms'
residual errors and the blur flag's share; recorded in docs/benchmarks.md, "Alignment".

    .venv/bin/python bench/bench_align.py --out var/bench/align.json

Photos and human-placed templates come from `../shared/data/faces` (CC BY 4.0, Face Research
Lab; see its README). Only photos with a full 189-point template are scored for accuracy.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from facefit.align import align_photo, load_photo  # noqa: E402
from facefit.align import models as align_models  # noqa: E402
from facefit.align.detect import detect_faces, predict_landmarks68  # noqa: E402
from facefit.align.target import default_target_landmarks  # noqa: E402
from facefit.align.transform import (  # noqa: E402
    LANDMARK_WEIGHTS,
    apply_transform,
    fit_transform,
)
from facefit.data.faces import (  # noqa: E402
    IBUG68_GROUPS,
    read_ibug68,
    read_manifest,
    with_frl189,
)

cv2.setNumThreads(1)


def nme_by_group(found: np.ndarray, human: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean point error per group / outer-eye-corner distance, over points with a counterpart."""
    eye_span = np.linalg.norm(human[45] - human[36])
    errors = np.linalg.norm(found - human, axis=1) / eye_span
    out = {}
    for group, points in IBUG68_GROUPS.items():
        points = [p for p in points if mask[p]]
        out[group] = float(errors[points].mean())
    out["all"] = float(errors[mask].mean())
    return out


def accuracy(records, detector: str) -> dict:
    rows, failures = [], []
    for record in tqdm(records, desc=f"landmarks ({detector})"):
        photo = load_photo(record.image.read_bytes())
        faces = detect_faces(photo, detector)
        if not faces:
            failures.append(record.name)
            continue
        found = predict_landmarks68(photo, faces[0])
        human, mask = read_ibug68(record)
        rows.append({"photo": record.name, "set": record.set, **nme_by_group(found, human, mask)})
    groups = [*IBUG68_GROUPS, "all"]
    summary = {
        group: {
            "mean": round(statistics.fmean(r[group] for r in rows), 4),
            "median": round(statistics.median(r[group] for r in rows), 4),
        }
        for group in groups
    }
    per_set = {
        s: round(statistics.fmean(r["all"] for r in rows if r["set"] == s), 4)
        for s in sorted({r["set"] for r in rows})
    }
    return {"photos": len(records), "failures": failures, "nme": summary, "nme_all_by_set": per_set}


def timing(records, long_side: int, detector: str, repeats: int) -> dict:
    """Milliseconds per `align_photo(bytes)` (decode, detection, landmarks, warp, quality)."""
    uploads = []
    for record in records:
        image = Image.open(record.image).convert("RGB")
        if max(image.size) != long_side:
            scale = long_side / max(image.size)
            image = image.resize(
                (round(image.width * scale), round(image.height * scale)), Image.LANCZOS
            )
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92)
        uploads.append(buffer.getvalue())
    align_photo(uploads[0], detector=detector)  # load models outside the timing
    times = []
    for _ in range(repeats):
        for data in tqdm(uploads, desc=f"align {long_side}px ({detector})", leave=False):
            started = time.perf_counter()
            try:
                align_photo(data, detector=detector)
            except Exception as exc:  # noqa: BLE001 - a refused photo still costs time
                if getattr(exc, "code", None) is None:
                    raise
            times.append((time.perf_counter() - started) * 1000)
    return {
        "long_side": long_side,
        "photos": len(uploads),
        "repeats": repeats,
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(float(np.percentile(times, 90)), 1),
        "max_ms": round(max(times), 1),
    }


def similarity_vs_affine(records, target: np.ndarray) -> dict:
    """How each transform kind places the *human* landmarks relative to the reference."""
    out = {}
    inner = np.zeros(68, bool)
    inner[17:] = True
    cache = []
    for record in tqdm(records, desc="similarity vs affine"):
        photo = load_photo(record.image.read_bytes())
        faces = detect_faces(photo)
        if faces:
            human, mask = read_ibug68(record)
            cache.append((predict_landmarks68(photo, faces[0]), human, mask))
    for kind in ("similarity", "affine"):
        agreement, stability, aspect_before, aspect_after, anisotropy = [], [], [], [], []
        for found, human, mask in cache:
            used = mask & inner
            by_dlib = fit_transform(found, target, LANDMARK_WEIGHTS, kind)
            aligned_human = apply_transform(human[used], by_dlib)
            agreement.append(np.linalg.norm(aligned_human - target[used], axis=1).mean())
            # Same points, same weights: how far detector error moves the aligned features.
            w = LANDMARK_WEIGHTS[mask]
            from_dlib = fit_transform(found[mask], target[mask], w, kind)
            from_human = fit_transform(human[mask], target[mask], w, kind)
            stability.append(
                np.linalg.norm(
                    apply_transform(human[used], from_dlib)
                    - apply_transform(human[used], from_human),
                    axis=1,
                ).mean()
            )

            # Face proportion a fit must recover: eye span / eyes-to-mouth height.
            def aspect(p):
                eyes = (p[36] + p[45]) / 2
                mouth = (p[48] + p[54]) / 2
                return np.linalg.norm(p[45] - p[36]) / np.linalg.norm(mouth - eyes)

            aspect_before.append(aspect(human))
            aspect_after.append(aspect(apply_transform(human, by_dlib)))
            sv = np.linalg.svd(by_dlib[:, :2], compute_uv=False)
            anisotropy.append(sv[0] / sv[1])
        out[kind] = {
            "human_to_reference_px": round(float(np.mean(agreement)), 2),
            "detector_jitter_px": round(float(np.mean(stability)), 2),
            "aspect_spread_kept": round(float(np.std(aspect_after) / np.std(aspect_before)), 3),
            "anisotropy_mean": round(float(np.mean(anisotropy)), 4),
        }
    return out


def blur_calibration(records, target: np.ndarray) -> dict:
    """Share of photos flagged BLURRY after a Gaussian blur of sigma photo pixels."""
    out = {}
    photos = [load_photo(r.image.read_bytes()) for r in records]
    for sigma in (0, 1, 2, 3):
        flagged = values = 0
        scores = []
        for photo in tqdm(photos, desc=f"blur sigma {sigma}", leave=False):
            image = cv2.GaussianBlur(photo, (0, 0), sigma) if sigma else photo
            try:
                face = align_photo(image, target_landmarks=target)
            except Exception as exc:  # noqa: BLE001
                if getattr(exc, "code", None) is None:
                    raise
                continue
            values += 1
            flagged += "BLURRY" in face.quality["warnings"]
            scores.append(face.quality["blur_variance"])
        out[f"sigma_{sigma}"] = {
            "flagged": round(flagged / max(values, 1), 3),
            "median_variance": round(statistics.median(scores), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/bench/align.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cnn", action="store_true", help="also score the CNN detector")
    args = parser.parse_args()

    started = time.perf_counter()
    align_models.shape_predictor()
    align_models.hog_detector()
    load_s = time.perf_counter() - started

    records = read_manifest()
    scored = with_frl189(records)
    neutral = [r for r in records if r.expression == "neutral"]
    target = default_target_landmarks(512)
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": 1},
        "model_load_s": round(load_s, 2),
        "accuracy_hog": accuracy(scored, "hog"),
        "speed": [timing(neutral, 512, "hog", args.repeats), timing(neutral, 1350, "hog", 1)],
        "similarity_vs_affine": similarity_vs_affine(scored, target),
        "blur": blur_calibration(scored, target),
    }
    if args.cnn:
        result["accuracy_cnn"] = accuracy(scored, "cnn")
        result["speed"].append(timing(neutral[:20], 512, "cnn", 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
