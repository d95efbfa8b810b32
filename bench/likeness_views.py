"""The characters of a `facefit eval likeness --json` run, seen from the side.

The fit reads dlib's descriptor of the frontal render (`facefit.fit.recognition`), so dlib's
frontal ranking cannot tell a face that changed from pixels that fool it. This re-draws every
character of the run with the camera orbited by `--yaw` degrees (a view the fit never read),
asks dlib again with the same gallery of frontal photos as the eval, and prints top-1, top-5
and mean rank for all photos, the training folds and the held-out fold.

Usage: FACEFIT_RIG=human .venv/bin/python bench/likeness_views.py RUN.json [--yaw 20]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    from facefit.align import load_photo
    from facefit.data.faces import fold_identities, read_manifest
    from facefit.likeness.descriptors import photo_descriptor, render_descriptor
    from facefit.likeness.evaluate import FAR, other_photo, paired_people
    from facefit.likeness.ranking import rank_summary, target_ranks
    from facefit.rig.human.render import HumanRenderer
    from facefit.rig.spec import load_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--yaw", type=float, default=20.0)
    parser.add_argument("--distractors", default="canada")
    args = parser.parse_args()
    run = json.loads(args.run.read_text())
    rows = [row for row in run["rows"] if "error" not in row]
    records = read_manifest()
    by_name = {r.name: r for r in records}
    people = paired_people([by_name[row["photo"]] for row in rows])
    who = list(people)
    extra = set(args.distractors.split(",")) - {""}
    distractors = [r.name for r in records if r.set in extra and r.expression == "neutral"]
    names = [r.name for photos in people.values() for r in photos.values()] + distractors
    photos = {n: photo_descriptor(load_photo(by_name[n].image.read_bytes())) for n in names}
    distractors = [n for n in distractors if photos[n] is not None]
    spec, renderer = load_spec(), HumanRenderer(512, yaw_degrees=args.yaw)
    held = fold_identities(0)
    ranks, is_held = [], []
    for row in rows:
        query = by_name[row["photo"]]
        if photos[query.name] is None or photos[other_photo(query, people).name] is None:
            continue  # the eval ranks only photos dlib found, and their people's other photo
        vector = spec.encode({"continuous": row["continuous"], "discrete": row["discrete"]})
        drawn = renderer.render(vector)
        seen = render_descriptor(drawn.image, drawn.landmarks68).vector
        gallery = [other_photo(people[w][query.expression], people).name for w in who]
        gallery += distractors
        stacked = np.stack([FAR if photos[n] is None else photos[n] for n in gallery])
        ranks.append(int(target_ranks(seen[None], stacked, [who.index(row["identity"])])[0]))
        is_held.append(row["identity"] in held)
    ranks, is_held = np.array(ranks), np.array(is_held)
    report = {"run": str(args.run), "yaw_degrees": args.yaw, "gallery": len(who) + len(distractors)}
    for name, keep in (("all", None), ("training_folds", False), ("heldout_fold0", True)):
        mask = np.ones_like(is_held) if keep is None else is_held == keep
        report[name] = {"queries": int(mask.sum())} | rank_summary(ranks[mask])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
