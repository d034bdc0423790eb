"""Tile grids over tissue and reading their pixels."""

from algorithm.tiling.grid import Tile, TileGrid, tile_grid, tissue_grid
from algorithm.tiling.read import read_resampled, read_tile
from algorithm.tiling.stream import TileBatch, stream_batches

__all__ = ["Tile", "TileGrid", "tile_grid", "tissue_grid", "read_tile", "read_resampled", "TileBatch", "stream_batches"]
