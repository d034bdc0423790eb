"""Stain normalisation for one slide, as a model was trained to see it.

A model's checkpoint carries the stain target it was trained with
(``{"method", "target", "slide_target"}`` from ``Normaliser.params()``). Per
slide, the source is fitted once from tissue tiles read at the grid's level,
and every batch is then mapped with the fixed matrices. A slide too poor in
tissue to fit is left as it is, with a warning: the model still runs.

On the CPU the fixed map is a 256^3 lookup table by default, which costs one
evaluation per colour (2^24) to build: a slide whose tiles hold fewer pixels
than that is mapped directly instead (same map, no table).
"""

from __future__ import annotations

import sys
from typing import Any

from algorithm.slide.base import SlideReader
from algorithm.stain import StainFitError, fit_to_slide, get_normaliser
from algorithm.stain.base import Normaliser
from algorithm.tiling.stream import BatchTransform
from algorithm.tissue import TissueMask

LUT_BREAK_EVEN_PIXELS = 1 << 24  # the table evaluates the map once per 24-bit colour


def normaliser_from_spec(spec: dict[str, Any]) -> Normaliser:
    """A normaliser with the saved target of ``spec`` (its source still to fit)."""
    return get_normaliser(spec["method"], **spec.get("options", {})).load_target(spec)


def slide_normaliser(
    spec: dict[str, Any] | None, slide: SlideReader, mask: TissueMask, level: int, seed: int = 0,
    pixels: int | None = None,
) -> BatchTransform | None:
    """The batch transform for ``slide`` (fitted on tiles read at ``level``, the level the model reads),
    or None when the model wants no normalisation, the slide cannot be fitted, or there is nothing to
    normalise. ``pixels``: how many the transform will see, if known (0: none; few: no lookup table)."""
    if not spec or pixels == 0:
        return None
    normaliser = normaliser_from_spec(spec)
    if pixels is not None and pixels < LUT_BREAK_EVEN_PIXELS and normaliser.use_lut is None:
        normaliser.use_lut = False
    try:
        fit_to_slide(normaliser, slide, mask, seed=seed, level=level)
    except StainFitError as exc:
        print(f"warning: stain normalisation skipped: {exc}", file=sys.stderr)
        return None
    return normaliser.transform
