"""The descriptor imitator: a rig's parameter vector -> dlib's descriptor of its real render.

The fit's recognition step compares the photo's descriptor with the character's
(`facefit.fit.recognition`). Reading the character's means a 512 px render and dlib's
network on it, about 35 ms on one core; this network answers in well under a millisecond,
so the fit reads it instead. It is trained on real renders of fitted-like faces, each read
by dlib exactly as the step reads it (`facefit.train.descriptor`), and reports its error on
the faces of photos it never saw. It predicts a descriptor only: the step still moves the
face through the measured response, never along this network's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from facefit.nets.weights import load_state, load_weights

NETWORK = "descriptor"
DESCRIPTOR_SIZE = 128


@dataclass(frozen=True)
class DescriptorConfig:
    """The network's shape: an MLP over the whole parameter vector."""

    vector_size: int
    width: int = 512
    depth: int = 2  # hidden layers


CONFIGS = {"mlp": {}}
DEFAULT_CONFIG = "mlp"


class DescriptorImitator(nn.Module):
    """Parameter vectors (B, D) -> dlib descriptors (B, 128) of their real renders."""

    def __init__(self, cfg: DescriptorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.vector_size
        for _ in range(cfg.depth):
            layers += [nn.Linear(width, cfg.width), nn.GELU()]
            width = cfg.width
        layers.append(nn.Linear(width, DESCRIPTOR_SIZE))
        self.net = nn.Sequential(*layers)
        # the descriptors' mean over the training renders: the layers learn the difference
        self.register_buffer("mean", torch.zeros(DESCRIPTOR_SIZE))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.mean + self.net(vectors)

    @torch.no_grad()
    def describe(self, vectors: torch.Tensor) -> np.ndarray:
        """(B, D) vectors -> (B, 128) float64 descriptors, as dlib's are read."""
        return self(vectors.float()).double().cpu().numpy()


def load_descriptor_imitator(
    path: str | Path, rig_id: str, device: str | torch.device = "cpu"
) -> DescriptorImitator:
    """A trained imitator of a rig's renders' descriptors (another rig's is refused)."""
    stored = load_weights(Path(path), network=NETWORK, expected_rig=rig_id)
    model = DescriptorImitator(DescriptorConfig(**stored.config))
    load_state(model, stored, path)
    return model.to(device).eval()
