"""The fit's resolved configuration: what it decides from data, in one file beside the weights.

`facefit calibrate` writes `calibration.json` into the weights folder: the search's stopping
rule (iteration budget, threshold, loss scale), the start's owner, blend share and step
scale of every control (`facefit.fit.ownership`), and the sha256 of every network it was
decided for. `load_fitter` reads it back when those are exactly the networks installed, logs
it once, and every result's `fit` block names it. With other networks the file is stale: the
owners are then decided from the installed manifests and the stopping rule is the default,
with a warning (re-run `facefit calibrate`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facefit.fit.config import FitConfig
from facefit.fit.networks import FitNetworks
from facefit.fit.ownership import SHIPPED_RULES, BlendRules, StartPlan, plan_start

logger = logging.getLogger(__name__)

FILE = "calibration.json"
UNCALIBRATED = "uncalibrated"
DEFAULT_LOSS_SCALE = 1.688  # the shipped networks' (similarity 0.5 for the average face)


@dataclass(frozen=True)
class Calibration:
    """Everything the fit decides from data, for one set of networks."""

    max_iters: int  # the search's budget
    threshold: float  # ... and its stop (patent claim 2)
    loss_scale: float  # similarity = exp(-loss / loss_scale)
    start: StartPlan
    rules: BlendRules = SHIPPED_RULES  # how `start` was decided from the manifests
    name: str = UNCALIBRATED  # what results name: the file and its sha256
    measured: dict[str, Any] = field(default_factory=dict)  # how the values were found


def document(calibration: Calibration, names: list[str], models: dict[str, str]) -> dict:
    """`calibration` as the JSON document written beside the weights."""
    plan = calibration.start
    controls = {}
    for k, name in enumerate(names):
        owner = plan.control_owners.get(
            name, "predictor" if plan.controls_share is None else "blend"
        )
        entry: dict[str, Any] = {"owner": owner}
        if plan.controls_share is not None:
            entry["controls_share"] = plan.controls_share[k]
        if plan.step_scale is not None:
            entry["step_scale"] = plan.step_scale[k]
        controls[name] = entry
    return {
        "search": {
            "max_iters": calibration.max_iters,
            "threshold": calibration.threshold,
            "loss_scale": calibration.loss_scale,
        },
        "start": {
            "rules": asdict(calibration.rules),
            "groups": dict(plan.group_owners),
            "controls": controls,
        },
        "measured": calibration.measured,
        "models": dict(sorted(models.items())),
    }


def write_calibration(
    weights_dir: Path, calibration: Calibration, names: list[str], models: dict[str, str]
) -> Path:
    """Store `calibration` for `models` (file name -> sha256) as the folder's `FILE`."""
    path = Path(weights_dir) / FILE
    text = json.dumps(document(calibration, names, models), indent=2) + "\n"
    path.write_text(text)
    return path


def from_document(doc: dict, names: list[str], name: str) -> Calibration:
    """The `Calibration` a document written by `write_calibration` holds."""
    search, start = doc["search"], doc["start"]
    controls = [start["controls"][n] for n in names]
    shares = [c.get("controls_share") for c in controls]
    steps = [c.get("step_scale") for c in controls]
    plan = StartPlan(
        controls_share=None if None in shares else tuple(float(s) for s in shares),
        control_owners={
            n: c["owner"]
            for n, c in zip(names, controls, strict=True)
            if c["owner"] not in ("blend", "predictor")
        },  # fmt: skip
        group_owners=dict(start["groups"]),
        step_scale=None if None in steps else tuple(float(s) for s in steps),
    )
    return Calibration(
        max_iters=int(search["max_iters"]),
        threshold=float(search["threshold"]),
        loss_scale=float(search["loss_scale"]),
        start=plan,
        rules=BlendRules(**start["rules"]),
        name=name,
        measured=doc.get("measured", {}),
    )


def read_calibration(weights_dir: Path, names: list[str], models: dict[str, str]):
    """The folder's calibration if it was decided for exactly `models`, else None."""
    path = Path(weights_dir) / FILE
    if not path.exists():
        logger.warning("%s is missing: run `facefit calibrate`", path)
        return None
    raw = path.read_bytes()
    doc = json.loads(raw)
    if doc.get("models") != models or "search" not in doc:
        logger.warning(
            "%s was decided for other networks than those installed: owners from their "
            "manifests, the default stopping rule (run `facefit calibrate`)",
            path,
        )
        return None
    return from_document(doc, names, f"{FILE} sha256:{hashlib.sha256(raw).hexdigest()[:12]}")


def summary(calibration: Calibration) -> str:
    """One line naming the calibration and what it decides, for the log."""
    plan = calibration.start
    by_owner: dict[str, list[str]] = {}
    for control, owner in {**plan.control_owners, **plan.group_owners}.items():
        by_owner.setdefault(owner, []).append(control)
    owners = "; ".join(f"{o}: {', '.join(sorted(c))}" for o, c in sorted(by_owner.items()))
    return (
        f"fit calibration {calibration.name}: max_iters {calibration.max_iters}, threshold "
        f"{calibration.threshold}, loss_scale {calibration.loss_scale}; detail readers own "
        f"{owners or 'nothing'}; the rest starts from the "
        + ("predictor" if plan.controls_share is None else "predictor/controls reader blend")
    )


def from_manifests(
    networks: FitNetworks, rules: BlendRules = SHIPPED_RULES, **search: Any
) -> Calibration:
    """The start decided from the installed networks' manifests by `rules`, with the
    stopping rule in `search` (max_iters, threshold, loss_scale; the defaults where absent)."""
    group_owners = {
        reader.cfg.group: file
        for file, reader in networks.detail.items()
        if not reader.cfg.controls
    }
    plan = plan_start(networks.errors, group_owners, networks.controls_reader is not None, rules)
    return Calibration(
        max_iters=int(search.get("max_iters", FitConfig.max_iters)),
        threshold=float(search.get("threshold", FitConfig.threshold)),
        loss_scale=float(search.get("loss_scale", DEFAULT_LOSS_SCALE)),
        start=plan,
        rules=rules,
    )


def calibration_for(weights_dir: Path, networks: FitNetworks) -> Calibration:
    """The folder's calibration for `networks`, or (stale or missing) their manifests'."""
    names = list(networks.errors.names)
    return read_calibration(weights_dir, names, networks.models) or from_manifests(networks)
