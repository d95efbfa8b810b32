"""Honest measurements of the whole fit: on rig faces (truth known) and on real photos.

`evaluate_synthetic` fits random rig renders, whose parameters are known; `evaluate_photos`
fits the shared studio photos and compares the fitted face's landmarks, mapped back into the
photo, with the human-placed template points, and asks whether the fitted parameters
recognise a person across expressions, and how far the fitted skin colour is from the
photo's.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from facefit.align import AlignedFace
from facefit.errors import FacefitError
from facefit.fit.fitter import Fitter
from facefit.fit.identity import identity_scores
from facefit.fit.skin_regions import (
    LEFT_EYE_OUTER,
    RIGHT_EYE_OUTER,
    cheek_lab,
    mean_lab,
)

logger = logging.getLogger(__name__)

FACIAL_HAIR = "facial_hair"
HAIRSTYLE = "hairstyle"
Progress = Callable[[int], None]


def nme(points: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean point error over `mask` in units of the true outer-eye-corner distance."""
    mask = np.ones(len(truth), bool) if mask is None else mask
    iod = float(np.linalg.norm(truth[LEFT_EYE_OUTER] - truth[RIGHT_EYE_OUTER]))
    return float(np.linalg.norm(points[mask] - truth[mask], axis=1).mean() / iod)


def hair_agreement(record, result, labels: list[str]) -> dict[str, float]:
    """How the real render's hair matches the photo's, where a 189-point template says.

    The photo's hair is the template's label map with the band around the head resolved by
    colour (`facefit.data.photo_labels`): hair above the mouth that stands out from the
    plain studio wall and from the skin; pixels it cannot decide (blond hair on a pale wall)
    are left out of both masks. `hair_iou`: intersection over union of the hair masks.
    `hair_delta_e`: CIE76 distance of their mean Lab colours (absent if either has no hair).
    """
    from facefit.data.faces import faces_dir, read_pts189
    from facefit.data.photo_labels import IGNORE, photo_label_map, read_masks

    size = result.aligned.shape[0]
    photo = photo_label_map(
        read_pts189(record.landmarks189), result.transform, size,
        read_masks(faces_dir() / "frl189_masks.csv"), labels, image=result.aligned,
    )  # fmt: skip
    hair = labels.index("hair")
    known = photo != IGNORE
    photo_hair, render_hair = (photo == hair) & known, (result.real_labels == hair) & known
    union = int((photo_hair | render_hair).sum())
    out = {"hair_iou": float((photo_hair & render_hair).sum() / union) if union else 1.0}
    if photo_hair.any() and render_hair.any():
        photo_lab, render_lab = (
            mean_lab(image, mask)
            for image, mask in ((result.aligned, photo_hair), (result.real_render, render_hair))
        )
        out["hair_delta_e"] = float(np.linalg.norm(photo_lab - render_lab))
    return out


def synthetic_face(render, transform: np.ndarray | None = None) -> AlignedFace:
    """A rig render as an already aligned face: its landmarks are exact, no detector needed."""
    eye = np.array([[1.0, 0, 0], [0, 1.0, 0]]) if transform is None else transform
    lm = render.landmarks68.astype(np.float64)
    return AlignedFace(render.image, 1, lm, lm, eye, 0.0, {})


def evaluate_synthetic(
    fitter: Fitter,
    n: int = 200,
    seed: int = 7,
    batch: int = 8,
    progress: Progress | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Fit `n` random rig faces rendered by the real rig; compare with their true parameters."""
    from facefit.rig.choice import make_renderer

    spec, layout = fitter.spec, fitter.layout
    renderer = make_renderer(fitter.aligned_size)
    rng = np.random.default_rng(seed)
    truths = np.stack([spec.random_vector(rng) for _ in range(n)])
    fitted, renders_in, seconds = [], [], []
    for start in range(0, n, batch):
        chunk = truths[start : start + batch]
        renders = [renderer.render(v) for v in chunk]
        faces = [(r.image, synthetic_face(r)) for r in renders]
        t0 = time.perf_counter()
        results = fitter.fit_aligned(faces, **overrides)
        seconds.append((time.perf_counter() - t0) / len(chunk))
        fitted += results
        renders_in += renders
        if progress:
            progress(len(chunk))
    c = layout.continuous_size
    vecs = np.stack([spec.encode(r.params) for r in fitted])
    errors = np.abs(vecs[:, :c] - truths[:, :c])  # (n, C)
    mae = float(errors.mean())
    per_group, confusion = {}, {}
    options = {g.name: g.options for g in spec.discrete}
    for group, start, stop in layout.discrete_slices:
        chosen, true = vecs[:, start:stop].argmax(1), truths[:, start:stop].argmax(1)
        per_group[group] = float((chosen == true).mean())
        # true option -> {chosen option: faces}: which options a fit mistakes for which
        confusion[group] = {
            options[group][t]: {
                options[group][int(c)]: int(k)
                for c, k in zip(*np.unique(chosen[true == t], return_counts=True), strict=True)
            }
            for t in sorted(set(true.tolist()))
        }
    lm_err = [
        nme(r.real_landmarks68, t.landmarks68) for r, t in zip(fitted, renders_in, strict=True)
    ]
    pix = [
        float(np.abs(r.real_render.astype(np.float32) - t.image.astype(np.float32)).mean() / 255)
        for r, t in zip(fitted, renders_in, strict=True)
    ]
    return {
        "n": n,
        "mode": fitted[0].fit["mode"] if fitted else None,
        "continuous_mae": mae,
        # Which controls a fit cannot recover: a constant 0.5 guess scores 0.25 on each.
        "continuous_mae_per_control": {
            ctl.name: float(e) for ctl, e in zip(spec.continuous, errors.mean(0), strict=True)
        },
        "discrete_accuracy": per_group,
        "discrete_accuracy_mean": float(np.mean(list(per_group.values()))) if per_group else None,
        "discrete_confusion": confusion,
        "landmark_nme": float(np.mean(lm_err)),
        "pixel_l1": float(np.mean(pix)),
        "iterations_mean": float(np.mean([r.fit["iterations"] for r in fitted])),
        "seconds_per_face_mean": float(np.mean(seconds)),
    }


def evaluate_photos(
    fitter: Fitter, records: Sequence, progress: Progress | None = None, **overrides: Any
) -> dict[str, Any]:
    """Fit shared photos: landmark NME of the fit vs the human template, and identity tests."""
    from facefit.data.faces import (
        eyes_by_eye,
        facial_hair_by_eye,
        fold_identities,
        hair_length_by_eye,
        read_ibug68,
    )

    reference = fitter.rig.average_landmarks68()
    rows, descriptors = [], {}
    for record in records:
        t0 = time.perf_counter()
        try:
            result = fitter.fit_photo(record.image.read_bytes(), **overrides)
        except FacefitError as exc:
            rows.append({"photo": record.name, "identity": record.identity, "error": exc.code})
            if progress:
                progress(1)
            continue
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        render = result.real_render  # the portal's picture: drawn here if the fit drew none
        row: dict[str, Any] = {
            "photo": record.name, "identity": record.identity,
            "expression": record.expression, "seconds": seconds,
            "picture_seconds": time.perf_counter() - t0, **_fit_summary(result),
        }  # fmt: skip
        if record.landmarks189 is not None:
            try:
                truth, mask = read_ibug68(record)
            except ValueError:
                truth = None
            if truth is not None:
                fitted = _to_photo(result.real_landmarks68, result.transform)
                mean_face = _to_photo(reference, result.transform)
                row["nme_fit"] = nme(fitted, truth, mask)
                row["nme_reference"] = nme(mean_face, truth, mask)
                row["nme_dlib"] = nme(result.photo_landmarks68, truth, mask)
        # a shorter template (lisa, zoom) draws no label map: no hair measure there
        with contextlib.suppress(ValueError):
            if record.landmarks189 is not None:
                row.update(hair_agreement(record, result, fitter.labels))
        photo_skin = result.photo_cheek_lab()
        render_skin = cheek_lab(render, result.real_landmarks68)
        row["skin_delta_e"] = float(np.linalg.norm(photo_skin - render_skin))
        row["skin_chroma"] = [float(np.hypot(*c[1:])) for c in (photo_skin, render_skin)]
        row["gender"] = record.gender
        if record.identity in facial_hair_by_eye():
            row["facial_hair_by_eye"] = facial_hair_by_eye()[record.identity]
        if record.identity in hair_length_by_eye():
            row["hair_length_by_eye"] = hair_length_by_eye()[record.identity]
        if record.identity in eyes_by_eye():
            row["eyes_by_eye"] = eyes_by_eye()[record.identity]
        row["discrete"] = result.params["discrete"]
        row["continuous"] = result.params["continuous"]
        rows.append(row)
        descriptors[(record.identity, record.expression)] = result.params
        if progress:
            progress(1)
    summary = summarise(rows, descriptors, fitter)
    # Settings are chosen on the training folds' people and reported on fold 0's, whose
    # identities no network and no calibration has seen.
    held = fold_identities(0)
    for name, keep in (("training_folds", False), ("heldout_fold0", True)):
        summary[name] = summarise(
            [r for r in rows if (r["identity"] in held) == keep],
            {k: v for k, v in descriptors.items() if (k[0] in held) == keep},
            fitter,
        )
    summary["rows"] = rows
    return summary


def summarise(rows: list[dict], descriptors: dict, fitter: Fitter) -> dict[str, Any]:
    """Means over photos: landmark NME of fit, reference face and dlib; identity scores; time."""
    ok = [r for r in rows if "error" not in r]
    with_truth = [r for r in ok if "nme_fit" in r]
    summary: dict[str, Any] = {
        "photos": len(rows),
        "failed": {r["photo"]: r["error"] for r in rows if "error" in r},
        "seconds_per_face_median": float(np.median([r["seconds"] for r in ok])) if ok else None,
        # what the result's real render adds where the fit drew none (`fast`), for a picture
        "picture_seconds_median": (
            float(np.median([r["picture_seconds"] for r in ok])) if ok else None
        ),
    }
    if with_truth:
        for key in ("nme_fit", "nme_reference", "nme_dlib"):
            summary[key] = float(np.mean([r[key] for r in with_truth]))
        summary["nme_ratio_fit_to_reference"] = summary["nme_fit"] / summary["nme_reference"]
    if ok:
        # CIE76 distance of the cheeks' mean Lab colour, photo vs the real render of the fit
        summary["skin_delta_e"] = float(np.mean([r["skin_delta_e"] for r in ok]))
        chroma = np.array([r["skin_chroma"] for r in ok])
        summary["skin_chroma_photo_vs_fit"] = [float(v) for v in chroma.mean(axis=0)]
    for key in ("hair_iou", "hair_delta_e"):  # photos with a 189-point template only
        values = [r[key] for r in ok if key in r]
        if values:
            summary[key] = float(np.mean(values))
    groups = {g.name: g for g in fitter.spec.discrete}
    if FACIAL_HAIR in groups:
        none = groups[FACIAL_HAIR].options[0]
        # women: a false positive the manifest can prove; men, all together: shown so that a
        # fix for the women is seen not to shave everyone
        for gender, key in (("female", "facial_hair_on_women"), ("male", "facial_hair_on_men")):
            picked = [r["discrete"][FACIAL_HAIR] != none for r in ok if r.get("gender") == gender]
            if picked:
                summary[key] = float(np.mean(picked))
        # men labelled by eye (facefit.data.faces.facial_hair_by_eye): facial hair kept where
        # the photo shows some, and given where it shows none
        for key, shows in (
            ("facial_hair_kept_on_men_with_it", True),
            ("facial_hair_given_to_men_without", False),
        ):
            picked = [
                r["discrete"][FACIAL_HAIR] != none
                for r in ok
                if "facial_hair_by_eye" in r and (r["facial_hair_by_eye"] != "none") == shows
            ]
            if picked:
                summary[key] = float(np.mean(picked))
    if kept := hair_length_kept(ok, fitter.spec):
        summary["hair_length_kept"] = kept
    if kept := eyes_kept(ok, fitter.spec):
        summary["eyes_kept"] = kept
    summary["identity"] = {
        "shape_controls": identity_scores(descriptors, fitter, shape_only=True),
        "all_controls": identity_scores(descriptors, fitter, shape_only=False),
    }
    return summary


def hair_length_kept(rows: list[dict], spec) -> dict[str, str]:
    """Per way of wearing the hair by eye ("shaved", "short", "tied", "down"): how many photos'
    hairstyles wear it so, as "kept/labelled"; empty for a rig whose styles are not mapped."""
    from facefit.rig.human.controls import HAIR_LENGTH

    styles = {o for g in spec.discrete if g.name == HAIRSTYLE for o in g.options}
    if not styles or not styles <= set(HAIR_LENGTH):
        return {}
    labelled = [r for r in rows if "hair_length_by_eye" in r]
    return {
        kind: f"{sum(HAIR_LENGTH[r['discrete'][HAIRSTYLE]] == kind for r in of)}/{len(of)}"
        for kind in sorted({r["hair_length_by_eye"] for r in labelled})
        if (of := [r for r in labelled if r["hair_length_by_eye"] == kind])
    }


def eyes_kept(rows: list[dict], spec) -> dict[str, str]:
    """Per eye shade by eye ("dark", "light"): how many photos' characters have eyes of that
    shade (`colors.eye_shade`), as "kept/labelled"; hazel eyes, between the two, are not
    counted; empty for a rig other than rig 3."""
    from facefit.rig.human.colors import eye_shade
    from facefit.rig.human.spec import RIG_ID

    if spec.rig_id != RIG_ID:
        return {}
    labelled = [r for r in rows if r.get("eyes_by_eye") in ("dark", "light")]
    return {
        shade: f"{sum(eye_shade(r['continuous']['eye_color']) == shade for r in of)}/{len(of)}"
        for shade in ("dark", "light")
        if (of := [r for r in labelled if r["eyes_by_eye"] == shade])
    }


def _fit_summary(result) -> dict[str, Any]:
    keys = ("iterations", "stopped_early", "loss", "similarity", "real_render_loss")
    return {k: result.fit[k] for k in keys}


def _to_photo(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    from facefit.align import aligned_to_photo

    return aligned_to_photo(np.asarray(points, np.float64), transform)
