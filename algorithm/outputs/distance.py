"""Grand-challenge "Distance measurement" annotations: a line from start to end, in millimetres."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike


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
