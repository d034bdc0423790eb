"""Shares of area per patch from one low-resolution map: summed-area tables read at fractional corners.

Every filter is a share of a box's area (tissue, blood, haematoxylin-positive pixels), so thousands
of patches cost one cumulative sum per map and four look-ups per box. A patch rarely starts on a
map pixel's edge (296 um over 4 um pixels), so the table is read at the box's exact corners: the
integral of a map that is constant on each pixel is, between the table's lattice points, the
bilinear interpolation of the table. Shares are exact to fractions of a map pixel.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def summed_area_table(values: NDArray[np.generic]) -> NDArray[np.generic]:
    """``(H + 1, W + 1)`` table whose ``[y, x]`` is the sum of ``values[:y, :x]``.

    Boolean maps are counted in 32-bit integers (exact up to 2^31 pixels: any map here), numbers in float64.
    """
    dtype = np.int32 if values.dtype == np.bool_ else np.float64
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=dtype)
    np.cumsum(values, axis=0, dtype=dtype, out=table[1:, 1:])
    np.cumsum(table[1:, 1:], axis=1, dtype=dtype, out=table[1:, 1:])
    return table


def map_boxes(
    boxes: NDArray[np.float64], downsample: tuple[float, float], shape: tuple[int, int]
) -> NDArray[np.float64]:
    """Level-0 boxes ``(x, y, w, h)`` as map-pixel corners ``(x0, y0, x1, y1)``, clipped to the map.

    ``downsample`` is level-0 pixels per map pixel ``(x, y)``; ``shape`` the map's ``(rows, columns)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sx, sy = downsample
    h, w = shape
    x0 = np.clip(boxes[:, 0] / sx, 0.0, w)
    y0 = np.clip(boxes[:, 1] / sy, 0.0, h)
    x1 = np.clip((boxes[:, 0] + boxes[:, 2]) / sx, 0.0, w)
    y1 = np.clip((boxes[:, 1] + boxes[:, 3]) / sy, 0.0, h)
    return np.stack([x0, y0, x1, y1], axis=1)


def box_areas(corners: NDArray[np.float64]) -> NDArray[np.float64]:
    """Areas in map pixels of boxes given as corners ``(x0, y0, x1, y1)``."""
    return np.maximum(corners[:, 2] - corners[:, 0], 0.0) * np.maximum(corners[:, 3] - corners[:, 1], 0.0)


def box_sums(table: NDArray[np.generic], corners: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sums of the map behind ``table`` (:func:`summed_area_table`) over boxes given as map-pixel corners."""
    x0, y0, x1, y1 = (corners[:, i] for i in range(4))
    sums = _integral(table, x1, y1) - _integral(table, x0, y1) - _integral(table, x1, y0) + _integral(table, x0, y0)
    return np.maximum(sums, 0.0)  # rounding never makes a count negative


def box_shares(table: NDArray[np.generic], corners: NDArray[np.float64]) -> NDArray[np.float64]:
    """The mean of the map behind ``table`` over each box (0 for an empty box): a share of area for a mask."""
    areas = box_areas(corners)
    sums = box_sums(table, corners)
    return np.divide(sums, areas, out=np.zeros_like(sums), where=areas > 0)


def ratios(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> NDArray[np.float64]:
    """``numerator / denominator`` per box, in [0, 1], 0 where the denominator is empty (pixel counts)."""
    out = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 1e-9)
    return np.clip(out, 0.0, 1.0)


def _integral(table: NDArray[np.generic], x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """The integral of the map over ``[0, x) x [0, y)`` for real ``x, y`` inside it: the table read bilinearly."""
    rows, cols = table.shape[0] - 1, table.shape[1] - 1
    ix = np.minimum(np.floor(x).astype(np.int64), max(cols - 1, 0))
    iy = np.minimum(np.floor(y).astype(np.int64), max(rows - 1, 0))
    fx, fy = x - ix, y - iy
    t00 = table[iy, ix].astype(np.float64)
    t01 = table[iy, ix + 1].astype(np.float64)
    t10 = table[iy + 1, ix].astype(np.float64)
    t11 = table[iy + 1, ix + 1].astype(np.float64)
    return t00 * (1 - fx) * (1 - fy) + t01 * fx * (1 - fy) + t10 * (1 - fx) * fy + t11 * fx * fy
