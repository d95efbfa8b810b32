"""`facefit calibrate`: decide what the fit decides from data, and write it beside the weights.

It writes `calibration.json` into the weights folder (`facefit.fit.calibration`): which
network owns which control of the start and how the search scales its steps (from the
networks' manifests, `facefit.fit.ownership`), and the search's stopping rule, measured on
the shared photos (`facefit.fit.stopping_rule`, about an hour on two CPU cores).
`--ownership-only` keeps the stopping rule of the folder's file, which must have been
measured on the same networks, and decides the rest (seconds).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="decide the fit's stopping rule and control owners for the weights"
    )
    parser.add_argument("--iters", default="4,6,8,12", help="candidate iteration budgets")
    # 0.2 %: with 1 % the search stopped about one iteration earlier on photos, and on the
    # training folds' people that cost identity (docs/decisions.md)
    parser.add_argument("--tolerance", type=float, default=0.002, help="allowed mean loss excess")
    parser.add_argument(
        "--rig-faces", type=int, default=48, help="random rig renders the stop must also keep"
    )
    parser.add_argument(
        "--ownership-only",
        action="store_true",
        help="keep the stored stopping rule (same networks); decide only the owners",
    )
    parser.set_defaults(func=run)


def stored_rule(weights_dir, models: dict[str, str]) -> tuple[dict, dict] | None:
    """(stopping rule, how it was measured) of the folder's file if it was measured on
    `models`; the file's earlier layout (the rule's fields at its top) is read too."""
    from facefit.fit.calibration import FILE

    path = weights_dir / FILE
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    if doc.get("models") != models:
        return None
    if "search" in doc:
        return doc["search"], doc.get("measured", {})
    rule = {"max_iters": doc["max_iters"], "threshold": doc["threshold"]}
    rule["loss_scale"] = doc["loss_scale"]
    skip = {"models", "loss_histories", *rule}
    return rule, {k: v for k, v in doc.items() if k not in skip}


def run(args: argparse.Namespace) -> int:
    from facefit.device import resolve_device
    from facefit.errors import ModelError
    from facefit.fit.calibration import from_manifests, summary, write_calibration
    from facefit.fit.config import FitConfig, for_rig
    from facefit.fit.fitter import Fitter
    from facefit.fit.networks import load_networks
    from facefit.rig.spec import load_spec
    from facefit.settings import CoreSettings

    settings = CoreSettings.from_env()
    device = resolve_device(settings.device)
    networks = load_networks(settings.weights_dir, device)
    calibration = from_manifests(networks)
    if args.ownership_only:
        stored = stored_rule(settings.weights_dir, networks.models)
        if stored is None:
            raise ModelError(
                "no stopping rule measured on the installed networks: run `facefit calibrate`",
                code="NOT_CALIBRATED",
            )
        rule, measured = stored
    else:
        from facefit.fit.stopping_rule import measure

        fitter = Fitter(networks, calibration, for_rig(FitConfig(), load_spec()), device)
        budgets = [int(n) for n in args.iters.split(",")]
        rule, measured = measure(fitter, "full", budgets, args.tolerance, args.rig_faces)
    calibration = replace(
        calibration,
        max_iters=int(rule["max_iters"]),
        threshold=float(rule["threshold"]),
        loss_scale=float(rule["loss_scale"]),
        measured=measured,
    )
    names = list(networks.errors.names)
    path = write_calibration(settings.weights_dir, calibration, names, networks.models)
    logger.info("wrote %s", summary(replace(calibration, name=str(path))))
    return 0
