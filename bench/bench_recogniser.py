"""dlib's face recogniser run by dlib and by torch (`facefit/likeness/dlib_resnet.py`): the time of
one descriptor on one core, and how far apart the two descriptors are, on the same photos.

Usage: taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python bench/bench_recogniser.py [--photos 20]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    import dlib
    import torch

    from facefit.align import load_photo, models
    from facefit.data.faces import read_manifest
    from facefit.likeness.descriptors import face_descriptor, photo_landmarks

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    reference = dlib.face_recognition_model_v1(
        str(models.verified_model_path(models.FACE_RECOGNISER))
    )
    times: dict[str, list[float]] = {"dlib": [], "torch": []}
    differences = []
    for record in [r for r in read_manifest() if r.set == "london"][: args.photos]:
        photo = load_photo(record.image.read_bytes())
        landmarks = photo_landmarks(photo)
        if landmarks is None:
            continue
        face_descriptor(photo, landmarks)  # loads the network once, outside the timing
        (left, top), (right, bottom) = landmarks.min(axis=0), landmarks.max(axis=0)
        rect = dlib.rectangle(round(left), round(top), round(right), round(bottom))
        shape = dlib.full_object_detection(
            rect, [dlib.point(round(x), round(y)) for x, y in landmarks]
        )
        t0 = time.perf_counter()
        expected = np.asarray(reference.compute_face_descriptor(photo, shape))
        t1 = time.perf_counter()
        found = face_descriptor(photo, landmarks)
        t2 = time.perf_counter()
        times["dlib"].append(t1 - t0)
        times["torch"].append(t2 - t1)
        differences.append(float(np.abs(found - expected).max()))
    report = {f"{k}_ms_median": round(1000 * float(np.median(v)), 1) for k, v in times.items()}
    report |= {"photos": len(differences), "max_abs_difference": max(differences)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
