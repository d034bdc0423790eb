"""Pixel <-> physical unit conversion: the only place it happens.

Grand-challenge outputs are in millimetres; slides are read in level-0 pixels;
MIDOG's matching radius and tumour axes are in micrometres. ``mpp`` is always
``(microns per pixel in x, in y)`` at level 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

MPP = tuple[float, float]


def pixels_to_mm(points_px: ArrayLike, mpp: MPP) -> NDArray[np.float64]:
    """Level-0 pixel coordinates ``(..., 2)`` as ``(x, y)`` -> millimetres."""
    pts = np.asarray(points_px, dtype=np.float64)
    return pts * (np.asarray(mpp, dtype=np.float64) / 1000.0)


def mm_to_pixels(points_mm: ArrayLike, mpp: MPP) -> NDArray[np.float64]:
    """Millimetre coordinates ``(..., 2)`` -> level-0 pixels."""
    pts = np.asarray(points_mm, dtype=np.float64)
    return pts / (np.asarray(mpp, dtype=np.float64) / 1000.0)


def um_to_pixels(length_um: float, mpp: MPP) -> float:
    """A length in micrometres -> level-0 pixels (mean of the two axes' scales)."""
    return float(length_um) / float(np.mean(mpp))


def pixels_to_um(length_px: float, mpp: MPP) -> float:
    """A length in level-0 pixels -> micrometres (mean of the two axes' scales)."""
    return float(length_px) * float(np.mean(mpp))


def area_um2_to_pixels(area_um2: float, mpp: MPP) -> float:
    """An area in square micrometres -> level-0 pixels (exact for non-square pixels)."""
    return float(area_um2) / (float(mpp[0]) * float(mpp[1]))


def downsample_for(mpp: float, slide_mpp: MPP) -> float:
    """Level-0 pixels per pixel read at ``mpp`` microns per pixel (mean of the two axes' scales)."""
    return float(mpp) / float(np.mean(slide_mpp))


def mpp_at(downsample: float, slide_mpp: MPP) -> float:
    """Microns per pixel of pixels ``downsample`` level-0 pixels wide (mean of the two axes)."""
    return float(downsample) * float(np.mean(slide_mpp))
