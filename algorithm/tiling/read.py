"""Reading pixels at an analysis resolution: a pyramid level plus resampling."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from algorithm.slide.base import SlideReader
from algorithm.tiling.grid import Tile, TileGrid


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
    region = (max(1, math.ceil(extent[0] / ds)), max(1, math.ceil(extent[1] / ds)))
    pixels = slide.read_region((x, y), level, region)
    if region == tuple(size):
        return pixels
    box = (0.0, 0.0, extent[0] / ds, extent[1] / ds)
    resample = Image.Resampling.BOX if region[0] > size[0] else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(pixels).resize(tuple(size), resample, box=box))


def read_tile(slide: SlideReader, grid: TileGrid, tile: Tile) -> NDArray[np.uint8]:
    """A grid tile's pixels at the grid's resolution."""
    return read_resampled(slide, tile.x, tile.y, tile.extent, tile.size, level=grid.level)
