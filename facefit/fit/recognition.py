"""The face's shape solved again with what a face recogniser reads (F2P's identity loss).

The landmarks fix a face's outline and the place of its features, but a recogniser reads
more of the shape than 68 points: dlib's reading of a character's jaw did not follow the
landmark model's jaw (docs/decisions.md). So the fit ends by solving the shape once more from
the same landmarks plus one more term: dlib's descriptor of the photo against its
descriptor of the character's real render, linearised by the recogniser's measured
response to each shape pole (`facefit.nets.recognition`, averaged over many rig faces):

    min  landmarks' term (facefit.fit.shape)  +  weight |R (x - x0) - (d_photo - d_render)|^2

d_render is predicted from x0 by the descriptor imitator (`facefit.nets.descriptor`) without
drawing; a rig without one reads it off the character's real render (`rendered_descriptors`).

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
    seen: np.ndarray,
    landmarks: torch.Tensor,
    spec,
    response: np.ndarray,
    weight: float,
    expressions: np.ndarray | None = None,
) -> torch.Tensor:
    """`vectors` (B, D) with the shape controls solved again with the recogniser's term;
    `photo_descriptors` (B, 128) dlib's reading of each photo, `seen` (B, 128) its reading of
    each character as `vectors` draw it, `response` (128, P) its reading's derivative along
    each shape pole (`landmark_model().poles`)."""
    from facefit.rig.human.landmark_model import landmark_model, pole_amounts

    poles = landmark_model().poles
    names = [c.name for c in spec.continuous]
    root = np.sqrt(weight)
    rows = []
    for i, vector in enumerate(vectors):
        values = dict(zip(names, vector[: len(names)].tolist(), strict=True))
        now = pole_amounts(poles, values)
        rows.append((root * response, root * (photo_descriptors[i] - seen[i] + response @ now)))
    return shape_from_landmarks(vectors, landmarks, spec, expressions=expressions, extra_rows=rows)


def rendered_descriptors(vectors: torch.Tensor | np.ndarray, rig) -> np.ndarray:
    """(B, 128) dlib's reading of each vector's real render, at the rig's landmarks' box;
    `rig`: anything that renders one vector (the fit's `RealRig`, or a renderer). Each render
    is read as it is drawn, so a long batch holds one render at a time."""
    from facefit.likeness.descriptors import placed_descriptor

    return np.stack([placed_descriptor(r.image, r.landmarks68) for r in map(rig.render, vectors)])
