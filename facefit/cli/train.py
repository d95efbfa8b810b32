"""`facefit train NETWORK`: train a network and write its weights + manifest entry."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train one of the fit's networks")
    networks = parser.add_subparsers(dest="network", required=True, metavar="NETWORK")

    imitator = networks.add_parser("imitator", help="parameters -> render, on rig shards")
    _common(imitator, default_config="lite")
    imitator.add_argument(
        "--data", type=Path, required=True, help="shard folder (rig sample/import)"
    )
    imitator.add_argument("--batch-size", type=int, default=32)
    imitator.add_argument("--val-n", type=int, default=500, help="held-out random faces")
    imitator.add_argument("--no-region-weights", action="store_true", help="plain L1 (ablation)")
    imitator.add_argument("--limit", type=int, default=None, help="use the first N samples only")
    imitator.set_defaults(func=run_imitator)

    extractor = networks.add_parser("extractor", help="11-class face parsing, renders + photos")
    _common(extractor, default_config="lite")
    extractor.add_argument(
        "--renders", type=Path, default=None, help="shard folder of rig renders (else photos only)"
    )
    extractor.add_argument(
        "--faces", type=Path, default=None, help="photo folder with manifest.csv (default: shared)"
    )
    extractor.add_argument("--batch-size", type=int, default=16)
    extractor.add_argument("--photo-fraction", type=float, default=0.5, help="photos per batch")
    extractor.add_argument(
        "--class-balance", type=float, default=0.5, help="class weight exponent (0: plain CE)"
    )
    extractor.add_argument(
        "--dice", type=float, default=1.0, help="weight of the soft Dice term (0: CE only)"
    )
    extractor.add_argument("--limit", type=int, default=None, help="use the first N renders only")
    extractor.set_defaults(func=run_extractor)

    predictor = networks.add_parser("predictor", help="photo -> parameters, on frozen networks")
    _common(predictor, default_config="lite")
    predictor.add_argument("--data", type=Path, required=True, help="shard folder of rig renders")
    predictor.add_argument(
        "--photo-batch", type=int, default=8, help="real photos per step (0: off)"
    )
    predictor.add_argument("--batch-size", type=int, default=32)
    predictor.add_argument(
        "--photo-label",
        action="append",
        default=None,
        metavar="FIELD=VALUE:GROUP=OPTION[|OPTION...]",
        help="option label for training photos by manifest field or facial_hair_by_eye, "
        "repeatable; several options make a partial label (e.g. gender=female:facial_hair=none, "
        "facial_hair_by_eye=beard:facial_hair=moustache|goatee|full_beard; default: none)",
    )
    predictor.add_argument(
        "--photo-label-weight", type=float, default=None, help="weight of the labels (0: off)"
    )
    predictor.set_defaults(func=run_predictor)

    controls = networks.add_parser(
        "controls", help="aligned face pixels -> continuous controls, on rig shards"
    )
    _common(controls, default_config="lite")
    controls.add_argument("--data", type=Path, required=True, help="shard folder of rig renders")
    controls.add_argument("--batch-size", type=int, default=32)
    controls.add_argument(
        "--photo-like", type=float, default=0.5, help="share of each batch jittered like a photo"
    )
    controls.set_defaults(func=run_controls)

    detail = networks.add_parser(
        "detail",
        help="a discrete group (brows) or controls (eyes, mouth, ears, chin) from a close crop",
    )
    _common(detail, default_config="brows")
    detail.add_argument("--data", type=Path, required=True, help="shard folder of rig renders")
    detail.add_argument(
        "--group", default=None, help="the rig's discrete group to read (default: the config's)"
    )
    detail.add_argument("--batch-size", type=int, default=64)
    detail.set_defaults(func=run_detail)

    attributes = networks.add_parser(
        "attributes", help="photo descriptor -> sex, age, ethnic group, on labelled photos"
    )
    _photo_reader(attributes)
    attributes.set_defaults(func=run_attributes)

    expressions = networks.add_parser(
        "expressions", help="how a smile moves the aligned landmarks, on neutral/smiling pairs"
    )
    _photo_reader(expressions)
    expressions.add_argument(
        "--components", type=int, default=None, help="default: 1, the mean smile"
    )
    expressions.set_defaults(func=run_expressions)

    recognition = networks.add_parser(
        "recognition", help="how dlib's descriptor of real renders moves with each shape control"
    )
    recognition.add_argument(
        "--out", type=Path, default=None, help="weights folder (default: settings)"
    )
    recognition.add_argument(
        "--faces", type=int, default=None, help="rig faces measured (default: 72, ~12 min)"
    )
    recognition.set_defaults(func=run_recognition)

    descriptor = networks.add_parser(
        "descriptor", help="parameters -> dlib's descriptor of the real render, for `fast`"
    )
    descriptor.add_argument(
        "--out", type=Path, default=None, help="weights folder (default: settings)"
    )
    descriptor.add_argument(
        "--work", type=Path, default=Path("runs/descriptor"),
        help="seeds and samples, kept: a run resumes where the last stopped (default: runs/descriptor)",
    )  # fmt: skip
    descriptor.add_argument(
        "--samples", type=int, default=None, help="renders read (default: 12000, ~10 min)"
    )
    descriptor.add_argument(
        "--part", default="0/1",
        help="K/N: draw every Nth chunk from the Kth, so N processes share the samples; "
        "whichever finds every chunk drawn trains",
    )  # fmt: skip
    descriptor.set_defaults(func=run_descriptor)


def _common(parser: argparse.ArgumentParser, default_config: str) -> None:
    parser.add_argument("--config", default=default_config, help="model config name")
    parser.add_argument("--out", type=Path, default=None, help="weights folder (default: settings)")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop early past this")
    parser.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default: config's)"
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="fine-tune from this weights file of the same network, e.g. after a rig revision",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")


def _progress_bar(total: int):
    """A tqdm bar and the `on_step` callback that feeds it."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def on_step(p) -> None:
        bar.n = p.step
        postfix = {"loss": f"{p.loss:.4f}", "img/s": f"{p.images_per_s:.0f}"}
        if p.val:
            # Each network lists its headline validation metric first.
            name, value = next(iter(p.val.items()))
            postfix[f"val_{name}"] = value
        bar.set_postfix(postfix, refresh=False)
        bar.update(0)

    return bar, on_step


def _train(args: argparse.Namespace, network: str, tcfg, train: Callable[..., Any]) -> int:
    """Run `train(out, tcfg, device=, checkpoint=, resume=, on_step=)` and print its result."""
    from dataclasses import replace

    from facefit.device import resolve_device
    from facefit.settings import CoreSettings

    settings = CoreSettings.from_env()
    if args.steps is not None:
        tcfg = replace(tcfg, steps=args.steps, val_every=min(tcfg.val_every, args.steps))
    if args.lr is not None:
        tcfg = replace(tcfg, lr=args.lr)
    if args.init is not None:
        from facefit.nets.weights import load_weights

        # A wrong file fails now, not after the shards are read.
        load_weights(args.init, network=network, expected_rig=None)
        tcfg = replace(tcfg, init=str(args.init))
    bar, on_step = _progress_bar(tcfg.steps)
    try:
        result = train(
            args.out or settings.weights_dir,
            tcfg,
            device=resolve_device(settings.device),
            checkpoint=settings.var_dir / "checkpoints" / f"{network}-{args.config}.ckpt",
            resume=args.resume,
            on_step=on_step,
        )
    finally:
        bar.close()
    if isinstance(result, Path):  # the predictor reports its weights file only
        report = {"weights": str(result)}
    else:
        report = {
            "weights": str(result.weights),
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "validation": result.metrics,
        }
    print(json.dumps(report, indent=2))
    return 0


def run_imitator(args: argparse.Namespace) -> int:
    from facefit.train.imitator import ImitatorTrainConfig, train_imitator

    tcfg = ImitatorTrainConfig(
        config=args.config,
        batch_size=args.batch_size,
        val_n=args.val_n,
        region_weighting=not args.no_region_weights,
        seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes,
        max_minutes=args.max_minutes,
    )
    return _train(args, "imitator", tcfg, partial(train_imitator, args.data, limit=args.limit))


def run_extractor(args: argparse.Namespace) -> int:
    from facefit.train.extractor import ExtractorTrainConfig, train_extractor

    tcfg = ExtractorTrainConfig(
        config=args.config,
        batch_size=args.batch_size,
        photo_fraction=args.photo_fraction,
        class_balance=args.class_balance,
        dice=args.dice,
        seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes,
        max_minutes=args.max_minutes,
    )
    train = partial(train_extractor, args.renders, args.faces, limit=args.limit)
    return _train(args, "extractor", tcfg, train)


def run_predictor(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from facefit.nets.extractor import DEFAULT_CONFIG as EXTRACTOR_CONFIG
    from facefit.nets.imitator import DEFAULT_CONFIG as IMITATOR_CONFIG
    from facefit.nets.weights import weights_name
    from facefit.settings import CoreSettings
    from facefit.train.predictor import PredictorTrainConfig, train_predictor

    tcfg = PredictorTrainConfig(
        config=args.config,
        batch_size=args.batch_size,
        photo_batch=args.photo_batch,
        photo_labels=tuple(args.photo_label or ()),
        seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes,
        max_minutes=args.max_minutes,
    )
    if args.photo_label_weight is not None:
        tcfg = replace(tcfg, photo_label_weight=args.photo_label_weight)
    # The frozen networks are the shipped ones in the folder the predictor is written to.
    out = args.out or CoreSettings.from_env().weights_dir
    train = partial(
        train_predictor,
        args.data,
        out / weights_name("imitator", IMITATOR_CONFIG),
        out / weights_name("extractor", EXTRACTOR_CONFIG),
    )
    return _train(args, "predictor", tcfg, train)


def run_detail(args: argparse.Namespace) -> int:
    from facefit.train.detail import DetailTrainConfig, train_detail

    tcfg = DetailTrainConfig(
        config=args.config,
        group=args.group,
        batch_size=args.batch_size,
        seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes,
        max_minutes=args.max_minutes,
    )
    return _train(args, "detail", tcfg, partial(train_detail, args.data))


def run_controls(args: argparse.Namespace) -> int:
    from facefit.train.controls import ControlsTrainConfig, train_controls

    tcfg = ControlsTrainConfig(
        config=args.config,
        batch_size=args.batch_size,
        photo_like=args.photo_like,
        seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes,
        max_minutes=args.max_minutes,
    )
    return _train(args, "controls", tcfg, partial(train_controls, args.data))


def _photo_reader(parser: argparse.ArgumentParser) -> None:
    """The options of what is learnt from the shared photos alone, in seconds."""
    parser.add_argument("--out", type=Path, default=None, help="weights folder (default: settings)")
    parser.add_argument(
        "--faces", type=Path, default=None, help="photo folder with manifest.csv (default: shared)"
    )


def run_expressions(args: argparse.Namespace) -> int:
    """Seconds: the photos' alignment and one singular value decomposition."""
    from facefit.settings import CoreSettings
    from facefit.train.expressions import COMPONENTS, train_expressions

    out = args.out or CoreSettings.from_env().weights_dir
    components = args.components or COMPONENTS
    print(json.dumps(train_expressions(out, components, faces=args.faces), indent=2))
    return 0


def run_recognition(args: argparse.Namespace) -> int:
    """Minutes: 176 real renders and dlib descriptors per rig face."""
    from facefit.settings import CoreSettings
    from facefit.train.recognition import FACES, train_recognition

    out = args.out or CoreSettings.from_env().weights_dir
    print(json.dumps(train_recognition(out, args.faces or FACES), indent=2))
    return 0


def run_descriptor(args: argparse.Namespace) -> int:
    """Minutes: seeds fitted from the shared photos, then real renders read by dlib."""
    from facefit.settings import CoreSettings
    from facefit.train.descriptor import SAMPLES, train_descriptor

    k, _, n = args.part.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise SystemExit(f"--part must be K/N with K < N, got {args.part!r}")
    out = args.out or CoreSettings.from_env().weights_dir
    report = train_descriptor(out, args.work, args.samples or SAMPLES, (int(k), int(n)))
    print(json.dumps(report, indent=2))
    return 0


def run_attributes(args: argparse.Namespace) -> int:
    """Seconds, not minutes: linear heads over dlib descriptors, no checkpoints needed."""
    from facefit.settings import CoreSettings
    from facefit.train.attributes import train_attributes

    out = args.out or CoreSettings.from_env().weights_dir
    print(json.dumps(train_attributes(out, faces=args.faces), indent=2))
    return 0
