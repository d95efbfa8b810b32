"""The curled-hair bound (`facefit.fit.hair_texture.CURLED_BELOW`) chosen by cross-validation.

Every London photo's hair coherence (both expressions), against its person's by-eye label
(`facefit/data/london_hair.csv`). For each identity fold the bound is the one that best
separates the other folds' photos (balanced accuracy, midway between neighbours), and is
judged on the fold's own; the held-out fold 0 is judged with the bound of folds 1-4. Prints
each photo's coherence, the bounds chosen and their accuracy.

Usage: .venv/bin/python bench/hair_texture.py [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def measure() -> list[dict]:
    from facefit.data.faces import hair_by_eye, read_manifest
    from facefit.fit.fitter import load_fitter
    from facefit.fit.hair_texture import hair_coherence
    from facefit.fit.intake import align_photos

    fitter = load_fitter()
    hair = list(fitter.spec.labels).index("hair")
    labels = hair_by_eye()
    rows = []
    for record in read_manifest():
        if record.identity not in labels:
            continue
        (aligned,), _ = align_photos([record.image.read_bytes()])
        if isinstance(aligned, Exception):
            continue
        _, face = aligned
        _, targets = fitter.targets_of([face])
        coherence = hair_coherence(face.image, targets.probs[0, hair].cpu().numpy())
        rows.append(
            {"photo": record.name, "identity": record.identity, "coherence": coherence,
             "curled": labels[record.identity] == "curled"}
        )  # fmt: skip
    return rows


def best_bound(rows: list[dict]) -> float:
    """The bound that best separates curled (below) from straight (above) in `rows`."""
    values = np.array([r["coherence"] for r in rows])
    curled = np.array([r["curled"] for r in rows])
    cuts = np.unique(values)
    candidates = (cuts[1:] + cuts[:-1]) / 2
    return float(max(candidates, key=lambda b: balanced(values, curled, b)))


def balanced(values: np.ndarray, curled: np.ndarray, bound: float) -> float:
    said = values < bound
    return 0.5 * (said[curled].mean() + (~said[~curled]).mean())


def main() -> None:
    from facefit.data.faces import fold_identities

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [r for r in measure() if r["coherence"] is not None]
    fold_of = {who: k for k in range(5) for who in fold_identities(k)}
    report = {"photos": len(rows), "folds": {}}
    for k in range(5):
        left_out = {0, k}  # the held-out fold never chooses a bound (fold 0: folds 1-4 do)
        train = [r for r in rows if fold_of.get(r["identity"]) not in left_out]
        test = [r for r in rows if fold_of.get(r["identity"]) == k]
        bound = best_bound(train)
        values = np.array([r["coherence"] for r in test])
        curled = np.array([r["curled"] for r in test])
        said = values < bound
        report["folds"][k] = {
            "bound": round(bound, 3),
            "curled_found": f"{int(said[curled].sum())}/{int(curled.sum())}",
            "straight_called_curled": f"{int(said[~curled].sum())}/{int((~curled).sum())}",
        }
    report["bound_all_training_folds"] = round(
        best_bound([r for r in rows if fold_of.get(r["identity"]) != 0]), 3
    )
    if args.json:
        report["rows"] = rows
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
