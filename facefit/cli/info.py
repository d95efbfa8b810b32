"""`facefit info`: what this installation would run on (device, weights, versions)."""

from __future__ import annotations

import argparse
import json
import platform

from facefit import __version__
from facefit.settings import CoreSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show device, weights and versions as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from facefit.device import resolve_device

    settings = CoreSettings.from_env()
    manifest = settings.weights_dir / "manifest.json"
    info = {
        "facefit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(resolve_device(settings.device)),
        "weights_dir": str(settings.weights_dir),
        "weights": sorted(json.loads(manifest.read_text()).get("weights", {}))
        if manifest.exists()
        else [],
    }
    print(json.dumps(info, indent=2))
    return 0
