"""Whether fitted parameters recognise a person across expressions (smiling -> neutral).

`facefit eval photos` reports these scores; calibration chooses the iteration budget by them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def descriptor(params: dict[str, Any], fitter, shape_only: bool) -> np.ndarray:
    """The fitted parameters as a vector; `shape_only` drops colours and discrete choices."""
    vec = fitter.spec.encode(params)
    c = fitter.layout.continuous_size
    if not shape_only:
        return vec
    keep = [i for i, ctl in enumerate(fitter.spec.continuous) if is_shape_control(ctl)]
    return vec[:c][keep]


# Groups and name endings of the controls that paint rather than shape: rig 2.2's colours
# and hair; rig 3's skin, hair and facial hair, and its brows' colour and density.
APPEARANCE_GROUPS = ("colors", "hair", "skin", "facial_hair")
APPEARANCE_ENDINGS = ("_color", "_darkness", "_density")


def is_shape_control(control) -> bool:
    """Geometry, not colour: what should stay the same for a person across photos."""
    colour = control.group in APPEARANCE_GROUPS or control.name.endswith(APPEARANCE_ENDINGS)
    return not colour


def identity_scores(
    descriptors: dict[tuple[str, str], dict], fitter, shape_only: bool
) -> dict[str, Any] | None:
    """Smiling -> neutral retrieval (top-1, top-5) and same/different verification accuracy.

    Verification uses the cosine similarity of standardised descriptors; its threshold is
    chosen by leave-one-identity-out cross-validation, never on the pair being judged.
    """
    people = sorted({i for i, e in descriptors if e == "smiling" and (i, "neutral") in descriptors})
    if len(people) < 3:
        return None
    neutral = np.stack(
        [descriptor(descriptors[(p, "neutral")], fitter, shape_only) for p in people]
    )
    smiling = np.stack(
        [descriptor(descriptors[(p, "smiling")], fitter, shape_only) for p in people]
    )
    mu, sd = (
        np.concatenate([neutral, smiling]).mean(0),
        np.concatenate([neutral, smiling]).std(0) + 1e-6,
    )
    a = (neutral - mu) / sd
    b = (smiling - mu) / sd
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-9
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-9
    sim = b @ a.T  # (smiling, neutral)
    ranks = (-sim).argsort(1)
    truth = np.arange(len(people))
    top1 = float((ranks[:, 0] == truth).mean())
    top5 = float(np.mean([t in r[:5] for t, r in zip(truth, ranks, strict=True)]))
    return {"people": len(people), "top1": top1, "top5": top5, "verification": _verification(sim)}


def _verification(sim: np.ndarray) -> float:
    """Accuracy on all same (diagonal) and different pairs, balanced, threshold by CV."""
    n = sim.shape[0]
    correct = []
    for held in range(n):
        train = [i for i in range(n) if i != held]
        sub = sim[np.ix_(train, train)]
        same, diff = np.diag(sub), sub[~np.eye(len(train), dtype=bool)]
        candidates = np.unique(np.concatenate([same, diff]))
        accs = [((same >= t).mean() + (diff < t).mean()) / 2 for t in candidates]
        t = candidates[int(np.argmax(accs))]
        row = sim[held]
        same_ok = float(row[held] >= t)
        diff_ok = float((np.delete(row, held) < t).mean())
        correct.append((same_ok + diff_ok) / 2)
    return float(np.mean(correct))
