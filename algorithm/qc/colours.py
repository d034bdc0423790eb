"""The QC picture's colours: fixed, so every slide's picture reads the same way (its legend shows them).

Chosen to stay apart on H&E (pink eosin, purple haematoxylin), on glass and under simulated red-green
colour blindness (deuteranopia, protanopia), which keeps only lightness and a blue-yellow axis: the
areas are one blue (nuclei) and one amber (heatmap); the lines are told apart by lightness and form
(the axis a white line cased in black, the tissue outline black, the heatmap's 0.5 contour orange);
the figures' rings run sky blue -> yellow, cased in black so they show on glass and on either stain.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Colour = tuple[int, int, int]

BLACK: Colour = (0, 0, 0)
WHITE: Colour = (255, 255, 255)
TISSUE_OUTLINE: Colour = (20, 20, 20)
AXIS_LINE: Colour = WHITE  # the major axis: a white core ...
AXIS_CASING: Colour = BLACK  # ... cased in black, with end ticks (a measurement, unlike any other layer)
# vivid blue, more saturated than marker-pen navy and haematoxylin; stays blue under red-green colour blindness
NUCLEI: Colour = (0, 40, 255)
NUCLEI_ALPHA = 0.55
# amber: the complement of eosin pink's blue-lavender under red-green colour blindness, and warmer than any stain
HEATMAP: Colour = (255, 190, 0)
HEATMAP_MAX_ALPHA = 0.7  # a probability of 1 covers the slide this much; 0 not at all
HEATMAP_CONTOUR: Colour = (215, 80, 0)  # the 0.5 contour (what the caption's tumour percentage counts)
RING_CASING: Colour = BLACK
# mitotic figures' scores from the threshold (0) to 1 (1): sky blue -> spring green -> yellow
SCORE_STOPS: tuple[tuple[float, Colour], ...] = ((0.0, (0, 170, 255)), (0.5, (0, 235, 150)), (1.0, (255, 235, 0)))
# the label task's patch probabilities 0 -> 1: viridis' dark purple -> blue -> teal -> green -> yellow
# (darkest low, brightest high, monotonic in lightness; none of the heatmap's amber)
PATCH_STOPS: tuple[tuple[float, Colour], ...] = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)
PATCH_ALPHA = 0.4  # an analysed patch's fill (each picture pixel once); its frame is opaque, in its exact colour
DROPPED_PATCH: Colour = (150, 150, 150)  # tissue candidates the patch filters dropped: a grey outline
DROPPED_ALPHA = 0.25  # and a faint grey wash
NOTICE_BOX: Colour = (255, 255, 255)  # the box behind notices and the scale bar (legible on tissue and glass)
NOTICE_ALPHA = 0.8


def _ramp(values: ArrayLike, stops: tuple[tuple[float, Colour], ...]) -> NDArray[np.uint8]:
    """(n, 3) RGB for values in [0, 1] (clipped), linear between ``stops``."""
    s = np.clip(np.asarray(values, dtype=np.float64).reshape(-1), 0.0, 1.0)
    positions = [p for p, _ in stops]
    channels = [np.interp(s, positions, [c[i] for _, c in stops]) for i in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8).reshape(-1, 3)


def score_colours(scores: ArrayLike, low: float = 0.0) -> NDArray[np.uint8]:
    """(n, 3) RGB for scores from ``low`` (the threshold: the lowest score drawn) to 1, linear between the stops
    of :data:`SCORE_STOPS` stretched over that range (a score below ``low`` gets the first stop's colour)."""
    s = np.asarray(scores, dtype=np.float64)
    span = max(1.0 - low, 1e-9)
    return _ramp((s - low) / span, SCORE_STOPS)


def patch_colours(probabilities: ArrayLike) -> NDArray[np.uint8]:
    """(n, 3) RGB for patch probabilities in [0, 1] (clipped), linear between the stops of :data:`PATCH_STOPS`."""
    return _ramp(probabilities, PATCH_STOPS)


def patch_colour(probability: float) -> Colour:
    """One patch probability's colour (see :func:`patch_colours`)."""
    r, g, b = (int(v) for v in patch_colours([probability])[0])
    return (r, g, b)


def score_colour(score: float, low: float = 0.0) -> Colour:
    """One score's colour (see :func:`score_colours`)."""
    r, g, b = (int(v) for v in score_colours([score], low)[0])
    return (r, g, b)
