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

from facefit.errors import SpecError
from facefit.rig.spec import RigSpec, load_reference_spec

if TYPE_CHECKING:
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
