"""The start's macro controls from the photo's sex, age and ethnic group.

A rig with MakeHuman's macro controls (rig 3) draws a face's sex, age and ethnic form with
them, and the networks trained on its renders read them poorly from a photo: they change
the face subtly and evenly, where the extractor looks at parts. The attribute reader
(`facefit.nets.attributes`) reads them from dlib's descriptor of the photo itself; the
fit starts from its reading and the search leaves these controls as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from facefit.nets.attributes import AttributeReader, Attributes
from facefit.rig.human.morph import AGE_YEARS

MACROS = ("sex", "age", "african", "asian", "caucasian")  # the controls set here


def macro_values(reading: Attributes) -> dict[str, float]:
    """One reading -> rig 3's macro controls in [0, 1]."""
    low, high = AGE_YEARS  # the years rig 3's age control spans
    shares = reading.ethnicity
    return {
        "sex": reading.male,
        "age": float(np.clip((reading.years - low) / (high - low), 0.0, 1.0)),
        # the rig normalises the three shares; west Asian faces have the Caucasian form
        "african": shares["black"],
        "asian": shares["east_asian"],
        "caucasian": shares["white"] + shares["west_asian"],
    }


def reads_macros(cfg, networks, spec) -> bool:
    """Whether a fit starts the rig's macro controls from the attribute reader."""
    names = {c.name for c in spec.continuous}
    return (
        cfg.macros_from_photo
        and cfg.mode != "patent"  # the baseline starts from the average face
        and networks.attributes is not None
        and all(name in names for name in MACROS)
    )


def photo_descriptors(photos_faces: Sequence[tuple[np.ndarray, Any]]) -> np.ndarray:
    """(B, 128) dlib's descriptor of each photo at the landmarks the aligner found."""
    from facefit.likeness.descriptors import face_descriptor

    return np.stack(
        [face_descriptor(photo, face.photo_landmarks68) for photo, face in photos_faces]
    )


def read_photos(reader: AttributeReader, descriptors: np.ndarray):
    """Each photo's reading from its dlib descriptor (`photo_descriptors`)."""
    device = reader.mean.device
    return reader.read(torch.from_numpy(descriptors).float().to(device))


def with_macros(
    vectors: torch.Tensor, readings: Sequence[Attributes], spec
) -> tuple[torch.Tensor, list[int]]:
    """`vectors` (B, D) with the macro controls set from `readings`, and their indices."""
    index = {c.name: i for i, c in enumerate(spec.continuous)}
    out = vectors.clone()
    for row, reading in enumerate(readings):
        for name, value in macro_values(reading).items():
            out[row, index[name]] = value
    return out, [index[name] for name in MACROS]
