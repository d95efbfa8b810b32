"""Fitted parameters arranged as a game's face editor shows them: sliders grouped by face part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Slider:
    index: int  # position in the rig's spec: the editor's script sends values in that order
    name: str
    label: str
    value: float
    fitted: float
    doc: str


@dataclass(frozen=True)
class OptionRow:
    """A discrete group as a row of pictures: the fit's choice (and runner-ups) first."""

    name: str
    label: str
    options: list[tuple[int, str, str]]  # (index in the spec, option name, label)
    value: str
    fitted: str


def _rig_spec() -> dict[str, Any]:
    """The control names, groups and docs of the rig `FACEFIT_RIG` selects, in spec order."""
    from facefit.rig.spec import load_spec

    return load_spec().to_json()


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def slider_groups(
    params: dict[str, Any], fitted: dict[str, Any] | None = None
) -> list[tuple[str, list[Slider]]]:
    """[(group, sliders)] in the rig's order; unknown controls grouped by their name's prefix."""
    spec = {c["name"]: c for c in _rig_spec().get("continuous", [])}
    groups: dict[str, list[Slider]] = {}
    values = params.get("continuous") or {}
    original = (fitted or params).get("continuous") or {}
    ordered = [n for n in spec if n in values] + [n for n in values if n not in spec]
    position = {name: i for i, name in enumerate(spec)}
    for name in ordered:
        control = spec.get(name, {})
        group = control.get("group") or name.split("_", 1)[0]
        value = float(values[name])
        groups.setdefault(group, []).append(
            Slider(
                position.get(name, -1),
                name,
                _label(name),
                value,
                float(original.get(name, value)),
                control.get("doc", ""),
            )
        )
    return [(_label(group), sliders) for group, sliders in groups.items()]


def option_rows(
    params: dict[str, Any], fitted: dict[str, Any], runner_ups: dict[str, list[str]] | None = None
) -> list[OptionRow]:
    """Every discrete group of the rig with all its options, the fit's choices first.

    `runner_ups` (group -> options in the fit's order of preference), where the fit records
    them, come right after the chosen option; the other options follow in the spec's order.
    """
    rows = []
    chosen = params.get("discrete") or {}
    original = fitted.get("discrete") or {}
    for group in _rig_spec().get("discrete", []):
        name, options = group["name"], list(group["options"])
        first = [original.get(name), *((runner_ups or {}).get(name) or [])]
        order = [o for o in dict.fromkeys(first) if o in options]
        order += [o for o in options if o not in order]
        rows.append(
            OptionRow(
                name=name,
                label=_label(name),
                options=[(options.index(o), o, _label(o)) for o in order],
                value=chosen.get(name, options[0]),
                fitted=original.get(name, options[0]),
            )
        )
    return rows


def render_query(params: dict[str, Any]) -> dict[str, str]:
    """The `c` and `d` query arguments of `render.jpg` for `params` (as the editor's script
    builds them): every control as an integer 0..1000 and every group's option index."""
    spec = _rig_spec()
    values = params.get("continuous") or {}
    chosen = params.get("discrete") or {}
    c = ",".join(str(round(float(values.get(x["name"], 0.5)) * 1000)) for x in spec["continuous"])
    d = ",".join(
        str(g["options"].index(chosen[g["name"]]) if chosen.get(g["name"]) in g["options"] else 0)
        for g in spec.get("discrete", [])
    )
    return {"c": c, "d": d}


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
