"""Photos to aligned faces and their loss targets: what the fit takes in.

A photo that fails intake keeps its error in place of its face.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from facefit.errors import FacefitError


def align_photos(photos: list[bytes | np.ndarray]) -> tuple[list[Any], float]:
    """Each photo (encoded bytes or (H, W, 3) uint8 pixels) as (pixels, AlignedFace), or
    its `FacefitError`; and the seconds aligning took per photo."""
    from facefit.align import align_photo, load_photo

    t0 = time.perf_counter()
    aligned: list[Any] = []
    for photo in photos:
        try:
            pixels = load_photo(bytes(photo)) if isinstance(photo, bytes | bytearray) else photo
            aligned.append((pixels, align_photo(pixels)))
        except FacefitError as exc:
            aligned.append(exc)
    return aligned, (time.perf_counter() - t0) / max(len(photos), 1)


def aligned_targets(faces: list[Any], extractor, labels: list[str], device):
    """Aligned faces -> their images (B, 3, S, S) in [0, 1] and what the loss compares
    renders to (`PhotoTargets`)."""
    from facefit.fit.real_rig import frame_tensors
    from facefit.fit.search import photo_targets
    from facefit.rig.reference import REFERENCE_SIZE

    images, landmarks = frame_tensors(
        [f.image for f in faces], [f.aligned_landmarks68 for f in faces], REFERENCE_SIZE, device
    )
    return images, photo_targets(extractor, images, landmarks, labels, extractor.cfg.size)
