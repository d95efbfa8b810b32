"""The human rig's `RigSpec`, built from `controls` (the one list of its controls)."""

from __future__ import annotations

from functools import cache

from facefit.rig.human import controls
from facefit.rig.spec import Control, DiscreteGroup, RigSpec

RIG_ID = "facefit-human/3.3"
DOC = (
    "MakeHuman's head (makehumancommunity.org, CC0) with its macro targets (sex, age, weight, "
    "ethnic form) and face targets as controls in [0, 1] (0.5 = average), procedural skin, "
    "eyes, brows, hair and facial hair."
)


@cache
def human_spec() -> RigSpec:
    """The spec of rig 3: macro, face-morph and colour controls, then three discrete groups."""
    continuous = [Control(n, g, d) for n, g, d in controls.MACROS]
    continuous += [Control(m.name, m.group, m.doc) for m in controls.MORPHS]
    continuous += [Control(n, g, d) for n, g, d in controls.COLOURS]
    return RigSpec(
        rig_id=RIG_ID,
        continuous=tuple(continuous),
        discrete=(
            DiscreteGroup("hairstyle", controls.HAIRSTYLES),
            DiscreteGroup("eyebrow_style", controls.EYEBROW_STYLES),
            DiscreteGroup("facial_hair", controls.FACIAL_HAIR),
        ),
        labels=controls.LABELS,
        doc=DOC,
    )
