"""Plausible people for contact sheets: controls drawn the way real faces co-vary.

Training draws every control uniformly (`RigSpec.random_vector`), which gives women beards
and blond hair to every ethnicity in equal measure: right for teaching a network the rig,
wrong for showing what the rig can look like. This draw keeps sex, ethnic form, skin,
eye and hair colour, hairstyle and facial hair together, and face shapes near the average.
"""

from __future__ import annotations

import numpy as np

from facefit.rig.human import controls
from facefit.rig.spec import RigSpec

FEMALE_HAIR = ("bob01", "bob02", "long01", "long_curly", "ponytail01", "braid01", "short01",
               "short03")  # fmt: skip
MALE_HAIR = ("bald", "buzz", "short02", "short03", "short04", "receding", "short01")
# per dominant ethnic form: skin tone range, eye colour range, hair colour range
ETHNIC = {
    "african": ((0.55, 1.0), (0.0, 0.15), (0.0, 0.1)),
    "asian": ((0.15, 0.45), (0.0, 0.2), (0.0, 0.12)),
    "caucasian": ((0.0, 0.35), (0.0, 1.0), (0.0, 1.0)),
}


def greyest_hair(age: float) -> float:
    """The most `hair_grey` a person of this `age` (the control) has: none under about 41."""
    return float(np.clip((age - 0.45) * 1.6, 0.0, 1.0))


def plausible_vector(spec: RigSpec, rng: np.random.Generator) -> np.ndarray:
    """One plausible person as a vector of rig 3's layout."""
    female = rng.random() < 0.5
    ethnic = str(rng.choice(list(ETHNIC)))
    tone, eye, hair = ETHNIC[ethnic]
    age = float(rng.random())
    values = {m.name: float(np.clip(rng.normal(0.5, 0.15), 0, 1)) for m in controls.MORPHS}
    values |= {
        "sex": float(rng.uniform(0.0, 0.25) if female else rng.uniform(0.75, 1.0)),
        "age": age,
        "body_weight": float(rng.beta(2, 2)),
        "african": float(rng.uniform(0, 0.25)),
        "asian": float(rng.uniform(0, 0.25)),
        "caucasian": float(rng.uniform(0, 0.25)),
        "skin_tone": float(rng.uniform(*tone)),
        "skin_undertone": float(rng.uniform(0.35, 0.7)),
        "skin_saturation": float(rng.uniform(0.45, 0.75)),
        "eye_color": float(rng.uniform(*eye)),
        "brow_color": float(rng.uniform(0.4, 1.0)),
        "brow_density": float(rng.uniform(0.3, 0.9) if female else rng.uniform(0.5, 1.0)),
        "lip_color": float(rng.uniform(0.2, 0.8) if female else rng.uniform(0.0, 0.5)),
        "hair_color": float(rng.uniform(*hair)),
        "hair_redness": float(rng.uniform(0.3, 0.7) if rng.random() < 0.85 else 0.9),
        "hair_grey": greyest_hair(age) * float(rng.random()),
        "facial_hair_density": float(rng.uniform(0.3, 1.0)),
    }
    values[ethnic] = 1.0
    styles = FEMALE_HAIR if female else MALE_HAIR
    if ethnic == "african" and rng.random() < 0.3:
        styles = ("afro01",)
    beard = "none" if female or rng.random() < 0.4 else str(rng.choice(controls.FACIAL_HAIR[1:]))
    return spec.encode({
        "continuous": values,
        "discrete": {"hairstyle": str(rng.choice(styles)), "facial_hair": beard,
                     "eyebrow_style": str(rng.choice(controls.EYEBROW_STYLES))},
    })  # fmt: skip
