"""`facefit rig ...`: the rig's spec, single renders, training sets, sheets, imports."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rig", help="reference face rig: spec, render, sample, sheet")
    sub = parser.add_subparsers(dest="rig_command", required=True, metavar="RIG_COMMAND")

    p = sub.add_parser("spec", help="print the parameter spec")
    p.add_argument("--json", action="store_true", help="machine-readable JSON (the default)")
    _rig_option(p)
    p.set_defaults(func=run_spec)

    p = sub.add_parser("render", help="render one face to PNG (+ labels, landmarks)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("params", nargs="?", type=Path, help="PARAMS.json")
    src.add_argument("--mean", action="store_true", help="the reference (average) face")
    src.add_argument("--random", type=int, metavar="SEED", help="a uniform random face")
    p.add_argument("--out", type=Path, required=True, help="face PNG")
    p.add_argument("--labels", type=Path, help="label map PNG (pixel value = class id)")
    p.add_argument("--landmarks", type=Path, help='JSON {"landmarks68": [[x, y], ...]}')
    p.add_argument("--size", type=int, default=512)
    _rig_option(p)
    p.set_defaults(func=run_render)

    p = sub.add_parser("sample", help="render a random training set into shards")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--shard-size", type=int, default=200)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--resume", action="store_true", help="skip shards already written")
    _rig_option(p)
    p.set_defaults(func=run_sample)

    p = sub.add_parser("sheet", help="contact sheet of random faces, or a sweep of one control")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sweep", metavar="NAME", help="a control (0..1) or discrete group")
    p.add_argument("--plausible", action="store_true",
                   help="human rig: people drawn as real faces co-vary, not uniformly")  # fmt: skip
    p.add_argument("--out", type=Path, required=True)
    _rig_option(p)
    p.set_defaults(func=run_sheet)

    p = sub.add_parser("import", help="convert a game client's export folder into shards")
    p.add_argument("src", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=None, help="resize renders to this size")
    p.set_defaults(func=run_import)

    p = sub.add_parser("reference", help="print (or --write) the reference face's landmarks")
    p.add_argument("--write", action="store_true", help="rewrite facefit/rig/reference.json")
    p.set_defaults(func=run_reference)


def _rig_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rig",
        choices=("reference", "human"),
        default=None,
        help="reference (rig 2.2, the default) or human (rig 3); default: $FACEFIT_RIG",
    )


def run_spec(args: argparse.Namespace) -> int:
    from facefit.rig.choice import rig_spec

    print(json.dumps(rig_spec(args.rig).to_json(), indent=2))
    return 0


def _read_params(path: Path) -> dict:
    from facefit.errors import SpecError
    from facefit.rig.spec import parse_params_document

    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise SpecError(f"no such parameters file: {path}") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path} is not valid JSON: {exc}") from exc
    return parse_params_document(data)


def run_render(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from facefit.rig.choice import make_renderer, rig_spec

    spec = rig_spec(args.rig)
    if args.mean:
        vec = spec.mean_vector()
    elif args.random is not None:
        vec = spec.random_vector(np.random.default_rng(args.random))
    else:
        vec = spec.encode(_read_params(args.params))
    out = make_renderer(args.size, args.rig).render(vec)
    Image.fromarray(out.image).save(args.out)
    if args.labels:
        Image.fromarray(out.labels).save(args.labels)
    if args.landmarks:
        pts = [[round(float(x), 3), round(float(y), 3)] for x, y in out.landmarks68]
        args.landmarks.write_text(json.dumps({"landmarks68": pts}) + "\n")
    print(json.dumps({"out": str(args.out), "params": spec.decode(vec)}))
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facefit.rig.sampling import sample_dataset

    start = time.perf_counter()
    with tqdm(total=args.n, unit="face", desc="rig sample") as bar:
        meta = sample_dataset(
            args.out, args.n, seed=args.seed, size=args.size, shard_size=args.shard_size,
            workers=args.workers, resume=args.resume, on_progress=bar.update, rig=args.rig,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    print(json.dumps({"out": str(args.out), "n": meta.n, "size": meta.size,
                      "seconds": round(seconds, 2)}))  # fmt: skip
    return 0


def run_sheet(args: argparse.Namespace) -> int:
    from PIL import Image

    from facefit.rig.sheet import random_sheet, sweep_sheet

    if args.sweep:
        sheet = sweep_sheet(args.sweep, size=args.size, rig=args.rig)
    else:
        sheet = random_sheet(args.n, seed=args.seed, size=args.size, rig=args.rig,
                             plausible=args.plausible)  # fmt: skip
    Image.fromarray(sheet).save(args.out)
    print(json.dumps({"out": str(args.out)}))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from facefit.rig.client_import import import_client_folder

    meta = import_client_folder(args.src, args.out, size=args.size)
    print(json.dumps({"out": str(args.out), "rig": meta.rig, "n": meta.n, "size": meta.size}))
    return 0


def run_reference(args: argparse.Namespace) -> int:
    from facefit.rig.reference import compute_reference, write_reference

    doc = compute_reference()
    if args.write:
        write_reference(doc)
    print(json.dumps(doc))
    return 0
