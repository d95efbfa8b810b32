"""Carry a network's weights over a rig revision that adds or drops controls or
options (rig 3.0 -> 3.1 added the long curly hairstyle), so that it can be fine-tuned
instead of trained again.

A weights file stores the spec it was trained for. Every tensor whose size along one axis
is the parameter vector's (the imitator's first layers, the predictor's last) is re-indexed
along it by name: a control or option the old spec had keeps its weights, a new option
starts from the mean of its group's (the network then draws or reads it as "one of these"
until it learns it), a new continuous control from zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def vector_names(spec: Mapping[str, Any]) -> list[str]:
    """Each entry of a spec's parameter vector (`RigSpec.to_json` form): controls, then each
    discrete group's options as "group=option"."""
    names = [c["name"] for c in spec["continuous"]]
    for group in spec["discrete"]:
        names += [f"{group['name']}={option}" for option in group["options"]]
    return names


def _source(old: list[str], new: list[str]) -> list[list[int]]:
    """For each new entry, the old entries its weights come from (one, a group's, or none)."""
    at = {name: i for i, name in enumerate(old)}
    sources = []
    for name in new:
        if name in at:
            sources.append([at[name]])
        elif "=" in name:
            group = name.split("=")[0] + "="
            sources.append([i for i, other in enumerate(old) if other.startswith(group)])
        else:
            sources.append([])
    return sources


def regrow(
    state: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    old_spec: Mapping[str, Any],
    new_spec: Mapping[str, Any],
) -> dict[str, torch.Tensor]:
    """`state` (stored for `old_spec`) with its vector-sized axes re-indexed for `new_spec`;
    `target` is the new model's own state dict, which says the shapes wanted."""
    old, new = vector_names(old_spec), vector_names(new_spec)
    if old == new:
        return dict(state)
    sources = _source(old, new)
    out = {}
    for key, tensor in state.items():
        want = target.get(key)
        if want is None or want.shape == tensor.shape:
            out[key] = tensor
            continue
        axes = [a for a in range(tensor.dim()) if tensor.shape[a] != want.shape[a]]
        if len(axes) != 1 or tensor.shape[axes[0]] != len(old) or want.shape[axes[0]] != len(new):
            raise ValueError(f"{key}: {tuple(tensor.shape)} does not follow the parameter vector")
        moved = tensor.movedim(axes[0], 0)
        rows = [moved[ids].mean(dim=0) if ids else torch.zeros_like(moved[0]) for ids in sources]
        out[key] = torch.stack(rows).movedim(0, axes[0])
    return out
