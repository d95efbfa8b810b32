"""Control values -> morphed head: MakeHuman's macro interpolation plus the face targets.

All targets the controls can reach form one dense basis (3N, T), so a face is the rest mesh
plus one matrix-vector product over the targets with a non-zero weight.
"""

from __future__ import annotations

import numpy as np

from facefit.rig.human import controls
from facefit.rig.human.asset import HumanAsset

RACES = ("african", "asian", "caucasian")
SEXES = ("female", "male")
AGES = ("child", "young", "old")
WEIGHTS = ("minweight", "averageweight", "maxweight")
AGE_YEARS = (18.0, 70.0)
# Each face control reaches its MakeHuman target's full weight at 0 and 1. At 60 % (rig 3.2)
# the controls moved a fitted face too little: the shape solve held half the London photos'
# jaws at their widest, and dlib's reading of a render followed the photo's jaw no better
# than chance. Random faces at full weight are caricatures; fitted ones are not.
FACE_GAIN = 1.0


def age_weights(control: float) -> dict[str, float]:
    """Weights of the child/young/old targets for the age control (MakeHuman's age curve).

    MakeHuman's age slider is 0.1875 at 11 years, 0.5 at 25 and 1 at 90, linear between;
    the child target fades out at 25 and the old target in from 25.
    """
    years = AGE_YEARS[0] + control * (AGE_YEARS[1] - AGE_YEARS[0])
    if years < 25.0:
        mh = 0.1875 + (years - 11.0) / 14.0 * 0.3125
        child = (0.5 - mh) / 0.3125
        return {"child": child, "young": 1.0 - child, "old": 0.0}
    mh = 0.5 + (years - 25.0) / 65.0 * 0.5
    old = (mh - 0.5) / 0.5
    return {"child": 0.0, "young": 1.0 - old, "old": old}


def _two_sided(value: float, names: tuple[str, str, str]) -> dict[str, float]:
    """A MakeHuman min/average/max blend: 0 -> min, 0.5 -> average, 1 -> max."""
    lo, mid, hi = names
    if value < 0.5:
        return {lo: 1.0 - 2.0 * value, mid: 2.0 * value, hi: 0.0}
    return {lo: 0.0, mid: 2.0 - 2.0 * value, hi: 2.0 * value - 1.0}


def macro_weights(values: dict[str, float]) -> dict[str, float]:
    """Target name -> weight of the macro targets for sex, age, weight and ethnic shares."""
    shares = np.array([values[r] for r in RACES], np.float64)
    shares = shares / shares.sum() if shares.sum() > 1e-6 else np.full(3, 1.0 / 3.0)
    sex = {"female": 1.0 - values["sex"], "male": values["sex"]}
    age = age_weights(values["age"])
    weight = _two_sided(0.5 + 0.8 * (values["body_weight"] - 0.5), WEIGHTS)
    out: dict[str, float] = {}
    for s, ws in sex.items():
        for a, wa in age.items():
            for r, wr in zip(RACES, shares, strict=True):
                out[f"{r}-{s}-{a}"] = ws * wa * float(wr)
            for w, ww in weight.items():
                out[f"universal-{s}-{a}-averagemuscle-{w}"] = ws * wa * ww
    return out


def face_weights(values: dict[str, float]) -> dict[str, float]:
    """Target name -> weight of the face targets (FACE_GAIN |2v - 1| at the pole v points to)."""
    out: dict[str, float] = {}
    for m in controls.MORPHS:
        s = 2.0 * values[m.name] - 1.0
        for name in m.low if s < 0 else m.high:
            out[name] = out.get(name, 0.0) + FACE_GAIN * abs(s)
    return out


class MorphModel:
    """The head's vertex positions for any control values."""

    def __init__(self, asset: HumanAsset) -> None:
        self.rest = asset.rest.astype(np.float32)
        names = sorted(macro_weights(_mean_values()))
        for m in controls.MORPHS:
            names += [t for t in m.low + m.high if t not in names]
        self.names = tuple(names)
        self.column = {n: i for i, n in enumerate(self.names)}
        n = len(self.rest)
        basis = np.zeros((len(self.names), n, 3), np.float32)
        for i, name in enumerate(self.names):
            idx, delta = asset.targets[name]
            basis[i, idx] = delta
        self.basis = basis.reshape(len(self.names), 3 * n)  # (T, 3N)

    def weights(self, values: dict[str, float]) -> np.ndarray:
        w = np.zeros(len(self.names), np.float32)
        for name, value in (macro_weights(values) | face_weights(values)).items():
            w[self.column[name]] += value
        return w

    def vertices(self, values: dict[str, float]) -> np.ndarray:
        """Morphed base vertices (N, 3) float32 in dm."""
        # one product over every target: gathering the active rows first copies them and
        # costs four times as much
        offset = self.weights(values) @ self.basis
        return self.rest + offset.reshape(-1, 3)


def _mean_values() -> dict[str, float]:
    names = [n for n, _, _ in controls.MACROS] + [m.name for m in controls.MORPHS]
    return dict.fromkeys(names, 0.5)
