"""A grid tile's pixels: the slide read at the grid's level, resampled to the tile's size."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from algorithm.slide.base import SlideReader
from algorithm.tiling.grid import Tile, TileGrid


def read_tile(slide: SlideReader, grid: TileGrid, tile: Tile) -> NDArray[np.uint8]:
    """A grid tile's pixels at the grid's resolution."""
    return slide.read_extent((tile.x, tile.y), tile.extent, tile.size, level=grid.level)
