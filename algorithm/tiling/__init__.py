"""Tile grids over tissue and reading their pixels at a resolution."""

from algorithm.tiling.grid import Tile, TileGrid, tile_grid, tissue_grid
from algorithm.tiling.read import read_tile

__all__ = ["Tile", "TileGrid", "tile_grid", "tissue_grid", "read_tile"]
