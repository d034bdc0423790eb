"""Tile grids over tissue: where the models look.

A grid is laid at an analysis resolution (a pyramid level, or a target microns
per pixel that the reader resamples to), in overlapping tiles of a fixed size.
Tiles are in row-major order and keep their level-0 origin and extent, so every
detection can be mapped back to the slide exactly. Tiles with too little tissue
are dropped; a slide without tissue gives an empty grid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from algorithm.errors import ConfigError
from algorithm.slide.base import SlideReader
from algorithm.tissue.mask import TissueMask, tissue_mask


@dataclass(frozen=True)
class Tile:
    """One tile: read ``extent`` level-0 pixels at ``(x, y)``, deliver ``size`` pixels."""

    index: int  # position in the full (unfiltered) row-major grid
    x: int
    y: int
    extent: tuple[int, int]  # level-0 pixels covered, (w, h)
    size: tuple[int, int]  # pixels delivered, (w, h)
    tissue: float  # tissue fraction of the tile's part inside the image, 0..1

    @property
    def scale(self) -> float:
        """Level-0 pixels per delivered pixel."""
        return self.extent[0] / self.size[0]


@dataclass(frozen=True)
class TileGrid:
    """The tiles a model sees, in row-major order, and how they were laid."""

    tiles: tuple[Tile, ...]
    tile_size: int
    overlap: int
    scale: float  # level-0 pixels per tile pixel
    level: int  # pyramid level read from (then resampled by ``scale / downsample``)
    candidates: int  # tiles in the full grid before the tissue filter

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def pixels(self) -> int:
        """Pixels delivered for the whole grid (what a per-pixel transform will process)."""
        return sum(t.size[0] * t.size[1] for t in self.tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)


def _starts(length: int, tile: int, stride: int, centred: bool = False) -> list[int]:
    """Tile origins along one axis: regular steps, the last one flush with the edge. An axis shorter than a
    tile gets one tile, from 0, or ``centred`` on it (starting before 0)."""
    if length <= tile:
        return [-((tile - length) // 2) if centred else 0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def tile_grid(
    slide: SlideReader,
    tile_size: int = 512,
    overlap: int = 64,
    *,
    level: int | None = None,
    mpp: float | None = None,
    mask: TissueMask | None = None,
    min_tissue: float = 0.05,
    centred: bool = False,
) -> TileGrid:
    """Lay a grid at ``level`` or at ``mpp`` microns per pixel (default level 0).

    ``overlap`` is in tile pixels. With a mask, tiles whose tissue fraction is
    below ``min_tissue`` are left out. ``centred``: an image smaller than a
    tile (e.g. a 32 um crop) lies in the middle of its one tile, glass all
    round, instead of in its top-left corner, where a detector sees the cells
    at the tile's border with half their context missing; its origin is then
    negative.
    """
    if tile_size <= 0 or not 0 <= overlap < tile_size:
        raise ConfigError(f"tile size {tile_size} with overlap {overlap}: need 0 <= overlap < size")
    if level is not None and mpp is not None:
        raise ConfigError("give a tile grid either a level or a resolution (mpp), not both")
    if mpp is not None:
        scale = slide.downsample_for(mpp)
    else:
        level = level or 0
        if not 0 <= level < slide.level_count:
            raise ConfigError(f"{slide.path}: level {level} does not exist ({slide.level_count} levels)")
        scale = slide.level_downsamples[level]
    read_level = slide.best_level_for_downsample(scale)
    w0, h0 = slide.dimensions
    # grid in delivered pixels, mapped to level 0 by ``scale``
    width, height = max(1, math.ceil(w0 / scale)), max(1, math.ceil(h0 / scale))
    stride = tile_size - overlap
    xs, ys = _starts(width, tile_size, stride, centred), _starts(height, tile_size, stride, centred)
    extent = int(round(tile_size * scale))
    origins = [(int(round(x * scale)), int(round(y * scale))) for y in ys for x in xs]
    if mask is not None and origins:
        # tissue over the tile's part inside the image: tiles lie flush with the edges, so only an image
        # smaller than one tile has a tile past its edge, and there glass that is not the image's is no reason
        # to leave its tissue out
        boxes = np.array([_inside(x, y, extent, w0, h0) for x, y in origins], dtype=np.float64)
        fractions = mask.box_fractions(boxes)
    else:
        fractions = np.ones(len(origins))
    tiles = tuple(
        Tile(index=i, x=x, y=y, extent=(extent, extent), size=(tile_size, tile_size), tissue=float(f))
        for i, ((x, y), f) in enumerate(zip(origins, fractions, strict=True))
        if mask is None or f >= min_tissue
    )
    return TileGrid(
        tiles=tiles, tile_size=tile_size, overlap=overlap, scale=scale, level=read_level, candidates=len(origins)
    )


def _inside(x: int, y: int, extent: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The part of the square tile at ``(x, y)`` inside a ``width`` x ``height`` image, as (x, y, w, h)."""
    x0, y0 = max(x, 0), max(y, 0)
    return x0, y0, max(1, min(x + extent, width) - x0), max(1, min(y + extent, height) - y0)


def tissue_grid(
    slide: SlideReader,
    tile_size: int,
    mpp: float,
    overlap: int,
    mask: TissueMask | None = None,
    min_tissue: float = 0.05,
    centred: bool = False,
) -> TileGrid:
    """A model's grid: ``tile_size`` tiles at ``mpp``, only where there is tissue (mask made if not given);
    ``centred``: see :func:`tile_grid`."""
    mask = tissue_mask(slide) if mask is None else mask
    return tile_grid(slide, tile_size, overlap, mpp=mpp, mask=mask, min_tissue=min_tissue, centred=centred)
