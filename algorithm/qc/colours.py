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
# the label task's patch probabilities 0 -> 1: viridis' dark purple -> blue -> teal -> green -> yellow
# (darkest low, brightest high, monotonic in lightness; none of the heatmap's red-orange)
PATCH_STOPS: tuple[tuple[float, Colour], ...] = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)
PATCH_ALPHA = 0.45  # an analysed patch's fill; its outline is drawn in its colour, opaque
DROPPED_PATCH: Colour = (150, 150, 150)  # tissue candidates the patch filters dropped: a grey outline
DROPPED_ALPHA = 0.25  # and a faint grey wash


def _ramp(values: ArrayLike, stops: tuple[tuple[float, Colour], ...]) -> NDArray[np.uint8]:
    """(n, 3) RGB for values in [0, 1] (clipped), linear between ``stops``."""
    s = np.clip(np.asarray(values, dtype=np.float64).reshape(-1), 0.0, 1.0)
    positions = [p for p, _ in stops]
    channels = [np.interp(s, positions, [c[i] for _, c in stops]) for i in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8).reshape(-1, 3)


def score_colours(scores: ArrayLike) -> NDArray[np.uint8]:
    """(n, 3) RGB for scores in [0, 1] (clipped), linear between the stops of :data:`SCORE_STOPS`."""
    return _ramp(scores, SCORE_STOPS)


def patch_colours(probabilities: ArrayLike) -> NDArray[np.uint8]:
    """(n, 3) RGB for patch probabilities in [0, 1] (clipped), linear between the stops of :data:`PATCH_STOPS`."""
    return _ramp(probabilities, PATCH_STOPS)


def patch_colour(probability: float) -> Colour:
    """One patch probability's colour (see :func:`patch_colours`)."""
    r, g, b = (int(v) for v in patch_colours([probability])[0])
    return (r, g, b)


def score_colour(score: float) -> Colour:
    """One score's colour (see :func:`score_colours`)."""
    r, g, b = (int(v) for v in score_colours([score])[0])
    return (r, g, b)
