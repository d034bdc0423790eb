"""Grand-challenge annotation values, as the platform stores them and the evaluation reads them.

"Multiple points": MIDOG's evaluation reads each point's ``name``: "mitotic
figure" counts as a detection; "non-mitotic figure" is a candidate below the
decision threshold, kept so average precision and FROC can use the whole
ranking. "Distance measurement": a line from start to end, in millimetres.
Writing them to a job's output folder is :mod:`algorithm.interface.outputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

ABOVE = "mitotic figure"
BELOW = "non-mitotic figure"


def multiple_points(
    points_mm: NDArray[np.float64],
    scores: NDArray[np.float64],
    threshold: float,
    name: str = "Regions of interest",
) -> dict[str, Any]:
    """The annotation for one slide's candidates of one class, points as ``[x_mm, y_mm, 0]``."""
    points = [
        {
            "name": ABOVE if score >= threshold else BELOW,
            "point": [float(x), float(y), 0.0],
            "probability": float(score),
        }
        for (x, y), score in zip(np.asarray(points_mm).reshape(-1, 2), np.asarray(scores).reshape(-1), strict=True)
    ]
    return {"name": name, "type": "Multiple points", "points": points, "version": {"major": 1, "minor": 0}}


def distance_measurement(start_mm: ArrayLike, end_mm: ArrayLike, name: str = "Tumour major axis") -> dict[str, Any]:
    """The annotation of one line from ``start_mm`` to ``end_mm`` (``(x, y)`` each), on the slide's plane (z 0)."""
    start, end = (np.asarray(p, dtype=np.float64).reshape(2) for p in (start_mm, end_mm))
    return {
        "name": name,
        "type": "Distance measurement",
        "start": [float(start[0]), float(start[1]), 0.0],
        "end": [float(end[0]), float(end[1]), 0.0],
        "version": {"major": 1, "minor": 0},
    }
