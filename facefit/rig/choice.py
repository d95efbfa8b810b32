"""Which rig the `facefit rig` commands and the sampler draw: rig 2.2 unless asked otherwise.

`--rig human` on a command, or `FACEFIT_RIG=human` in the environment (which reaches every
`facefit rig sample` a script such as `tools/train_all.sh` runs), selects rig 3
(`facefit.rig.human`). The fit keeps rig 2.2 until networks trained on rig 3 ship.
"""

from __future__ import annotations

import os

from facefit.errors import SpecError
from facefit.rig.render import Renderer
from facefit.rig.spec import RigSpec, load_spec

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
    return load_spec()


def make_renderer(size: int = 512, name: str | None = None) -> Renderer:
    """A renderer of the chosen rig (each owns its own GL context)."""
    if rig_name(name) == "human":
        from facefit.rig.human.render import HumanRenderer

        return HumanRenderer(size=size)
    return Renderer(size=size)
