"""The attribute reader: a photo's dlib face descriptor -> sex, age and ethnic group.

These are what any viewer reads off a face first, and what a character must get right
before its finer shape matters. dlib's recogniser (face-recognition-models) already maps a
face to a 128-d descriptor in which they are nearly linear, so the reader is linear heads
over that descriptor, trained on the labelled shared photos (`facefit.train.attributes`).
It reads photos only: its answers set the rig's macro controls (`facefit.fit.attributes`),
not an identity score, so nothing in the fit pushes a render towards dlib's descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from facefit.nets.weights import load_state, load_weights

NETWORK = "attributes"
CONFIG_NAME = "linear"
DESCRIPTOR_SIZE = 128
ETHNICITIES = ("white", "black", "east_asian", "west_asian")  # the shared photos' labels


@dataclass(frozen=True)
class Attributes:
    """One photo's reading: the probability the face is a man's, age in years, and each
    ethnic group's share (summing to 1)."""

    male: float
    years: float
    ethnicity: dict[str, float]


class AttributeReader(nn.Module):
    """Descriptors (B, 128) -> (male logit (B,), years (B,), ethnicity logits (B, 4))."""

    def __init__(self) -> None:
        super().__init__()
        # the descriptor's mean and spread over the training photos, so one weight decay
        # suits every input
        self.register_buffer("mean", torch.zeros(DESCRIPTOR_SIZE))
        self.register_buffer("scale", torch.ones(DESCRIPTOR_SIZE))
        self.heads = nn.Linear(DESCRIPTOR_SIZE, 2 + len(ETHNICITIES))

    def forward(self, descriptors: torch.Tensor):
        out = self.heads((descriptors - self.mean) / self.scale)
        return out[:, 0], out[:, 1], out[:, 2:]

    @torch.no_grad()
    def read(self, descriptors: torch.Tensor) -> list[Attributes]:
        male, years, ethnicity = self(descriptors.float())
        shares = torch.softmax(ethnicity, dim=1)
        return [
            Attributes(
                male=float(torch.sigmoid(m)),
                years=float(y),
                ethnicity=dict(zip(ETHNICITIES, map(float, s), strict=True)),
            )
            for m, y, s in zip(male, years, shares, strict=True)
        ]


def load_attribute_reader(path: str | Path, device: str | torch.device = "cpu") -> AttributeReader:
    """A trained reader from its weights file (it reads photos: any rig may use it)."""
    stored = load_weights(Path(path), network=NETWORK, expected_rig=None)
    model = AttributeReader()
    load_state(model, stored, path)
    return model.to(device).eval()
