"""The judge's calibrated stopping rule, kept beside the networks it was measured with.

`bench/calibrate_fit.py --save` writes `calibration.json` into the weights folder: the loss
scale, the threshold and the iteration budget, and the sha256 of every network the fits ran
on. `load_fitter` applies it when those are exactly the networks installed, so a studio that
retrains on its own game client re-calibrates with one command and no code change; with
other networks the file is ignored (with a warning) and `FitConfig`'s defaults hold.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from facefit.fit.config import FitConfig

logger = logging.getLogger(__name__)

FILE = "calibration.json"
CALIBRATED = ("loss_scale", "threshold")  # the FitConfig fields the file must set
OPTIONAL = {"max_iters": int}  # ... and may set (files written before it was calibrated lack it)


def write_calibration(weights_dir: Path, values: dict[str, Any], models: dict[str, str]) -> Path:
    """Store `values` (loss_scale, threshold, and how they were found) for `models` (name -> sha256)."""
    missing = [name for name in CALIBRATED if name not in values]
    if missing:
        raise ValueError(f"calibration lacks {missing}")
    path = Path(weights_dir) / FILE
    path.write_text(json.dumps({**values, "models": dict(sorted(models.items()))}, indent=2) + "\n")
    return path


def calibrated_config(weights_dir: Path, models: dict[str, str], config: FitConfig) -> FitConfig:
    """`config` with the stored calibration applied, if it was measured on exactly `models`."""
    path = Path(weights_dir) / FILE
    if not path.exists():
        return config
    stored = json.loads(path.read_text())
    if stored.get("models") != models:
        logger.warning(
            "%s was measured on other networks than those installed: using the default "
            "stopping rule (re-run bench/calibrate_fit.py --save)",
            path,
        )
        return config
    values = {name: float(stored[name]) for name in CALIBRATED}
    values |= {name: cast(stored[name]) for name, cast in OPTIONAL.items() if name in stored}
    return replace(config, **values)
