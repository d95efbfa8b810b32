"""The recogniser's response to the rig's face shape: how dlib's 128-d descriptor of a real
render moves along each shape pole of the landmark model (`landmark_model().poles`).

Measured on real renders, not learnt from photos (`facefit.train.recognition`): every rig
face of a sample is drawn once as it is and once per pole pushed half way, and the
descriptor's differences are averaged over the faces. The fit's last step uses it to solve the
shape with what the recogniser reads (`facefit.fit.recognition`). One matrix for every face:
it moves the face's morphs, it is not a gradient through one render's pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from facefit.nets.weights import load_state, load_weights

NETWORK = "recognition"
CONFIG_NAME = "response"
DESCRIPTOR_SIZE = 128


class RecognitionResponse(nn.Module):
    """`response` (128, P): the descriptor's change per unit of each pole's amount."""

    def __init__(self, poles: int) -> None:
        super().__init__()
        self.register_buffer("response", torch.zeros(DESCRIPTOR_SIZE, poles))

    def matrix(self) -> np.ndarray:
        return self.response.double().cpu().numpy()


def load_recognition_response(path: str | Path, rig_id: str) -> RecognitionResponse:
    """The measured response of a rig (its renders were measured: another rig's is refused)."""
    stored = load_weights(Path(path), network=NETWORK, expected_rig=rig_id)
    model = RecognitionResponse(int(stored.config["poles"]))
    load_state(model, stored, path)
    return model.eval()
