"""The one adapter between the worker and the fitting engine: photo bytes in, results out.

Alignment (`facefit.align`) always runs, so a bad photo fails with its intake code. The fit
runs when the fitting engine (torch) is installed and `weights/manifest.json` lists trained
networks; otherwise the job fails with FIT_UNAVAILABLE. No parameters are ever made up.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facefit.errors import FacefitError, ModelError
from facefit.fit.config import given
from facefit.settings import CoreSettings

if TYPE_CHECKING:
    from facefit.fit.fitter import Fitter

log = logging.getLogger(__name__)

OnStep = Callable[[int, float, float], None]
_UNSET = object()
_fitter: Any = _UNSET  # loaded on the first job of each worker process (after the fork)


class FitUnavailable(FacefitError):
    """This worker has no fitting engine or no trained weights; it cannot produce parameters."""

    code = "FIT_UNAVAILABLE"


@dataclass(frozen=True)
class FitOutcome:
    """What the worker stores for a job: parameters, metrics, provenance and pictures."""

    params: dict[str, Any]
    fit: dict[str, Any]
    models: dict[str, str]
    rig: str
    loss_curve: list[list[float]]
    preview_png: bytes
    max_iterations: int | None = None


def installed_weights(settings: CoreSettings) -> dict[str, Any]:
    """The networks `weights/manifest.json` lists (empty when none are trained yet)."""
    try:
        manifest = json.loads((settings.weights_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    weights = manifest.get("weights") if isinstance(manifest, dict) else None
    return weights if isinstance(weights, dict) else {}


def fitting_status(settings: CoreSettings) -> tuple[bool, str]:
    """Whether this installation can fit, and if not why (the FIT_UNAVAILABLE message)."""
    try:
        _import_load_fitter()
    except ImportError as exc:
        return False, f"fitting engine not installed: {exc}"
    if not installed_weights(settings):
        return False, "fitting engine not installed: no trained weights in weights/manifest.json"
    return True, "ok"


def align(photo: bytes) -> tuple[Any, bytes]:
    """Decode and align the photo; the aligned face and its PNG. Raises `IntakeError`."""
    from facefit.align import align_photo, load_photo

    pixels = load_photo(photo)
    face = align_photo(pixels)
    return (pixels, face), png_bytes(face.image)


def fit(
    aligned: Any,
    settings: CoreSettings,
    *,
    mode: str | None,
    threshold: float | None,
    max_iters: int | None,
    on_step: OnStep,
) -> FitOutcome:
    """Fit the aligned photo's parameters; raises FitUnavailable without engine or weights."""
    fitter = _load_fitter(settings)
    # The photo was aligned once already (its aligned image is stored): fit that alignment.
    (result,) = fitter.fit_aligned(
        [aligned],
        on_step=on_step,
        **given(mode=mode, threshold=threshold, max_iters=max_iters),
    )
    params = dict(result.params)
    params.setdefault("rig", result.rig)
    return FitOutcome(
        params=params,
        fit=dict(result.fit),
        models=dict(result.models),
        rig=result.rig,
        loss_curve=[[int(i), float(loss), float(sim)] for i, loss, sim in result.loss_curve],
        preview_png=result.preview_png(),
        max_iterations=result.fit["max_iters"],  # the budget the search ran with
    )


def _import_load_fitter() -> Callable[[CoreSettings], Fitter]:
    """`load_fitter` (imports torch: only in workers, only when a job runs)."""
    from facefit.fit.fitter import load_fitter

    return load_fitter


def _load_fitter(settings: CoreSettings) -> Fitter:
    """Load the networks once per worker process; remember a failure to avoid retrying it."""
    global _fitter
    if _fitter is _UNSET:
        available, reason = fitting_status(settings)
        if not available:
            _fitter = FitUnavailable(reason)
        else:
            try:
                _fitter = _import_load_fitter()(settings)
                log.info("fitting engine loaded: %s", _fitter.networks.models)
            except ModelError as exc:
                _fitter = FitUnavailable(f"fitting engine not installed: {exc.message}")
    if isinstance(_fitter, FitUnavailable):
        raise FitUnavailable(_fitter.message)
    return _fitter


def png_bytes(image: Any) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
