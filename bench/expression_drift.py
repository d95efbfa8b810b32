"""Which shape controls move with a person's expression, in the fits of `facefit eval photos`?

The identity scores of `facefit eval photos` ask whether a person's neutral and smiling
photos fit to the same shape controls. For each shape control this prints how far it moves
between a person's two photos (mean absolute difference) against how far it moves between
two different people's neutral photos, and their ratio: near 0 the control is the person's,
near 1 it tells people apart no better than the expression does. Given several evaluations
(`LABEL=FILE`, the JSON of `facefit eval photos`, which keeps each photo's expression
and fitted controls), the columns sit side by side, so that a setting that fits expressions into
identity controls shows as higher ratios.

    .venv/bin/python bench/expression_drift.py "default=var/eval/photos.json" \\
        "anchored=var/eval/photos_anchored.json" [--top 15]
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations

import numpy as np

from facefit.fit.evaluate import is_shape_control
from facefit.rig.spec import load_spec


def drift(rows: list[dict], names: list[str]) -> dict[str, tuple[float, float]]:
    """control -> (mean |neutral - smiling| within a person, mean |a - b| between people)."""
    by_person: dict[str, dict[str, dict]] = {}
    for row in rows:
        if "continuous" in row:
            by_person.setdefault(row["identity"], {})[row["expression"]] = row["continuous"]
    pairs = [p for p in by_person.values() if {"neutral", "smiling"} <= p.keys()]
    if len(pairs) < 3:
        raise SystemExit("need at least 3 people with a neutral and a smiling fit")
    out = {}
    for name in names:
        within = np.mean([abs(p["neutral"][name] - p["smiling"][name]) for p in pairs])
        neutral = [p["neutral"][name] for p in pairs]
        between = np.mean([abs(a - b) for a, b in combinations(neutral, 2)])
        out[name] = (float(within), float(between))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("evals", nargs="+", help="[LABEL=]FILE of `facefit eval photos --json`")
    parser.add_argument("--top", type=int, default=15, help="controls to list, by ratio")
    args = parser.parse_args()
    spec = load_spec()
    names = [c.name for c in spec.continuous if is_shape_control(c)]
    results = {}
    for item in args.evals:
        label, _, path = item.rpartition("=")
        with open(path) as f:
            results[label or path] = drift(json.load(f)["rows"], names)
    labels = list(results)
    first = results[labels[0]]
    order = sorted(names, key=lambda n: -first[n][0] / max(first[n][1], 1e-9))
    print("| control | " + " | ".join(f"{lb}: within / between (ratio)" for lb in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in order[: args.top]:
        cells = [
            f"{w:.3f} / {b:.3f} ({w / max(b, 1e-9):.2f})"
            for w, b in (results[lb][name] for lb in labels)
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    # Summed before dividing: a control a fit leaves almost constant has a ratio of two tiny
    # numbers, which would swamp a mean of ratios.
    totals = []
    for lb in labels:
        within, between = np.sum(list(results[lb].values()), axis=0)
        totals.append(f"{within:.2f} / {between:.2f} ({within / between:.2f})")
    print(f"| all {len(names)} shape controls, summed | " + " | ".join(totals) + " |")


if __name__ == "__main__":
    main()
