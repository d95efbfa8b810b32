"""`facefit eval …`: measure a trained network or the whole pipeline, print JSON.

Each evaluation is one `add_<name>(subparsers)` function or a module with
`register_eval(subparsers)`; adding one is a line in `EVAL_COMMANDS` or `EVAL_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

# Modules that add `facefit eval <name>` sub-commands with `register_eval(subparsers)`.
EVAL_MODULES: list[str] = ["facefit.cli.eval_fit", "facefit.cli.eval_likeness"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate networks and fits (JSON)")
    evals = parser.add_subparsers(dest="evaluation", required=True, metavar="EVALUATION")
    for add in EVAL_COMMANDS:
        add(evals)
    for name in EVAL_MODULES:
        importlib.import_module(name).register_eval(evals)


def _weights_arg(parser: argparse.ArgumentParser, network: str) -> None:
    parser.add_argument(
        "--weights", type=Path, default=None, help=f"weights file (default: shipped {network})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON only (default: also logs)")


def _default_weights(network: str) -> Path:
    """The shipped config of a network in the configured weights folder."""
    from facefit.nets.extractor import DEFAULT_CONFIG as EXTRACTOR_DEFAULT
    from facefit.nets.imitator import DEFAULT_CONFIG as IMITATOR_DEFAULT
    from facefit.nets.weights import weights_name
    from facefit.settings import CoreSettings

    config = {"imitator": IMITATOR_DEFAULT, "extractor": EXTRACTOR_DEFAULT}[network]
    return CoreSettings.from_env().weights_dir / weights_name(network, config)


# --- imitator -------------------------------------------------------------------------------


def add_imitator(evals: argparse._SubParsersAction) -> None:
    parser = evals.add_parser("imitator", help="imitator vs. the rig on held-out random faces")
    _weights_arg(parser, "imitator")
    parser.add_argument("--n", type=int, default=500, help="held-out random faces to render")
    parser.add_argument("--seed", type=int, default=1_000_003, help="not a training seed")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="evaluate on this shard folder instead of rendering (imported game clients)",
    )
    parser.add_argument("--sensitivity-faces", type=int, default=4)
    parser.add_argument("--picture", type=Path, default=None, help="write render|imitator|diff PNG")
    parser.set_defaults(func=run_imitator)


def _rig_renderer(size: int) -> tuple[Callable, Callable, str, int]:
    """(render(vec) -> (image, labels, landmarks), random_vector(rng), rig id, continuous size)."""
    from facefit.rig.choice import make_renderer
    from facefit.rig.spec import load_spec

    spec = load_spec()
    renderer = make_renderer(size)

    def render(vec):
        out = renderer.render(vec)
        return out.image, out.labels, out.landmarks68

    return render, spec.random_vector, spec.rig_id, spec.continuous_size


def run_imitator(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from facefit.device import resolve_device
    from facefit.nets.imitator import load_imitator_with_info
    from facefit.nets.weights import read_manifest
    from facefit.settings import CoreSettings
    from facefit.train.imitator import (
        control_probes,
        evaluate_arrays,
        render_arrays,
        sensitivity_agreement,
    )
    from facefit.train.shards import ShardArrays

    path = args.weights or _default_weights("imitator")
    device = resolve_device(CoreSettings.from_env().device)
    entry = read_manifest(path.parent)["weights"].get(path.name, {})
    result: dict = {"weights": path.name}
    if args.data is not None:
        data = ShardArrays(args.data, limit=args.n)
        loaded = load_imitator_with_info(path, device, rig=data.meta.rig)
        size = loaded.model.cfg.size
        data = ShardArrays(args.data, size=size, limit=args.n)
        arrays = {
            "params": data.params,
            "images": data.images,
            "labels": data.labels,
            "landmarks": data.landmarks,
        }
        labels = list(data.meta.labels)
        render = None
        result["data"] = str(args.data)
    else:
        shard_size = int(entry.get("data", {}).get("shard_size", 512))
        render, random_vector, rig_id, continuous = _rig_renderer(shard_size)
        loaded = load_imitator_with_info(path, device, rig=rig_id)
        size = loaded.model.cfg.size
        rng = np.random.default_rng(args.seed)
        vectors = np.stack([random_vector(rng) for _ in range(args.n)]).astype(np.float32)
        arrays = render_arrays(render, vectors, size)
        labels = list(loaded.layout.get("labels", []))
        result["data"] = f"{args.n} random faces rendered by rig {rig_id}, seed {args.seed}"
    model = loaded.model
    result.update(evaluate_arrays(model, arrays, labels))
    if render is not None and args.sensitivity_faces > 0:
        controls = list(range(continuous))
        steps, centres = control_probes(arrays["params"], controls)
        result.update(
            sensitivity_agreement(
                model, render, arrays["params"][: args.sensitivity_faces], controls, steps, centres
            )
        )
    else:
        result["sensitivity_agreement"] = None  # needs the rig to render probes
    result["forward_backward_ms"] = round(time_forward_backward(model), 2)
    if args.picture is not None:
        write_imitator_picture(model, arrays, args.picture)
        result["picture"] = str(args.picture)
    del torch
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def time_forward_backward(model, repeats: int = 20) -> float:
    """Milliseconds for one face's forward + backward to the parameter vector (batch 1)."""
    import time

    import torch

    device = next(model.parameters()).device
    x = torch.full((1, model.cfg.vector_size), 0.5, device=device, requires_grad=True)
    times = []
    for _ in range(repeats + 3):
        start = time.perf_counter()
        image, lm = model(x)
        (image.mean() + lm.mean()).backward()
        times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times[3:])[len(times[3:]) // 2]


def write_imitator_picture(model, arrays: dict, path: Path, faces: int = 8) -> None:
    """Rows of real render | imitator | 4x amplified absolute difference."""
    import numpy as np
    import torch
    from PIL import Image

    device = next(model.parameters()).device
    with torch.no_grad():
        pred = model.render(torch.from_numpy(arrays["params"][:faces]).to(device))
    pred = (pred.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    rows = []
    for real, fake in zip(arrays["images"][:faces], pred, strict=True):
        diff = np.clip(np.abs(real.astype(int) - fake.astype(int)) * 4, 0, 255).astype(np.uint8)
        rows.append(np.concatenate([real, fake, diff], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


# --- extractor ------------------------------------------------------------------------------


def add_extractor(evals: argparse._SubParsersAction) -> None:
    parser = evals.add_parser("extractor", help="face parsing mIoU on held-out photos and renders")
    _weights_arg(parser, "extractor")
    parser.add_argument("--renders", type=Path, default=None, help="held-out render shards")
    parser.add_argument("--faces", type=Path, default=None, help="photo folder (default: shared)")
    parser.add_argument("--n", type=int, default=300, help="renders to evaluate")
    parser.add_argument("--picture", type=Path, default=None, help="photo|predicted|template PNG")
    parser.set_defaults(func=run_extractor)


def run_extractor(args: argparse.Namespace) -> int:
    from facefit.device import resolve_device
    from facefit.nets.extractor import load_extractor_with_info
    from facefit.settings import CoreSettings
    from facefit.train.extractor import evaluate_extractor

    path = args.weights or _default_weights("extractor")
    device = resolve_device(CoreSettings.from_env().device)
    loaded = load_extractor_with_info(path, device, rig=None)
    result = {"weights": path.name}
    result.update(
        evaluate_extractor(
            loaded.model,
            loaded.labels,
            renders=args.renders,
            faces=args.faces,
            n=args.n,
            picture=args.picture,
        )
    )
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


EVAL_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_imitator, add_extractor]
