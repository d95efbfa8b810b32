"""The fixed frontal camera: a 15.7-degree lens 1.1 m from the face, level, just below the eyes.

At 512 px the face plane is drawn at about 18 px/cm with the eye line just above mid-height:
the head fills the frame from the top of the hair to just below the chin. The framing is tight
on purpose: the networks see the aligned frame at 128 px, where eyes, brows and lips must
still be several pixels tall. Landmarks and the rasterizer use the same projection.
"""

from __future__ import annotations

import numpy as np

CAM_Y = -0.5  # cm: the camera looks level, just below the eyes (room for long chins)
CAM_DIST = 110.0  # cm from the head centre
FOV_Y_DEG = 15.674
NEAR, FAR = 60.0, 160.0


def focal_px(size: int) -> float:
    return (size / 2.0) / np.tan(np.deg2rad(FOV_Y_DEG) / 2.0)


def project(points: np.ndarray, size: int) -> np.ndarray:
    """Rig-space points (N, 3) in cm -> (N, 2) float32 pixel (x, y) in a size x size render."""
    f = focal_px(size)
    depth = CAM_DIST - points[:, 2]
    x = size / 2.0 + f * points[:, 0] / depth
    y = size / 2.0 - f * (points[:, 1] - CAM_Y) / depth
    return np.stack([x, y], axis=1).astype(np.float32)


def view_projection(yaw_degrees: float = 0.0) -> np.ndarray:
    """Column-major 4x4 matrix (as float32 bytes order for GLSL) mapping rig space to clip space;
    `yaw_degrees` orbits the camera about the head's vertical axis (the lights stay)."""
    f = 1.0 / np.tan(np.deg2rad(FOV_Y_DEG) / 2.0)
    proj = np.array(
        [
            [f, 0, 0, 0],
            [0, f, 0, 0],
            [0, 0, (FAR + NEAR) / (NEAR - FAR), 2 * FAR * NEAR / (NEAR - FAR)],
            [0, 0, -1, 0],
        ],
        dtype=np.float64,
    )
    view = np.eye(4)
    view[1, 3] = -CAM_Y
    view[2, 3] = -CAM_DIST
    a = np.deg2rad(yaw_degrees)
    orbit = np.eye(4)
    orbit[0, 0], orbit[0, 2], orbit[2, 0], orbit[2, 2] = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
    return (proj @ view @ orbit).astype(np.float32)


def eye_position() -> tuple[float, float, float]:
    return (0.0, CAM_Y, CAM_DIST)
