"""The expression basis: how a smile moves a photo's 68 aligned landmarks.

A rig with no expressions (rig 3) takes its face's shape from the photo's landmarks
(`facefit.fit.shape`), and a smile moves the cheeks, the eyes and the jaw as well as the lips:
the same person smiling got a wider jaw and narrower eyes than neutral. The basis holds the
main directions in which the landmarks of the shared people's smiling photos differ from their
neutral ones (after a similarity), so the shape solve can explain that part of a photo as
expression rather than as the face's shape (`facefit.train.expressions`). It reads photos'
landmarks in the aligned frame, which every rig shares, so it is not tied to a rig.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from facefit.nets.weights import load_state, load_weights

NETWORK = "expressions"
CONFIG_NAME = "smile"


class ExpressionBasis(nn.Module):
    """`directions` (K, 68, 2): landmark moves in [0, 1] of the aligned frame, each scaled to
    its typical size among the training photos (an amount of 1 is a typical smile's)."""

    def __init__(self, components: int) -> None:
        super().__init__()
        self.register_buffer("directions", torch.zeros(components, 68, 2))

    def columns(self) -> np.ndarray:
        """(136, K) the directions as columns beside the shape solve's (x, y interleaved)."""
        return self.directions.double().cpu().numpy().reshape(len(self.directions), -1).T


def load_expression_basis(path: str | Path) -> ExpressionBasis:
    stored = load_weights(Path(path), network=NETWORK, expected_rig=None)
    model = ExpressionBasis(int(stored.config["components"]))
    load_state(model, stored, path)
    return model.eval()
