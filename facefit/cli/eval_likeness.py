"""`facefit eval likeness`: does dlib's recogniser find the person in their character?"""

from __future__ import annotations

import argparse
from pathlib import Path

from facefit.cli.eval_fit import emit, fit_options, fit_overrides


def register_eval(evals: argparse._SubParsersAction) -> None:
    parser = evals.add_parser(
        "likeness", help="rank each fitted character among everyone's photos (dlib's recogniser)"
    )
    parser.add_argument("--manifest", type=Path, default=None, help="faces manifest.csv")
    parser.add_argument("--sets", default="london", help="sets whose people have two photos")
    parser.add_argument("--distractors", default="canada", help="sets of extra gallery people")
    parser.add_argument("--limit", type=int, default=None, help="only the first N people")
    parser.add_argument("--render-size", type=int, default=512)
    parser.add_argument("--picture", type=Path, default=None, help="write the contact sheet PNG")
    fit_options(parser)
    parser.set_defaults(func=run_likeness)


def run_likeness(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facefit.data.faces import read_manifest
    from facefit.fit.fitter import load_fitter
    from facefit.likeness.evaluate import evaluate_likeness, paired_people
    from facefit.likeness.sheet import likeness_sheet

    root = args.manifest.parent if args.manifest else None
    records = read_manifest(root)
    sets, extra = set(args.sets.split(",")), set(args.distractors.split(",")) - {""}
    people = list(paired_people([r for r in records if r.set in sets]))[: args.limit]
    queries = [r for r in records if r.identity in set(people)]
    distractors = [r for r in records if r.set in extra and r.expression == "neutral"]
    fitter = load_fitter()
    with tqdm(total=len(queries), desc="likeness", unit="photo", disable=args.json) as bar:
        report = evaluate_likeness(
            fitter, queries, distractors, render_size=args.render_size, progress=bar.update,
            **fit_overrides(args),
        )  # fmt: skip
    fitted = report.pop("_queries")
    if args.picture:
        likeness_sheet(fitted, report["people"] + report["distractors"], args.picture)
    return emit(report, args)
