"""The face's shape solved again with what a face recogniser reads (F2P's identity loss).

The landmarks fix a face's outline and the place of its features, but a recogniser reads
more of the shape than 68 points: dlib's reading of a character's jaw did not follow the
landmark model's jaw (docs/decisions.md). So the fit ends by solving the shape once more from
the same landmarks plus one more term: dlib's descriptor of the photo against its
descriptor of the character's real render, linearised by the recogniser's measured
response to each shape pole (`facefit.nets.recognition`, averaged over many rig faces):

    min  landmarks' term (facefit.fit.shape)  +  weight |R (x - x0) - (d_photo - d_render)|^2

Only the face's shape moves, through the rig's own morphs (no colour, hair or texture),
and the response is one matrix for every face, not a gradient of this render: the step can
change the face a person sees, not craft pixels a recogniser alone would read.
"""

from __future__ import annotations

import numpy as np
import torch

from facefit.fit.shape import shape_from_landmarks


def recognised_shapes(
    vectors: torch.Tensor,
    photo_descriptors: np.ndarray,
    landmarks: torch.Tensor,
    rig,
    spec,
    response: np.ndarray,
    weight: float,
    expressions: np.ndarray | None = None,
) -> torch.Tensor:
    """`vectors` (B, D) with the shape controls solved again with the recogniser's term;
    `photo_descriptors` (B, 128) dlib's reading of each photo, `response` (128, P) its
    reading's derivative along each shape pole (`landmark_model().poles`)."""
    from facefit.likeness.descriptors import placed_descriptor
    from facefit.rig.human.landmark_model import landmark_model, pole_amounts

    poles = landmark_model().poles
    names = [c.name for c in spec.continuous]
    root = np.sqrt(weight)
    rows = []
    for i, vector in enumerate(vectors):
        render = rig.render(vector)
        seen = placed_descriptor(render.image, render.landmarks68)
        values = dict(zip(names, vector[: len(names)].tolist(), strict=True))
        now = pole_amounts(poles, values)
        rows.append((root * response, root * (photo_descriptors[i] - seen + response @ now)))
    return shape_from_landmarks(vectors, landmarks, spec, expressions=expressions, extra_rows=rows)
