"""Marker pen: green and blue ink that pathologists draw on the glass, which Otsu calls tissue.

Both stains of H&E absorb green light more than red (haematoxylin a little
more, eosin far more), so stained tissue is never greener than it is red.
Green and blue marker ink absorb red most: where a pixel is clearly greener
than red, or blue with red its weakest channel, it is ink (alone or over
tissue, which is then not analysable either). Scanners' colour fringes at
tissue edges are cyan too, but thin: the candidates are opened by a disk of
``min_width_um`` and what remains must cover ``min_area_um2``, then widened by
the same disk to take the stroke's soft edges. Red ink is left alone: it looks
like blood (see :mod:`algorithm.tissue.blood`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage import morphology

GREEN_EXCESS = 12  # green over red, grey levels: H&E has green below red
BLUE_EXCESS = 60  # blue over red, with green at least red: blue ink
MAX_BRIGHTNESS = 235  # a pixel whose weakest channel is above this (glass-balanced) is glass


def pen_candidates(rgb: NDArray[np.uint8], glass: NDArray[np.float64] | None = None) -> NDArray[np.bool_]:
    """Pixels coloured like green or blue ink, before the shape checks of :func:`pen_mask`; ``glass``: the
    slide's glass colour, which the colours are taken relative to (a scanner's tint is not ink)."""
    pixels = rgb.astype(np.float32)
    if glass is not None:
        pixels *= (255.0 / np.maximum(np.asarray(glass, np.float32), 1.0)).reshape(1, 1, 3)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    inked = pixels.min(axis=-1) < MAX_BRIGHTNESS
    return inked & ((g - r > GREEN_EXCESS) | ((b - r > BLUE_EXCESS) & (g >= r)))


def pen_mask(
    rgb: NDArray[np.uint8],
    pixel_um: float,
    glass: NDArray[np.float64] | None = None,
    min_width_um: float = 20.0,
    min_area_um2: float = 10_000.0,
) -> NDArray[np.bool_]:
    """Where ``rgb`` (a slide's low-resolution view, ``pixel_um`` microns a pixel, its glass ``glass``) is
    covered by marker ink: ink-coloured regions at least ``min_width_um`` wide and ``min_area_um2`` in area,
    widened by that width."""
    candidates = pen_candidates(rgb, glass)
    if not candidates.any():
        return candidates
    radius = max(1.0, min_width_um / 2 / pixel_um)
    strokes = _widened(ndimage.distance_transform_edt(candidates) > radius, radius)  # opened by a disk
    min_pixels = max(1, int(round(min_area_um2 / pixel_um**2)))
    strokes = morphology.remove_small_objects(strokes, max_size=min_pixels - 1)
    return _widened(strokes, radius) if strokes.any() else strokes


def _widened(mask: NDArray[np.bool_], radius: float) -> NDArray[np.bool_]:
    """``mask`` dilated by a disk of ``radius`` pixels (a distance transform: any radius at one pass's cost)."""
    if not mask.any():
        return mask
    return np.asarray(ndimage.distance_transform_edt(~mask) <= radius)
