"""A heatmap's probabilities on another grid of the same slide: bilinear, pixel centres aligned, in strips.

Both grids start at the slide's top-left corner; pixel ``j`` of a grid of
``d`` level-0 pixels per pixel covers level-0 ``[j d, (j + 1) d)``, its centre
at ``(j + 0.5) d``. Output pixel ``j`` (downsample ``D``) therefore samples the
heatmap (downsample ``s``) at ``u = (j + 0.5) D / s - 0.5`` in heatmap pixels,
clamped to the first and last pixel centres and interpolated linearly between
the two neighbours, along each axis: exactly what
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`` does
with a scale factor of ``s / D``. Written out here because the output is made
in strips of rows (a 64-megapixel grid would take a 256 MB float map at once)
and the heatmap's size is rounded up, so neither the sizes nor a strip's
offset give ``interpolate`` the exact scale.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from algorithm.segmentation.heatmap import Heatmap

STRIP_ROWS = 1024  # output rows resampled at a time


def source_positions(
    n_out: int, out_downsample: float, in_downsample: float, n_in: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """For each output pixel along one axis: the two input pixels it lies between and the second's weight."""
    u = (np.arange(n_out, dtype=np.float64) + 0.5) * (out_downsample / in_downsample) - 0.5
    u = np.clip(u, 0.0, n_in - 1)
    first = np.minimum(np.floor(u).astype(np.int64), n_in - 1)
    second = np.minimum(first + 1, n_in - 1)
    return first, second, (u - first).astype(np.float32)


def probability_strips(
    heatmap: Heatmap, downsample: float, shape: tuple[int, int], strip_rows: int = STRIP_ROWS
) -> Iterator[tuple[int, NDArray[np.float32]]]:
    """``(first row, probabilities)`` strips of the heatmap resampled to ``shape`` (rows, columns) at
    ``downsample`` level-0 pixels per pixel, top to bottom."""
    p = heatmap.probability
    rows0, rows1, wy = source_positions(shape[0], downsample, heatmap.downsample, p.shape[0])
    cols0, cols1, wx = source_positions(shape[1], downsample, heatmap.downsample, p.shape[1])
    for r in range(0, shape[0], max(1, strip_rows)):
        s = slice(r, min(r + strip_rows, shape[0]))
        w = wy[s, None]
        rows = p[rows0[s]] * (1 - w) + p[rows1[s]] * w  # (strip, heatmap columns)
        yield r, (rows[:, cols0] * (1 - wx) + rows[:, cols1] * wx).astype(np.float32, copy=False)


def probability_on_grid(heatmap: Heatmap, downsample: float, shape: tuple[int, int]) -> NDArray[np.float32]:
    """The heatmap resampled to ``shape`` at ``downsample`` level-0 pixels per pixel, whole (see the module)."""
    out = np.empty(shape, dtype=np.float32)
    for r, strip in probability_strips(heatmap, downsample, shape):
        out[r : r + len(strip)] = strip
    return out


def threshold_on_grid(
    heatmap: Heatmap, downsample: float, shape: tuple[int, int], threshold: float, strip_rows: int = STRIP_ROWS
) -> NDArray[np.uint8]:
    """uint8 0/1: the resampled probabilities ``>= threshold``, made strip by strip (no full float map)."""
    mask = np.zeros(shape, dtype=np.uint8)
    for r, strip in probability_strips(heatmap, downsample, shape, strip_rows):
        mask[r : r + len(strip)] = strip >= threshold
    return mask
