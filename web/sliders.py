"""Fitted parameters arranged as a game's face editor shows them: sliders grouped by face part."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slider:
    name: str
    label: str
    value: float
    doc: str


@cache
def _rig_spec() -> dict[str, Any]:
    """The reference rig's control names, groups and docs (empty if the rig is not installed)."""
    try:
        return json.loads(resources.files("facefit.rig").joinpath("spec.json").read_text())
    except (ModuleNotFoundError, FileNotFoundError, ValueError) as exc:
        log.warning("rig spec not readable (%s); grouping sliders by name", exc)
        return {}


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def slider_groups(params: dict[str, Any]) -> list[tuple[str, list[Slider]]]:
    """[(group, sliders)] in the rig's order; unknown controls grouped by their name's prefix."""
    spec = {c["name"]: c for c in _rig_spec().get("continuous", [])}
    groups: dict[str, list[Slider]] = {}
    values = params.get("continuous") or {}
    ordered = [n for n in spec if n in values] + [n for n in values if n not in spec]
    for name in ordered:
        control = spec.get(name, {})
        group = control.get("group") or name.split("_", 1)[0]
        groups.setdefault(group, []).append(
            Slider(name, _label(name), float(values[name]), control.get("doc", ""))
        )
    return [(_label(group), sliders) for group, sliders in groups.items()]


def discrete_choices(params: dict[str, Any]) -> list[tuple[str, str]]:
    """[(group label, chosen option label)] for the discrete parts (hairstyle, ...)."""
    return [
        (_label(group), _label(str(option)))
        for group, option in (params.get("discrete") or {}).items()
    ]


def loss_curve_svg_points(curve: list[list[float]], width: int = 480, height: int = 160) -> dict:
    """Polyline points of loss and similarity per iteration, scaled into a width x height box."""
    if not curve:
        return {"loss": "", "similarity": "", "width": width, "height": height}
    iterations = [row[0] for row in curve]
    losses = [row[1] for row in curve]
    span_x = max(max(iterations) - min(iterations), 1)
    low, high = min(losses), max(losses)
    span_y = (high - low) or 1.0

    def x(i: float) -> float:
        return round((i - min(iterations)) / span_x * (width - 10) + 5, 1)

    loss = " ".join(
        f"{x(i)},{round(height - 5 - (v - low) / span_y * (height - 10), 1)}" for i, v, _ in curve
    )
    similarity = " ".join(
        f"{x(i)},{round(height - 5 - min(max(s, 0.0), 1.0) * (height - 10), 1)}"
        for i, _, s in curve
    )
    return {"loss": loss, "similarity": similarity, "width": width, "height": height}
