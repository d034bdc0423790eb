"""Stain normalisation for one slide, as a model was trained to see it.

A model's checkpoint carries the stain target it was trained with
(a :class:`~algorithm.stain.spec.StainSpec`, read with the checkpoint). Per
slide, the source is fitted once from tissue tiles read at the grid's level,
and every batch is then mapped with the fixed matrices. A slide too poor in
tissue to fit is left as it is, with a warning: the model still runs.

On the CPU the fixed map is memoised per colour (``MemoTable``: each colour
computed when first seen, gathered after); on a GPU the tile engine computes
it directly on the device.
"""

from __future__ import annotations

import sys

from algorithm.slide.base import SlideReader
from algorithm.stain import StainFitError, fit_to_slide
from algorithm.stain.base import Normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tissue import TissueMask


def slide_normaliser(
    spec: StainSpec | None,
    slide: SlideReader,
    mask: TissueMask,
    level: int,
    seed: int = 0,
    pixels: int | None = None,
) -> Normaliser | None:
    """The normaliser for ``slide``, its source fitted on tiles read at ``level`` (the level the model
    reads): call it on uint8 tiles, or let the tile engine run its map on the model's device. None when
    the model wants no normalisation, the slide cannot be fitted, or there is nothing to normalise
    (``pixels``, how many it would see, is 0)."""
    if spec is None or pixels == 0:
        return None
    normaliser = spec.normaliser()
    try:
        fit_to_slide(normaliser, slide, mask, seed=seed, level=level)
    except StainFitError as exc:
        print(f"warning: stain normalisation skipped: {exc}", file=sys.stderr)
        return None
    return normaliser
