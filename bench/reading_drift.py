"""Which readers' readings move with a person's expression, before any search?

`bench/expression_drift.py` asks it of finished fits; this asks it of the readings the fit
of `full` starts from. For the training folds' people photographed neutral and smiling (fold
0 is never used to choose), every installed reader of continuous controls reads both aligned
photos: the controls reader all of them, each close reader its own. Per control read by a
close reader it prints how far each reading moves between a person's two photos against how
far it moves between two people's neutral photos (within / between, and their ratio): a
reading that moves with the smile more than the controls reader's costs the fit's
recognition of people wherever that reader decides the control.

    FACEFIT_WEIGHTS_DIR=var/w-ears .venv/bin/python bench/reading_drift.py
"""

from __future__ import annotations

import argparse

import torch
from expression_drift import drift
from tqdm import tqdm

from facefit.align import align_photo, load_photo
from facefit.data.faces import faces_dir, fold_identities, read_manifest
from facefit.fit.fitter import image_to_tensor, load_fitter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="london", help="comma-separated photo sets")
    args = parser.parse_args()
    fitter = load_fitter()
    if fitter.models.controls is None or not fitter.models.close:
        raise SystemExit("needs the controls reader and at least one close reader installed")
    names = [control.name for control in fitter.spec.continuous]
    held = fold_identities(0)
    sets = set(args.sets.split(","))
    records = [
        r for r in read_manifest(faces_dir())
        if r.set in sets and r.identity not in held and r.expression in ("neutral", "smiling")
    ]  # fmt: skip
    rows: dict[str, list[dict]] = {"controls reader": []}
    for record in tqdm(records, unit="photo"):
        face = align_photo(load_photo(record.image.read_bytes()))
        images = image_to_tensor(face.image, fitter.device)  # the readers need no parse
        who = {"identity": record.identity, "expression": record.expression}
        with torch.no_grad():
            read = fitter.models.controls(images)[0].tolist()
            rows["controls reader"].append(
                {**who, "continuous": dict(zip(names, read, strict=True))}
            )
            for close in fitter.models.close:
                mine = close.reader.read_controls(images)[0].tolist()
                label = "reader of " + ", ".join(close.reader.cfg.controls[:2]) + ", ..."
                controls = dict(zip(close.reader.cfg.controls, mine, strict=True))
                rows.setdefault(label, []).append({**who, "continuous": controls})
    theirs = drift(rows.pop("controls reader"), names)
    print("| close reader | control | controls reader: within / between (ratio) | close reader |")
    print("|---|---|---|---|")
    for label, found in rows.items():
        mine = drift(found, list(found[0]["continuous"]))
        for name, (within, between) in mine.items():
            w, b = theirs[name]
            print(
                f"| {label} | {name} | {w:.3f} / {b:.3f} ({w / max(b, 1e-9):.2f}) "
                f"| {within:.3f} / {between:.3f} ({within / max(between, 1e-9):.2f}) |"
            )


if __name__ == "__main__":
    main()
