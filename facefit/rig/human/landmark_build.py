"""Build-time pass: fix the 68 landmarks to head vertices and derive the skin's regions.

Run by `tools/build_human_rig.py` once the geometry is built: it renders the average head
(bald, 512 px), runs dlib's 68-point predictor on it and takes, per landmark, the visible
vertex under it; the lids', the jaw's and the brows' are then the vertices that follow
dlib's points best as the controls that move them most sweep their range (`with_contours`,
also run alone on the built head by `--contours`). The label regions (nose, upper and lower
lip), the beard zones and the scalp are then polygons of those landmarks, turned into soft per-vertex weights, so they
follow every morph as the mesh does.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from facefit.rig import camera

log = logging.getLogger(__name__)
SIZE = 512
SOFT_PX = 3.0  # half-width of a region's soft edge in the mean render
BEARD_SOFT_PX = 8.0  # beards thin out over a wider band
EYELIDS = np.arange(36, 48)  # dlib's eye contours, corners and lids
JAW = np.arange(0, 17)  # dlib's jaw line
BROWS = np.arange(17, 27)


def _soft_inside(px: np.ndarray, polygon: np.ndarray, soft: float = SOFT_PX) -> np.ndarray:
    """Per point in [0, 1]: 0.5 on the polygon's outline, 1 a few pixels inside."""
    poly = polygon.astype(np.float32).reshape(-1, 1, 2)
    d = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), True) for x, y in px])
    return np.clip(0.5 + d / (2 * soft), 0.0, 1.0)


def followed_vertices(
    renderer, vec: np.ndarray, candidates: np.ndarray, landmarks: np.ndarray, settings: list
) -> np.ndarray:
    """Per landmark of `landmarks`, the vertex among `candidates` (bool, per skin vertex)
    nearest dlib's point summed over renders of `vec` with each of `settings` (dicts of
    control values) applied: the vertex that follows dlib's reading as those controls move.

    On one render the nearest visible vertex is often off the feature dlib reads: an eyelid's
    crest above its margin (every eye a third too open, so the landmark solve shut every
    photo's eyes to slits), a point inside the jaw's outline (every jaw a twelfth too narrow,
    so the solve widened them all).
    """
    from facefit.align.detect import detect_faces, predict_landmarks68
    from facefit.rig.human import framing

    names = [c.name for c in renderer.spec.continuous]
    cost = np.zeros((len(landmarks), int(candidates.sum())))
    for setting in settings:
        moved = vec.copy()
        for name, value in setting.items():
            moved[names.index(name)] = value
        image = renderer.render(moved).image
        boxes = detect_faces(image)
        if not boxes:
            raise SystemExit(f"dlib finds no face in the head with {setting}")
        lm = predict_landmarks68(image, boxes[0])[landmarks]
        points, _, frame, _ = renderer._posed(renderer._values(moved))  # as drawn
        px = framing.framed(camera.project(points["skin"], 1), frame)[candidates] * SIZE
        cost += np.linalg.norm(px[None] - lm[:, None], axis=2)
    return np.flatnonzero(candidates)[cost.argmin(axis=1)]


def with_contours(renderer, vec: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The landmark vertices `chosen` (68,) with the lids', the jaw's and the brows' taken by
    `followed_vertices` over the range of the controls that move them most."""
    eyes = ["eye_opening_inner", "eye_opening_middle", "eye_opening_outer"]
    eye_settings = [{}] + [dict.fromkeys(eyes, v) for v in (0.0, 1.0)]
    eye_settings += [{"eye_size": v} for v in (0.0, 1.0)]
    jaw_settings = [{}] + [
        {name: v}
        for name in ("jaw_width", "head_width", "chin_width", "head_fat", "body_weight", "sex")
        for v in (0.0, 1.0)
    ]
    brow_settings = [{}] + [{name: v} for name in ("brow_height", "brow_angle") for v in (0.0, 1.0)]
    points, facing = _skin_facing(renderer, vec)
    front = _front(points, facing)
    chosen = np.array(chosen, copy=True)
    chosen[BROWS] = followed_vertices(renderer, vec, front, BROWS, brow_settings)
    chosen[EYELIDS] = followed_vertices(renderer, vec, front, EYELIDS, eye_settings)
    # the jaw's outline is seen edge-on: skin facing sideways too
    chosen[JAW] = followed_vertices(renderer, vec, facing >= -0.2, JAW, jaw_settings)
    return chosen


def _skin_facing(renderer, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The skin's points of the head `vec` and each vertex's normal z (-1 off the skin)."""
    from facefit.rig.human.render import _normals

    points = renderer._points(renderer._values(vec))["skin"]
    mesh = renderer._mesh("skin")
    facing = np.full(len(points), -1.0)
    facing[mesh.vertex] = _normals(points, mesh)[:, 2]
    return points, facing


def _front(points: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Skin vertices facing the camera on the front of the head (not the back, which
    projects too)."""
    return (facing >= 0.05) & (points[:, 2] > points[:, 2].max() - 9.0)


def build_landmarks() -> dict[str, np.ndarray]:
    from facefit.align.detect import detect_faces, predict_landmarks68
    from facefit.rig.human.asset import load_asset
    from facefit.rig.human.render import HumanRenderer

    load_asset.cache_clear()
    renderer = HumanRenderer(SIZE)
    spec = renderer.spec
    vec = spec.encode({"discrete": {"hairstyle": "bald"}})
    image = renderer.render(vec).image
    boxes = detect_faces(image)
    if not boxes:
        raise SystemExit("dlib finds no face in the average head's render")
    lm = predict_landmarks68(image, boxes[0])
    points, facing = _skin_facing(renderer, vec)
    px = camera.project(points, SIZE)
    front = _front(points, facing)
    chosen = []
    for x, y in lm:
        d = np.linalg.norm(px - (x, y), axis=1)
        d[~front] = np.inf
        near = np.flatnonzero(d < d.min() + 2.0)
        chosen.append(near[np.argmax(points[near, 2])])  # the nearest to the camera is seen
    chosen = with_contours(renderer, vec, np.asarray(chosen))
    err = np.linalg.norm(px[chosen] - lm, axis=1)
    log.info("landmark vertices: median %.2f px, max %.2f px from dlib's points", np.median(err),
             err.max())  # fmt: skip

    regions = np.zeros((len(points), 8), np.float32)
    fp = px[front]
    eye_gap = lm[42, 0] - lm[39, 0]
    nose = np.array([lm[27] - (0.3 * eye_gap, 0), lm[27] + (0.3 * eye_gap, 0),
                     lm[35] + (0.55 * (lm[35] - lm[33])) * (1, 0), lm[33] + (0, 0.04 * eye_gap),
                     lm[31] + (0.55 * (lm[31] - lm[33])) * (1, 0)])  # fmt: skip
    upper = lm[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]]
    lower = lm[[54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]]
    regions[front, 0] = _soft_inside(fp, nose)
    regions[front, 1] = _soft_inside(fp, upper)
    regions[front, 2] = _soft_inside(fp, lower)
    # beard zones: above the upper lip, the chin under the lower lip, the jaw and cheeks
    mw = 0.25 * (lm[54, 0] - lm[48, 0])
    under_nose = (lm[33] + lm[51]) / 2 - (0, 0.2 * (lm[51, 1] - lm[33, 1]))
    moustache = np.array([lm[31] + (0, 3), under_nose, lm[35] + (0, 3), lm[54] + (mw, 4),
                          lm[53], lm[51], lm[49], lm[48] - (mw, -4)])  # fmt: skip
    goatee = np.array([lm[48] - (mw, 0), lm[59], lm[57], lm[55], lm[54] + (mw, 0),
                       lm[10], lm[8] + (0, 8), lm[6]])  # fmt: skip
    # full beard: from the sideburns across the cheeks at the nose tip's height to the
    # nostrils, then down the jaw line
    cheek_l = np.array([(lm[3, 0] + lm[48, 0]) / 2, lm[30, 1]])
    cheek_r = np.array([(lm[13, 0] + lm[54, 0]) / 2, lm[30, 1]])
    jaw = np.concatenate([[lm[0], cheek_l, lm[31], lm[35], cheek_r, lm[16]],
                          lm[15:0:-1] + (0, 6)])  # fmt: skip
    regions[front, 4] = _soft_inside(fp, moustache, BEARD_SOFT_PX)
    regions[front, 5] = _soft_inside(fp, goatee, BEARD_SOFT_PX)
    regions[front, 6] = _soft_inside(fp, jaw, BEARD_SOFT_PX)
    # under the jaw and the sideburns: facing down or sideways but still in the face's band
    lower_face = (points[:, 1] < points[chosen[33], 1]) & (
        points[:, 1] > points[chosen[8], 1] - 3.5
    )
    lower_face &= (np.abs(points[:, 0]) < np.abs(points[chosen[0], 0]) + 0.5) & ~front
    lower_face &= points[:, 2] > points[chosen[0], 2] - 2.0
    regions[lower_face, 6] = 1.0
    # the neck: below the jaw's outline (labelled background, as in the reference rig)
    jaw3 = points[chosen[:17]]
    order = np.argsort(jaw3[:, 0])
    jaw_y = np.interp(points[:, 0], jaw3[order, 0], jaw3[order, 1])
    below = (points[:, 1] < points[chosen[2], 1]) & (
        np.abs(points[:, 0]) < np.abs(jaw3[:, 0]).max()
    )
    regions[:, 7] = np.where(below, np.clip(0.5 + (jaw_y - 0.2 - points[:, 1]) / 0.6, 0, 1), 0)
    regions[lower_face, 7] = np.minimum(regions[lower_face, 7], 0.0)
    # scalp: above a hairline about 5.5 cm over the brows at the front, lower at the sides
    brow_y = points[chosen[[19, 24]], 1].mean()
    eye_y = points[chosen[[37, 44]], 1].mean()
    z_front, z_ear = points[chosen[27], 2], points[chosen[0], 2] - 3.0
    frontness = np.clip((points[:, 2] - z_ear) / (z_front - z_ear), 0.0, 1.0)
    hairline = eye_y + 3.5 + frontness * (brow_y + 5.0 - eye_y - 3.5)
    regions[:, 3] = np.clip(0.5 + (points[:, 1] - hairline) / 1.0, 0.0, 1.0)
    return {
        "lm_vertex": chosen.astype(np.int32),
        "lm_dlib_px": lm.astype(np.float32),
        "region_skin": regions.astype(np.float16),
    }
