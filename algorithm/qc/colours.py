"""The QC picture's colours: fixed, so every slide's picture reads the same way (its legend shows them)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Colour = tuple[int, int, int]

TISSUE_OUTLINE: Colour = (20, 20, 20)
AXIS_LINE: Colour = (255, 0, 255)
NUCLEI: Colour = (0, 40, 255)
HEATMAP: Colour = (255, 60, 0)
HEATMAP_MAX_ALPHA = 0.6  # a probability of 1 covers the slide this much; 0 not at all
NUCLEI_ALPHA = 0.45
# mitotic figures' scores 0 -> 1: sky blue -> green -> yellow (high green, saturated: stands out on H&E)
SCORE_STOPS: tuple[tuple[float, Colour], ...] = ((0.0, (0, 160, 255)), (0.5, (0, 255, 120)), (1.0, (255, 255, 0)))


def score_colours(scores: ArrayLike) -> NDArray[np.uint8]:
    """(n, 3) RGB for scores in [0, 1] (clipped), linear between the stops of :data:`SCORE_STOPS`."""
    s = np.clip(np.asarray(scores, dtype=np.float64).reshape(-1), 0.0, 1.0)
    positions = [p for p, _ in SCORE_STOPS]
    channels = [np.interp(s, positions, [c[i] for _, c in SCORE_STOPS]) for i in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8).reshape(-1, 3)


def score_colour(score: float) -> Colour:
    """One score's colour (see :func:`score_colours`)."""
    r, g, b = (int(v) for v in score_colours([score])[0])
    return (r, g, b)
