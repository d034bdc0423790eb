"""Slide-level non-maximum suppression by distance between centres.

Overlapping tiles see the same cell twice; a box IoU is meaningless across
tiles of different crops, so duplicates are merged by centre distance, per
class, keeping the highest score (ties broken by input order: deterministic).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree


def distance_nms(points: NDArray[np.float64], scores: NDArray[np.float64], radius: float) -> NDArray[np.int64]:
    """Indices of the points kept, best first: each suppresses weaker points within ``radius``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(scores)), -scores))
    tree = cKDTree(points)
    suppressed = np.zeros(len(points), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed[tree.query_ball_point(points[i], r=radius)] = True
    return np.asarray(keep, dtype=np.int64)


def classwise_distance_nms(
    points: NDArray[np.float64], scores: NDArray[np.float64], labels: NDArray[np.int64], radius: float
) -> NDArray[np.int64]:
    """``distance_nms`` within each label; indices of the kept points, in input order."""
    labels = np.asarray(labels).reshape(-1)
    kept = [
        np.flatnonzero(labels == label)[distance_nms(points[labels == label], scores[labels == label], radius)]
        for label in np.unique(labels)
    ]
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
