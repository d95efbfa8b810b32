"""Two `facefit eval likeness --json` runs compared photo by photo.

Top-1 over 134 queries moves by 0.03 on noise alone; pairing each photo's rank in the two
runs sees smaller real changes. Prints the median ranks, the mean change of log-rank with
its standard error, how many photos ranked their person higher and lower, and the mean
reciprocal rank of each run.

Usage: .venv/bin/python bench/likeness_paired.py BEFORE.json AFTER.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    runs = [json.loads(Path(path).read_text()) for path in (args.before, args.after)]
    ranks = [{row["photo"]: row["rank_fit"] for row in run["rows"]} for run in runs]
    photos = sorted(set(ranks[0]) & set(ranks[1]))
    a, b = (np.array([r[p] for p in photos], float) for r in ranks)
    change = np.log(b) - np.log(a)
    result = {
        "photos": len(photos),
        "median_rank": [float(np.median(a)), float(np.median(b))],
        "mean_log_rank_change": round(float(change.mean()), 3),
        "standard_error": round(float(change.std(ddof=1) / np.sqrt(len(change))), 3),
        "higher": int((b < a).sum()),
        "lower": int((b > a).sum()),
        "mean_reciprocal_rank": [round(float(np.mean(1 / a)), 3), round(float(np.mean(1 / b)), 3)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
