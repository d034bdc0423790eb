"""Reading a tile's pixels at the grid's resolution."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from algorithm.slide.base import SlideReader
from algorithm.tiling.grid import Tile, TileGrid


def read_tile(slide: SlideReader, grid: TileGrid, tile: Tile) -> NDArray[np.uint8]:
    """Read ``tile`` from the grid's pyramid level and resample it to the tile size if needed."""
    level = grid.level
    ds = slide.level_downsamples[level]
    region = (max(1, math.ceil(tile.extent[0] / ds)), max(1, math.ceil(tile.extent[1] / ds)))
    pixels = slide.read_region((tile.x, tile.y), level, region)
    if region == tile.size:
        return pixels
    # the level is finer than the grid (or slightly off): area-average to the tile size
    box = (0.0, 0.0, tile.extent[0] / ds, tile.extent[1] / ds)
    resample = Image.Resampling.BOX if region[0] > tile.size[0] else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(pixels).resize(tile.size, resample, box=box))
