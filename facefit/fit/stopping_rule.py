"""Measure the search's stopping rule on the shared photos, for `facefit calibrate`.

1. `loss_scale`: the median loss of the average face (the patent's start) over the training
   identities, divided by ln 2, so that the average face scores similarity 0.5 on a typical
   photo and a perfect match 1.
2. `max_iters`, among candidate budgets: each fits the London photos of the training folds'
   people (no early stop), and the budget that recognises them best across expressions
   (smiling -> neutral top-1 plus verification on the shape controls) is kept among those
   whose landmark NME ratio meets `NME_RATIO_TARGET`; on a tie, the smaller one.
3. `threshold`: every photo is fitted for `max_iters` iterations and its loss history kept.
   A photo would have stopped at the first iteration whose similarity passes a candidate
   threshold; the cost is that iteration's loss over the final one. The lowest threshold
   whose mean loss excess stays under the tolerance on the training folds' photos and on
   random rig renders is chosen; its effect is reported on the held-out fold.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from facefit.errors import FacefitError

HOLDOUT = 0  # the identity fold no choice is made on
NME_RATIO_TARGET = 0.9  # the fit's landmark error over the average face's: its target
THRESHOLDS = np.round(np.arange(0.50, 0.996, 0.005), 3)  # the candidate thresholds
Progress = Callable[[str], Callable[[list], list]]  # label -> an iterable wrapper


def histories(fitter, records, mode: str, max_iters: int) -> list[list[float]]:
    """Loss per iteration of each photo fitted without early stopping."""
    out = []
    for record in records:
        try:
            result = fitter.fit_photo(
                record.image.read_bytes(), mode=mode, threshold=1.0, max_iters=max_iters
            )
        except FacefitError:
            continue
        out.append([loss for _, loss, _ in result.loss_curve])
    return out


def rig_histories(fitter, n: int, mode: str, max_iters: int, seed: int) -> list[list[float]]:
    """Loss per iteration of `n` random rig renders (exact landmarks), no early stopping."""
    from facefit.fit.evaluate import synthetic_face
    from facefit.rig.choice import make_renderer

    renderer = make_renderer(fitter.aligned_size)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        render = renderer.render(fitter.spec.random_vector(rng))
        (result,) = fitter.fit_aligned(
            [(render.image, synthetic_face(render))], mode=mode, threshold=1.0, max_iters=max_iters
        )
        out.append([loss for _, loss, _ in result.loss_curve])
    return out


def excess_at(threshold: float, runs: list[list[float]], scale: float) -> tuple[float, float]:
    """(mean relative loss excess, mean iterations) if the search stopped at `threshold`."""
    excess, iters = [], []
    for losses in runs:
        stop = next(
            (i for i, loss in enumerate(losses) if math.exp(-loss / scale) >= threshold),
            len(losses) - 1,
        )
        excess.append(losses[stop] / min(losses) - 1.0)
        iters.append(stop)
    return float(np.mean(excess)), float(np.mean(iters))


def earliest(runs: list[list[float]], scale: float, tolerance: float) -> float:
    """The lowest candidate threshold whose mean loss excess over `runs` is within tolerance."""
    ok = [t for t in THRESHOLDS if excess_at(t, runs, scale)[0] <= tolerance]
    return float(min(ok)) if ok else float(THRESHOLDS[-1])


def identity_by_budget(fitter, records, mode: str, budgets: list[int]) -> dict[int, dict]:
    """Shape-control identity scores of the training folds' people for each budget."""
    from facefit.fit.evaluate import evaluate_photos

    scores = {}
    for budget in budgets:
        summary = evaluate_photos(fitter, records, mode=mode, threshold=1.0, max_iters=budget)
        found = summary["training_folds"]["identity"]["shape_controls"]
        scores[budget] = {
            "top1": round(found["top1"], 4),
            "verification": round(found["verification"], 4),
            "nme_ratio": round(summary["training_folds"]["nme_ratio_fit_to_reference"], 4),
        }
    return scores


def best_budget(by_budget: dict[int, dict]) -> int:
    """Best top-1 + verification among the budgets whose landmarks meet their target (fewer
    updates recognise people as well but leave the landmarks near the start's); ties go to
    the smaller budget."""
    within = [n for n in sorted(by_budget) if by_budget[n]["nme_ratio"] <= NME_RATIO_TARGET]
    return max(
        within or sorted(by_budget),
        key=lambda n: by_budget[n]["top1"] + by_budget[n]["verification"],
    )


def measure(
    fitter, mode: str, budgets: list[int], tolerance: float, rig_faces: int
) -> tuple[dict, dict]:
    """(the stopping rule: max_iters, threshold, loss_scale; how it was measured)."""
    from facefit.data.faces import fold_identities, read_manifest

    manifest = read_manifest()
    records = [r for r in manifest if r.set in ("london", "canada") and r.expression == "neutral"]
    fold_of = {p: k for k in range(5) for p in fold_identities(k)}
    folds = [[r for r in records if fold_of.get(r.identity) == k] for k in range(5)]
    train_records = [r for k, f in enumerate(folds) if k != HOLDOUT for r in f]
    scale = float(np.median([h[0] for h in histories(fitter, train_records, "patent", 0)]))
    scale /= math.log(2)
    held = fold_identities(HOLDOUT)
    pairs = [r for r in manifest if r.set == "london" and r.identity not in held]
    by_budget = identity_by_budget(fitter, pairs, mode, budgets)
    max_iters = best_budget(by_budget)
    runs = {k: histories(fitter, f, mode, max_iters) for k, f in enumerate(folds)}
    pooled = [h for k in runs if k != HOLDOUT for h in runs[k]]
    # seed 11: not `facefit eval synthetic`'s faces (seed 7)
    rig = rig_histories(fitter, rig_faces, mode, max_iters, seed=11)
    photo_threshold = earliest(pooled, scale, tolerance)
    rig_threshold = earliest(rig, scale, tolerance) if rig else None
    threshold = round(max(photo_threshold, rig_threshold or 0.0), 4)
    train_excess, train_iters = excess_at(threshold, pooled, scale)
    held_excess, held_iters = excess_at(threshold, runs[HOLDOUT], scale)
    measured = {
        "mode": mode,
        "tolerance": tolerance,
        "per_fold_threshold": [earliest(runs[k], scale, tolerance) for k in runs if k != HOLDOUT],
        "photo_threshold": round(photo_threshold, 4),
        "training_folds": {
            "photos": len(pooled),
            "mean_loss_excess": round(train_excess, 4),
            "mean_iterations": round(train_iters, 2),
        },
        "rig_faces": {"faces": len(rig), "threshold": rig_threshold},
        "identity_by_max_iters": {str(n): v for n, v in by_budget.items()},
        "heldout_fold": {
            "photos": len(runs[HOLDOUT]),
            "mean_loss_excess": round(held_excess, 4),
            "mean_iterations": round(held_iters, 2),
        },
    }
    rule = {"max_iters": max_iters, "threshold": threshold, "loss_scale": round(scale, 4)}
    return rule, measured
