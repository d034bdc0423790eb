"""Reading pixels at an analysis resolution: a pyramid level plus resampling."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from algorithm.slide.base import SlideReader
from algorithm.tiling.grid import Tile, TileGrid


def region_size(extent: tuple[int, int], downsample: float) -> tuple[int, int]:
    """Pixels of a level with ``downsample`` that cover ``extent`` level-0 pixels."""
    return max(1, math.ceil(extent[0] / downsample)), max(1, math.ceil(extent[1] / downsample))


def resample(
    pixels: NDArray[np.uint8], extent: tuple[int, int], downsample: float, size: tuple[int, int]
) -> NDArray[np.uint8]:
    """A region read at a level (``downsample``) delivered as ``size`` pixels covering exactly ``extent``.

    Area-averages when shrinking, interpolates when enlarging (Pillow, which releases the GIL).
    (Pillow's ``reduce`` would be 4x faster for whole factors but rounds once instead of once per
    pass: one level off on a third of the pixels, enough to move candidates near the threshold.)
    """
    if pixels.shape[1::-1] == tuple(size):
        return pixels
    box = (0.0, 0.0, extent[0] / downsample, extent[1] / downsample)
    method = Image.Resampling.BOX if pixels.shape[1] > size[0] else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(pixels).resize(tuple(size), method, box=box))


def read_resampled(
    slide: SlideReader, x: int, y: int, extent: tuple[int, int], size: tuple[int, int], level: int | None = None
) -> NDArray[np.uint8]:
    """Read ``extent`` level-0 pixels at ``(x, y)`` delivered as ``size`` pixels.

    Reads the coarsest level that is still at least as fine as needed, then
    area-averages (or, if the level is coarser, interpolates) to ``size``.
    """
    if level is None:
        level = slide.best_level_for_downsample(extent[0] / size[0])
    ds = slide.level_downsamples[level]
    pixels = slide.read_region((x, y), level, region_size(extent, ds))
    return resample(pixels, extent, ds, size)


def read_tile(slide: SlideReader, grid: TileGrid, tile: Tile) -> NDArray[np.uint8]:
    """A grid tile's pixels at the grid's resolution."""
    return read_resampled(slide, tile.x, tile.y, tile.extent, tile.size, level=grid.level)
