"""The 68 iBUG-300W landmarks as points of the rest face, carried by the same bones as the mesh.

Eye, brow and lip points sit on the outlines of `shapes` (so they follow the shader's eye
openings, brows and lips); nose points on the bridge and nostril base; jaw points on the
frontal silhouette of the rest head, found once and then fixed to head-grid vertices.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from facefit.rig import camera, geometry, shapes

# Directions (deg, 0 = image-right, counter-clockwise) of the 17 jaw points seen from the
# face centre, from the mean dlib landmarks of the London set.
_JAW_CENTRE = np.array([0.0, -3.0])
_JAW_STANDIN_CM = np.array(
    [(-7.12, -0.56), (-6.95, -2.43), (-6.66, -4.25), (-6.34, -6.05), (-5.83, -7.80),
     (-4.88, -9.28), (-3.52, -10.47), (-1.90, -11.29), (-0.03, -11.56), (1.85, -11.31),
     (3.50, -10.49), (4.88, -9.34), (5.84, -7.86), (6.37, -6.12), (6.68, -4.28),
     (6.97, -2.46), (7.12, -0.58)]
)  # fmt: skip


@cache
def jaw_vertex_indices() -> np.ndarray:
    """Head-grid vertex indices (17,) on the rest face's frontal outline, image-left first."""
    head = geometry.core_meshes()[0]
    rest = head.rest.reshape(-1, 3)
    front = head.attr.reshape(-1, 2)[:, 1] > -1.0
    cols = head.shape[1]
    theta = geometry._front_theta(cols)
    ok = (np.cos(np.tile(theta, head.shape[0])) > -0.2) & front & (rest[:, 1] < 1.0)
    px = camera.project(rest, 512)
    centre_px = camera.project(np.array([[0.0, _JAW_CENTRE[1], 8.0]]), 512)[0]
    rel = px - centre_px
    rel[:, 1] *= -1
    ang = np.arctan2(rel[:, 1], rel[:, 0])
    dist = np.linalg.norm(rel, axis=1)
    out = []
    for pt in _JAW_STANDIN_CM:
        a = np.arctan2(pt[1] - _JAW_CENTRE[1], pt[0] - _JAW_CENTRE[0])
        diff = np.abs(np.angle(np.exp(1j * (ang - a))))
        cand = np.nonzero(ok & (diff < np.deg2rad(1.2)))[0]
        out.append(cand[np.argmax(dist[cand])])
    return np.asarray(out)


def rest_anchors(values: dict[str, float], brow_style: str) -> np.ndarray:
    """Rest-space positions (68, 3) of the landmarks for these shape controls; jaw rows are NaN."""
    pts = np.full((68, 2), np.nan)
    eye = shapes.EyeShape.from_controls(values)
    s = np.array([1.0, 0.33, -0.33, -1.0, -0.33, 0.33])
    up, lo = eye.lids(s)
    v = np.array([0.0, up[1], up[2], 0.0, lo[4], lo[5]])
    pts[36:42] = eye.to_rest(s, v, -1.0)
    s_r = np.array([-1.0, -0.33, 0.33, 1.0, 0.33, -0.33])
    up, lo = eye.lids(s_r)
    v = np.array([0.0, up[1], up[2], 0.0, lo[4], lo[5]])
    pts[42:48] = eye.to_rest(s_r, v, 1.0)
    brow = shapes.BrowShape.from_controls(values, brow_style)
    t = np.array([0.96, 0.73, 0.5, 0.27, 0.05])
    lift = 0.3 * brow.half_thickness(t)
    pts[17:22] = brow.to_rest(t, lift, -1.0)
    pts[22:27] = brow.to_rest(t[::-1], lift[::-1], 1.0)
    pts[27:31] = [(0.0, 0.35), (0.0, -0.85), (0.0, -2.05), (0.0, -3.3)]
    pts[31:36] = [(-1.25, -4.15), (-0.65, -4.4), (0.0, -4.55), (0.65, -4.4), (1.25, -4.15)]
    lips = shapes.LipShape.from_controls(values)
    mw = shapes.MOUTH_HALF_WIDTH
    xo = np.array([-mw, -1.6, -0.62, 0.0, 0.62, 1.6, mw, 1.6, 0.68, 0.0, -0.68, -1.6])
    yo = np.concatenate([lips.upper(xo[:7]), lips.lower(xo[7:])])
    yo[[0, 6]] = lips.mouth_line(xo[[0, 6]])
    pts[48:60] = np.stack([xo, yo], axis=1)
    xi = np.array([-2.1, -0.7, 0.0, 0.7, 2.1, 0.7, 0.0, -0.7])
    ml, gap = lips.mouth_line(xi), lips.opening(xi)
    yi = np.concatenate([[ml[0]], ml[1:4] + gap[1:4], [ml[4]], ml[5:] - gap[5:]])
    pts[60:68] = np.stack([xi, yi], axis=1)
    out = np.full((68, 3), np.nan)
    out[17:] = geometry.rest_front_point(pts[17:])
    return out
