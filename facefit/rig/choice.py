"""Which rig the `facefit rig` commands and the sampler draw: rig 2.2 unless asked otherwise.

`--rig human` on a command, or `FACEFIT_RIG=human` in the environment (which reaches every
command a script such as `tools/train_all.sh` runs, and `facefit.rig.spec.load_spec`, which
trainers and weight loaders read), selects rig 3 (`facefit.rig.human`). The fit, its
calibration and evaluations and the editor's pictures draw with `make_renderer`, and each
rig's networks live in their own folder (`facefit.settings.RIG_WEIGHTS`), so the one switch
selects the rig everywhere.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from facefit.errors import ExportError, SpecError
from facefit.rig.spec import RigSpec, load_reference_spec

if TYPE_CHECKING:
    import numpy as np

    from facefit.rig.render import Renderer

ENV = "FACEFIT_RIG"
RIGS = ("reference", "human")
DEFAULT = "reference"


def rig_name(name: str | None = None) -> str:
    """The rig asked for: `name`, else `$FACEFIT_RIG`, else the reference rig."""
    chosen = name or os.environ.get(ENV) or DEFAULT
    if chosen not in RIGS:
        raise SpecError(f"unknown rig {chosen!r}; rigs: {list(RIGS)}")
    return chosen


def rig_spec(name: str | None = None) -> RigSpec:
    if rig_name(name) == "human":
        from facefit.rig.human.spec import human_spec

        return human_spec()
    return load_reference_spec()


def make_renderer(size: int = 512, name: str | None = None) -> Renderer:
    """A renderer of the chosen rig (each owns its own GL context)."""
    if rig_name(name) == "human":
        from facefit.rig.human.render import HumanRenderer

        return HumanRenderer(size=size)
    from facefit.rig.render import Renderer

    return Renderer(size=size)


def character_glb(
    vec: np.ndarray, spec: RigSpec | None = None, renderer: Renderer | None = None
) -> bytes:
    """The character of `vec` as binary glTF 2.0, by the export of `spec`'s rig (default: the
    chosen rig's); GLTF_UNAVAILABLE for a rig without one (a studio's imported client).

    `renderer`, one of that rig's, is reused if given: rig 2.2 draws the label map its
    materials follow with it (at its size), rig 3 only poses its meshes (no GL context).
    """
    from facefit.rig.human.spec import RIG_ID as HUMAN_RIG_ID

    spec = spec or rig_spec()
    if spec.rig_id == HUMAN_RIG_ID:
        from facefit.rig.human.gltf import character_glb as human_glb

        return human_glb(vec, spec, renderer)
    if spec.rig_id == load_reference_spec().rig_id:
        from facefit.rig.gltf import character_glb as reference_glb

        renderer = renderer or make_renderer(512, "reference")
        return reference_glb(vec, renderer.render(vec).labels, spec)
    raise ExportError(f"rig {spec.rig_id!r} has no glTF export; only rigs 2.2 and 3 have one")
