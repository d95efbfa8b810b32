"""Rank a gallery of descriptors for each query: where does the query's own person come?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def target_ranks(queries: np.ndarray, gallery: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """(n,) int ranks, 1 = nearest: of gallery[targets[i]] among all of `gallery` for queries[i].

    queries (n, d) and gallery (m, d) float descriptors; Euclidean distance, as dlib's
    recogniser is trained for. A tie counts against the target (the honest rank).
    """
    assert queries.ndim == 2 and gallery.ndim == 2 and queries.shape[1] == gallery.shape[1]
    distances = np.linalg.norm(queries[:, None, :] - gallery[None, :, :], axis=2)
    own = distances[np.arange(len(queries)), np.asarray(targets)]
    return (distances <= own[:, None]).sum(axis=1)


def rank_summary(ranks: np.ndarray) -> dict[str, float]:
    """Top-1, top-5 and mean rank of the targets."""
    return {
        "top1": float(np.mean(ranks <= 1)),
        "top5": float(np.mean(ranks <= 5)),
        "mean_rank": float(np.mean(ranks)),
    }


def chance(gallery_size: int) -> dict[str, float]:
    """What a random guess scores on a gallery of this size."""
    return {
        "top1": 1 / gallery_size,
        "top5": min(5, gallery_size) / gallery_size,
        "mean_rank": (gallery_size + 1) / 2,
    }


def paired_change(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """Two runs' ranks of the same photos compared photo by photo.

    Top-1 over ~130 queries moves by 0.03 on noise alone; the mean change of log-rank, with its
    standard error, sees smaller real changes. Also how many photos ranked their person higher
    and lower, the median ranks and the mean reciprocal ranks.
    """
    a, b = np.asarray(before, float), np.asarray(after, float)
    change = np.log(b) - np.log(a)
    return {
        "photos": len(a),
        "median_rank": [float(np.median(a)), float(np.median(b))],
        "mean_log_rank_change": round(float(change.mean()), 3),
        "standard_error": round(float(change.std(ddof=1) / np.sqrt(len(change))), 3),
        "higher": int((b < a).sum()),
        "lower": int((b > a).sum()),
        "mean_reciprocal_rank": [round(float(np.mean(1 / a)), 3), round(float(np.mean(1 / b)), 3)],
    }
