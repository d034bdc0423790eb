"""Grand-challenge "Multiple points" annotations.

MIDOG's evaluation reads each point's ``name``: "mitotic figure" counts as a
detection; "non-mitotic figure" is a candidate below the decision threshold,
kept so average precision and FROC can use the whole ranking.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

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
