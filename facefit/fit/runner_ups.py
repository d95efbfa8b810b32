"""Each discrete group's options ranked by what the fit learnt of them: the editor's order.

The fit weighs a group's options in up to three ways, the most telling first: drawn by the
game's own renderer and compared with the photo (an outline's disagreement, `outline.py`;
the real loss of an option checked against the choice, `options.py`), read by the detail
reader that owns the group (`start.py`), and the search's soft choice (`search.py`). The
ranking: the option chosen, then the options drawn (best first), then the rest by the
reader's probability where a reader owns the group, else by the search's.
"""

from __future__ import annotations

import torch


class OptionEvidence:
    """What the stages learnt of each face's options, gathered as they run."""

    def __init__(self, batch: int) -> None:
        self._drawn: list[dict[str, dict[int, float]]] = [{} for _ in range(batch)]
        self._read: dict[str, torch.Tensor] = {}

    def drawn(self, face: int, group: str, option: int, score: float) -> None:
        """`option`'s score (lower is better) on the game's render of face `face`; one step
        draws a group's options, so scores of one group compare."""
        self._drawn[face].setdefault(group, {})[option] = float(score)

    def read(self, group: str, probabilities: torch.Tensor) -> None:
        """A detail reader's probabilities (B, K) of the options of the group it owns."""
        self._read[group] = probabilities.detach().float().cpu()

    def ranking(self, face: int, group: str, chosen: int, searched: torch.Tensor) -> list[int]:
        """Every option index of `group` once, `chosen` first, then the best by the evidence;
        `searched` (K,) is the search's soft choice of face `face`."""
        soft = self._read[group][face] if group in self._read else searched.detach().cpu()
        drawn = self._drawn[face].get(group, {})

        def rank(option: int) -> tuple[int, float]:
            if option == chosen:
                return (0, 0.0)
            if option in drawn:
                return (1, drawn[option])
            return (2, -float(soft[option]))

        return sorted(range(soft.shape[0]), key=rank)  # stable: ties keep the spec's order


def runner_ups(
    spec, vector: torch.Tensor, searched: list[torch.Tensor], evidence: OptionEvidence, face: int
) -> dict[str, list[str]]:
    """{group: every option's name, the chosen first, then best first} of face `face`, whose
    final parameters are the (D,) `vector`; `searched`: the search's soft choice per group
    (B, K), in the spec's order of groups."""
    out = {}
    for group, probabilities in zip(spec.discrete, searched, strict=True):
        block = spec.discrete_slices[group.name]
        chosen = int(vector[block].argmax())
        order = evidence.ranking(face, group.name, chosen, probabilities[face])
        out[group.name] = [group.options[o] for o in order]
    return out
