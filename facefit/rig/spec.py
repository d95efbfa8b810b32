"""The rig's parameter spec and the one definition of the parameter vector layout.

The vector is the continuous controls in spec order (each in [0, 1], 0.5 = average face)
followed by one one-hot block per discrete group in spec order. Everything that turns
parameters into numbers (renderer, shards, networks, fit) goes through `RigSpec`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from facefit.errors import SpecError

SPEC_PATH = Path(__file__).with_name("spec.json")


@dataclass(frozen=True)
class Control:
    """One continuous control: a name, the face part it belongs to, and what 0 and 1 mean."""

    name: str
    group: str
    doc: str


@dataclass(frozen=True)
class DiscreteGroup:
    """One discrete choice (hairstyle, ...): option 0 is the default."""

    name: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class RigSpec:
    """Names, docs and vector layout of a rig's parameters (ours or a studio's client)."""

    rig_id: str
    continuous: tuple[Control, ...]
    discrete: tuple[DiscreteGroup, ...]
    labels: tuple[str, ...]
    doc: str = ""

    @property
    def continuous_size(self) -> int:
        return len(self.continuous)

    @property
    def vector_size(self) -> int:
        return self.continuous_size + sum(len(g.options) for g in self.discrete)

    @property
    def discrete_slices(self) -> dict[str, slice]:
        """Group name -> slice of its one-hot block in the vector."""
        slices, start = {}, self.continuous_size
        for group in self.discrete:
            slices[group.name] = slice(start, start + len(group.options))
            start += len(group.options)
        return slices

    @property
    def continuous_index(self) -> dict[str, int]:
        return {c.name: i for i, c in enumerate(self.continuous)}

    def mean_vector(self) -> np.ndarray:
        """The reference face: every control 0.5, option 0 of every group."""
        vec = np.zeros(self.vector_size, dtype=np.float32)
        vec[: self.continuous_size] = 0.5
        for sl in self.discrete_slices.values():
            vec[sl.start] = 1.0
        return vec

    def random_vector(self, rng: np.random.Generator) -> np.ndarray:
        """A uniform draw (patent §0077): continuous U[0, 1], each discrete group uniform one-hot."""
        vec = np.zeros(self.vector_size, dtype=np.float32)
        vec[: self.continuous_size] = rng.random(self.continuous_size)
        for sl in self.discrete_slices.values():
            vec[sl.start + int(rng.integers(sl.stop - sl.start))] = 1.0
        return vec

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """`{"continuous": {name: v}, "discrete": {group: option}}` -> vector; missing = default."""
        if not isinstance(params, Mapping):
            raise SpecError("parameters must be a JSON object")
        unknown_keys = set(params) - {"rig", "continuous", "discrete"}
        if unknown_keys:
            raise SpecError(f"unknown parameter sections: {sorted(unknown_keys)}")
        rig = params.get("rig")
        if rig is not None and rig != self.rig_id:
            raise SpecError(f"parameters are for rig {rig!r}, this rig is {self.rig_id!r}")
        vec = self.mean_vector()
        index = self.continuous_index
        continuous = params.get("continuous") or {}
        if not isinstance(continuous, Mapping):
            raise SpecError('"continuous" must be an object {name: value}')
        for name, value in continuous.items():
            if name not in index:
                raise SpecError(f"unknown continuous control {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SpecError(f"control {name!r} must be a number, got {value!r}")
            if not 0.0 <= float(value) <= 1.0:
                raise SpecError(f"control {name!r} = {value} is outside [0, 1]")
            vec[index[name]] = float(value)
        discrete = params.get("discrete") or {}
        if not isinstance(discrete, Mapping):
            raise SpecError('"discrete" must be an object {group: option}')
        groups = {g.name: g for g in self.discrete}
        slices = self.discrete_slices
        for name, option in discrete.items():
            if name not in groups:
                raise SpecError(f"unknown discrete group {name!r}")
            options = groups[name].options
            if isinstance(option, int) and not isinstance(option, bool):
                if not 0 <= option < len(options):
                    raise SpecError(f"{name!r} option index {option} out of range")
                choice = option
            elif option in options:
                choice = options.index(option)
            else:
                raise SpecError(f"{name!r} has no option {option!r}; options: {list(options)}")
            sl = slices[name]
            vec[sl] = 0.0
            vec[sl.start + choice] = 1.0
        return vec

    def decode(self, vec: np.ndarray) -> dict[str, Any]:
        """Vector -> parameter dict (argmax per discrete block), the inverse of `encode`."""
        vec = np.asarray(vec, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.vector_size:
            raise SpecError(f"vector has {vec.shape[0]} values, the rig expects {self.vector_size}")
        # clipped as one array and the slices built once: a fit decodes every render it draws
        clipped = np.clip(vec[: self.continuous_size], 0.0, 1.0).astype(np.float64).tolist()
        continuous = {c.name: round(v, 6) for c, v in zip(self.continuous, clipped, strict=True)}
        return {"rig": self.rig_id, "continuous": continuous, "discrete": self.options(vec)}

    def options(self, vec: np.ndarray) -> dict[str, str]:
        """Group -> chosen option (argmax of its block) of a (D,) vector: what a renderer
        needs of `decode`, without rounding every control of every render."""
        slices = self.discrete_slices
        return {g.name: g.options[int(np.argmax(vec[slices[g.name]]))] for g in self.discrete}

    def validate_vector(self, vec: np.ndarray) -> np.ndarray:
        """A (D,) float32 copy of `vec`, or SpecError if its size or range is wrong."""
        vec = np.asarray(vec, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.vector_size:
            raise SpecError(f"vector has {vec.shape[0]} values, the rig expects {self.vector_size}")
        if not np.all(np.isfinite(vec)) or vec.min() < 0.0 or vec.max() > 1.0:
            raise SpecError("vector values must be finite and within [0, 1]")
        return vec

    def to_json(self) -> dict[str, Any]:
        """The spec as written in `spec.json` (and printed by `facefit rig spec --json`)."""
        return {
            "rig": self.rig_id,
            "doc": self.doc,
            "continuous": [
                {"name": c.name, "group": c.group, "doc": c.doc} for c in self.continuous
            ],
            "discrete": [{"name": g.name, "options": list(g.options)} for g in self.discrete],
            "labels": list(self.labels),
        }


def spec_from_json(data: Mapping[str, Any]) -> RigSpec:
    """Build and check a spec from its JSON form (ours, or a studio client's export)."""
    try:
        continuous = tuple(
            Control(str(c["name"]), str(c.get("group", "")), str(c.get("doc", "")))
            for c in data["continuous"]
        )
        discrete = tuple(
            DiscreteGroup(str(g["name"]), tuple(str(o) for o in g["options"]))
            for g in data.get("discrete", [])
        )
        spec = RigSpec(
            rig_id=str(data["rig"]),
            continuous=continuous,
            discrete=discrete,
            labels=tuple(str(x) for x in data["labels"]),
            doc=str(data.get("doc", "")),
        )
    except (KeyError, TypeError) as exc:
        raise SpecError(f"malformed rig spec: missing or wrong field {exc}") from exc
    names = [c.name for c in continuous] + [g.name for g in discrete]
    if len(set(names)) != len(names):
        raise SpecError("rig spec has duplicate control or group names")
    if any(len(g.options) < 1 for g in discrete):
        raise SpecError("every discrete group needs at least one option")
    return spec


def parse_params_document(data: Any) -> dict[str, Any]:
    """Accept `{"rig", "continuous", "discrete"}` or a fit result `{"rig", "params": {...}}`."""
    if not isinstance(data, Mapping):
        raise SpecError("parameters file must hold a JSON object")
    if "params" in data:
        inner = data["params"]
        if not isinstance(inner, Mapping):
            raise SpecError('"params" must be an object {"continuous", "discrete"}')
        out = {k: inner[k] for k in ("continuous", "discrete") if k in inner}
        rig = inner.get("rig", data.get("rig"))
    else:
        out = {k: data[k] for k in ("continuous", "discrete") if k in data}
        unknown = set(data) - {"rig", "continuous", "discrete"}
        if unknown:
            raise SpecError(f"unknown parameter sections: {sorted(unknown)}")
        rig = data.get("rig")
    if rig is not None:
        out["rig"] = rig
    return out


@cache
def load_reference_spec() -> RigSpec:
    """Rig 2.2's spec from `facefit/rig/spec.json` (read once per process)."""
    return spec_from_json(json.loads(SPEC_PATH.read_text()))


def load_spec() -> RigSpec:
    """The spec of the rig this process works with: rig 2.2, or rig 3 under `FACEFIT_RIG=human`.

    Trainers and weight loaders read it, so a script run with `FACEFIT_RIG=human` (such as
    `tools/train_all.sh`) samples, trains and checks weights on rig 3 (`facefit.rig.choice`).
    """
    from facefit.rig.choice import rig_spec

    return rig_spec()
