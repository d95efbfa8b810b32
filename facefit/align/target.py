"""The landmarks an aligned photo is warped onto: the rig's reference face by default.

`STANDIN_LANDMARKS68` is a development stand-in used only while the rig does not provide
`facefit.rig.reference`: the similarity-normalised mean of dlib's 68 landmarks over the
London set's neutral photos, the outline 0.55 of the frame wide, centred, its box centre at
0.55 of the height.
"""

from __future__ import annotations

import logging
from functools import cache

import numpy as np

log = logging.getLogger(__name__)

STANDIN_SIZE = 512
STANDIN_LANDMARKS68 = np.array(
    [
        (115.2, 203.1),
        (118.5, 240.1),
        (124.2, 276.2),
        (130.5, 311.9),
        (140.7, 346.5),
        (159.5, 375.8),
        (186.4, 399.3),
        (218.6, 415.6),
        (255.5, 420.8),
        (292.6, 416.0),
        (325.3, 399.7),
        (352.5, 376.9),
        (371.5, 347.7),
        (381.9, 313.3),
        (388.1, 276.9),
        (393.9, 240.8),
        (396.8, 203.5),
        (137.8, 169.9),
        (154.4, 150.3),
        (180.1, 143.0),
        (206.4, 145.8),
        (231.9, 155.0),
        (278.2, 155.0),
        (303.8, 145.1),
        (330.5, 142.4),
        (356.4, 150.4),
        (373.3, 170.2),
        (255.1, 185.0),
        (255.3, 207.3),
        (255.4, 229.2),
        (255.5, 252.3),
        (230.2, 274.2),
        (242.5, 277.9),
        (255.5, 281.0),
        (268.4, 277.8),
        (280.6, 273.9),
        (168.5, 194.3),
        (183.3, 183.4),
        (202.3, 183.2),
        (218.8, 195.9),
        (201.3, 200.5),
        (182.4, 201.1),
        (292.0, 196.0),
        (308.3, 183.5),
        (327.4, 183.1),
        (342.4, 194.3),
        (328.3, 201.2),
        (309.1, 200.5),
        (205.7, 327.9),
        (224.6, 315.6),
        (242.5, 308.4),
        (255.8, 311.9),
        (268.9, 308.3),
        (286.7, 315.0),
        (305.8, 327.0),
        (287.2, 338.5),
        (270.0, 343.1),
        (256.0, 344.3),
        (241.7, 343.3),
        (224.3, 339.0),
        (214.7, 327.6),
        (242.3, 323.3),
        (255.9, 324.2),
        (269.2, 323.2),
        (296.7, 326.9),
        (269.2, 324.2),
        (255.9, 325.7),
        (242.3, 324.4),
    ],
    dtype=np.float32,
)
STANDIN_LANDMARKS68.flags.writeable = False


def standin_landmarks68(size: int = STANDIN_SIZE) -> np.ndarray:
    """The stand-in target scaled to a `size` x `size` frame: (68, 2) float32 pixels."""
    return (STANDIN_LANDMARKS68 * (size / STANDIN_SIZE)).astype(np.float32)


@cache
def _warn_standin() -> None:
    log.warning("facefit.rig.reference is missing: aligning to the stand-in mean face")


def default_target_landmarks(size: int) -> np.ndarray:
    """The rig reference face's 68 landmarks in a `size` frame (stand-in until the rig has one)."""
    try:
        from facefit.rig.reference import reference_landmarks68
    except ModuleNotFoundError as exc:
        if exc.name not in ("facefit.rig.reference", "facefit.rig"):
            raise
        _warn_standin()
        return standin_landmarks68(size)
    return np.asarray(reference_landmarks68(size), dtype=np.float32)
