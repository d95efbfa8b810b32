"""Rig 3's 68 landmarks as a function of its shape controls, without rendering.

The head is the rest mesh plus a weighted sum of MakeHuman targets (`morph.MorphModel`); the
landmarks are fixed vertices of it, framed at the eyes, projected and framed as a photo is
aligned (`framing`), as the renderer does.
So each face control moves the landmarks along one direction on each side of 0.5 (its low
and its high targets), which is what lets a photo's landmarks be solved for the shape
(`facefit.fit.shape`). Only the vertices the landmarks and the eye framing read are morphed:
a few hundred of the head's 5,189.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from facefit.rig import camera
from facefit.rig.human import controls, framing
from facefit.rig.human.asset import load_asset
from facefit.rig.human.morph import MorphModel
from facefit.rig.human.render import CM_PER_UNIT, EYES_AT, FRAME_SCALE

BODY_WEIGHT = "body_weight"  # the one macro whose form the landmarks read (the others are set
# from the photo's attributes, `facefit.fit.attributes`)


@dataclass(frozen=True)
class Pole:
    """One unknown of the shape solve: a control pushed from 0.5 towards 0 or 1 (0 to 1)."""

    control: str
    high: bool  # towards 1 (else towards 0)


class LandmarkModel:
    """Landmarks (68, 2) in [0, 1] of the render frame for any control values of rig 3."""

    def __init__(self) -> None:
        asset = load_asset()
        self.morph = MorphModel(asset)
        eyes = asset.proxies["eyes"]
        landmark = asset.extras["lm_vertex"].astype(np.int64)
        ends = eyes.scale[:, :2].astype(np.int64)  # (3 axes, 2): the vertices sizing the eyes
        need = np.unique(np.concatenate([landmark, eyes.bind_idx.ravel(), ends.ravel()]))
        at = {int(v): i for i, v in enumerate(need)}  # vertex -> row of the morphed subset
        self._landmark = np.array([at[int(v)] for v in landmark])
        self._ends = np.vectorize(lambda v: at[int(v)])(ends)
        self._eye_span = eyes.scale[:, 2].astype(np.float64)
        # the eyes' centre, where the renderer frames the head, is linear in the vertices
        # it binds to plus their mean offset times the eyes' size (`Proxy.place`)
        self._centre = np.zeros(len(need))
        np.add.at(self._centre, np.vectorize(lambda v: at[int(v)])(eyes.bind_idx).ravel(),
                  eyes.bind_w.ravel() / len(eyes.bind_w))  # fmt: skip
        self._offset = eyes.bind_d.mean(axis=0).astype(np.float64)
        targets = len(self.morph.names)
        self._basis = self.morph.basis.reshape(targets, -1, 3)[:, need].reshape(targets, -1)
        self._rest = self.morph.rest[need].astype(np.float64)
        self.poles = tuple(
            Pole(name, high)
            for name in [BODY_WEIGHT] + [m.name for m in controls.MORPHS]
            for high in (False, True)
        )
        # a face control's targets do not depend on the macros: its poles' directions are
        # computed once (the body weight's, mixed with sex and age, per call)
        names = [name for name, _, _ in controls.MACROS] + [m.name for m in controls.MORPHS]
        average = dict.fromkeys(names, 0.5)
        self._face_directions = np.stack(
            [self._direction(average, pole) for pole in self.poles if pole.control != BODY_WEIGHT]
        )

    def landmarks(self, values: dict[str, float]) -> np.ndarray:
        """(68, 2) float64 landmarks in [0, 1] of the render frame, framed as drawn."""
        unframed = self._project(self.morph.weights(values)[None])[0]
        return framing.framed(unframed, framing.frame_transform(unframed))

    def pole_directions(self, values: dict[str, float]) -> np.ndarray:
        """(P, T) how each pole moves the targets' weights, from `values` with every face
        control at 0.5 (the macros as given): a pole's landmarks are linear in it before the
        projection."""
        average = dict(values) | {m.name: 0.5 for m in controls.MORPHS}
        weight = [self._direction(average, p) for p in self.poles if p.control == BODY_WEIGHT]
        return np.concatenate([np.stack(weight), self._face_directions])

    def _direction(self, average: dict[str, float], pole: Pole) -> np.ndarray:
        moved = average | {pole.control: 1.0 if pole.high else 0.0}
        neutral = average | {pole.control: 0.5}
        return self.morph.weights(moved).astype(np.float64) - self.morph.weights(neutral)

    def _project(self, weights: np.ndarray) -> np.ndarray:
        """(K, T) target weights -> (K, 68, 2) landmarks in [0, 1], as the renderer projects
        them before `framing`'s similarity (which the shape solve leaves free anyway)."""
        moved = self._rest + (weights @ self._basis).reshape(len(weights), -1, 3)
        axes = np.arange(3)
        size = np.abs(moved[:, self._ends[:, 0], axes] - moved[:, self._ends[:, 1], axes])
        centre = np.einsum("n,knc->kc", self._centre, moved) + self._offset * size / self._eye_span
        framed = (moved[:, self._landmark] - centre[:, None]) * (CM_PER_UNIT * FRAME_SCALE)
        flat = camera.project((framed + EYES_AT).reshape(-1, 3), 1).astype(np.float64)
        return flat.reshape(len(weights), -1, 2)

    def jacobian(
        self, values: dict[str, float], directions: np.ndarray, step: float = 0.25
    ) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks at `values` (136,) and their derivative (136, P) along `directions`
        (P, T), by a forward difference of `step` of a pole (the projection is all that
        bends them)."""
        w0 = self.morph.weights(values).astype(np.float64)
        stacked = np.concatenate([w0[None], w0[None] + step * directions])
        points = self._project(stacked).reshape(len(stacked), -1)
        return points[0], (points[1:] - points[0]).T / step


@cache
def landmark_model() -> LandmarkModel:
    """The process's one model (its basis is a few MB, built once)."""
    return LandmarkModel()


def control_values(poles: Sequence[Pole], x: np.ndarray) -> dict[str, float]:
    """Each pole's control from the amounts `x` (P,): 0.5 moved by half the net amount."""
    out: dict[str, float] = {}
    for pole, amount in zip(poles, x, strict=True):
        sign = 0.5 if pole.high else -0.5
        out[pole.control] = out.get(pole.control, 0.5) + sign * float(amount)
    return out


def pole_amounts(poles: Sequence[Pole], values: dict[str, float]) -> np.ndarray:
    """The amounts (P,) of `control_values` that give these control values (one pole each)."""
    out = np.zeros(len(poles))
    for j, pole in enumerate(poles):
        push = 2.0 * (values[pole.control] - 0.5)
        out[j] = max(push, 0.0) if pole.high else max(-push, 0.0)
    return out
