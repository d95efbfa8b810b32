"""The optimised parameters: unconstrained tensors mapped into the rig's [0, 1] vector.

Continuous controls are `sigmoid(z)`, so every step stays inside [0, 1] without projection
and the gradient never dies at a clamp. Each discrete group is a row of logits relaxed by a
softmax with a temperature (annealed by the fitter) and projected to one option at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EPS = 1e-4


@dataclass(frozen=True)
class ParamLayout:
    """Where each part of the rig's parameter vector lives: continuous first, then one-hots."""

    continuous_size: int
    discrete_slices: tuple[tuple[str, int, int], ...]  # (group, start, stop)

    @property
    def vector_size(self) -> int:
        return self.continuous_size + sum(stop - start for _, start, stop in self.discrete_slices)

    @classmethod
    def from_spec(cls, spec) -> ParamLayout:
        """From a `RigSpec` (anything with `continuous_size` and `discrete_slices`)."""
        slices = tuple((g, s.start, s.stop) for g, s in spec.discrete_slices.items())
        return cls(int(spec.continuous_size), slices)


class ParamState(torch.nn.Module):
    """The only tensors the fit optimises, for a batch of faces."""

    def __init__(self, layout: ParamLayout, init: torch.Tensor) -> None:
        """`init` (B, D) in the rig layout: continuous values in [0, 1], discrete one-hots."""
        super().__init__()
        assert init.ndim == 2 and init.shape[1] == layout.vector_size, init.shape
        self.layout = layout
        cont = init[:, : layout.continuous_size].clamp(_EPS, 1 - _EPS)
        self.z = torch.nn.Parameter(torch.log(cont) - torch.log1p(-cont))  # logit
        # One-hot inits become logits that a softmax at temperature 1 maps to ~0.9 on the choice.
        self.logits = torch.nn.ParameterList(
            torch.nn.Parameter(init[:, start:stop].clone() * 3.0)
            for _, start, stop in layout.discrete_slices
        )

    def vector(self, temperature: float = 1.0) -> torch.Tensor:
        """(B, D) relaxed parameter vector for the imitator."""
        parts = [torch.sigmoid(self.z)]
        parts += [torch.softmax(lg / temperature, dim=1) for lg in self.logits]
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def discrete_probabilities(self) -> list[torch.Tensor]:
        """Per group (B, K) softmax at temperature 1: how sure the fit is of each choice."""
        return [torch.softmax(lg, dim=1) for lg in self.logits]

    @torch.no_grad()
    def projected(self) -> torch.Tensor:
        """(B, D) final vector: continuous values, and one option per discrete group."""
        parts = [torch.sigmoid(self.z)]
        for lg in self.logits:
            parts.append(torch.nn.functional.one_hot(lg.argmax(1), lg.shape[1]).to(lg.dtype))
        return torch.cat(parts, dim=1)
