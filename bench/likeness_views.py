"""The characters of `facefit eval likeness --json` runs, drawn again and ranked by both
recognisers, from the front or from the side.

The fit reads dlib's descriptor of the frontal render (`facefit.fit.recognition`), so dlib's
frontal ranking cannot tell a face that changed from pixels that fool it. This re-draws every
character of each run with the camera orbited by `--yaw` degrees (20 by default: a view the fit
never read; 0 re-ranks the frontal characters, e.g. a run made before FaceNet joined the eval),
asks dlib and FaceNet with the same gallery of frontal photos as the eval, and prints top-1,
top-5 and mean rank for all photos, the training folds and the held-out fold. Given two runs,
it also compares them photo by photo (`facefit.likeness.ranking.paired_change`).

Usage: FACEFIT_RIG=human .venv/bin/python bench/likeness_views.py RUN.json [AFTER.json] [--yaw 20]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    from facefit.align import load_photo
    from facefit.data.faces import fold_identities, read_manifest
    from facefit.likeness.evaluate import (
        RECOGNISERS,
        Query,
        gallery_ranks,
        other_photo,
        paired_people,
        read_photo,
        read_render,
    )
    from facefit.likeness.ranking import paired_change, rank_summary
    from facefit.rig.human.render import HumanRenderer
    from facefit.rig.spec import load_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="one run, or two to compare")
    parser.add_argument("--yaw", type=float, default=20.0)
    parser.add_argument("--distractors", default="canada")
    args = parser.parse_args()
    runs = [json.loads(path.read_text()) for path in args.runs]
    rows = [{r["photo"]: r for r in run["rows"] if "error" not in r} for run in runs]
    shared = sorted(set.intersection(*(set(r) for r in rows)))
    records = read_manifest()
    by_name = {r.name: r for r in records}
    people = paired_people([by_name[name] for name in shared])
    extra = set(args.distractors.split(",")) - {""}
    distractors = [r.name for r in records if r.set in extra and r.expression == "neutral"]
    names = [r.name for photos in people.values() for r in photos.values()] + distractors
    photos = {n: read_photo(load_photo(by_name[n].image.read_bytes())) for n in names}
    distractors = [n for n in distractors if photos[n] is not None]
    # the eval ranks only photos dlib found, and their people's other photo
    queries = [by_name[n] for n in shared if n in names]
    queries = [q for q in queries if photos[q.name] and photos[other_photo(q, people).name]]
    spec, renderer = load_spec(), HumanRenderer(512, yaw_degrees=args.yaw)
    held = np.array([q.identity in fold_identities(0) for q in queries])
    ranks = {name: np.zeros((len(runs), len(queries)), int) for name in RECOGNISERS}
    for k, by_photo in enumerate(rows):
        drawn = []
        for query in queries:
            row = by_photo[query.name]
            vector = spec.encode({"continuous": row["continuous"], "discrete": row["discrete"]})
            drawn.append(Query(query, {"fit": read_render(renderer.render(vector))[0]}))
        for name, rank in ranks.items():
            rank[k] = gallery_ranks(drawn, "fit", name, people, photos, distractors)
    report = {
        "runs": [str(path) for path in args.runs],
        "yaw_degrees": args.yaw,
        "gallery": len(people) + len(distractors),
    }
    for name, rank in ranks.items():
        report[name] = {}
        for fold, keep in (("all", None), ("training_folds", False), ("heldout_fold0", True)):
            mask = np.ones_like(held) if keep is None else held == keep
            report[name][fold] = {"queries": int(mask.sum())}
            report[name][fold] |= {"runs": [rank_summary(r[mask]) for r in rank]}
        if len(runs) == 2:
            report[name]["paired"] = paired_change(rank[0], rank[1])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
