"""Whole-slide probability heatmaps and how overlapping tiles are stitched into one.

A heatmap is a float32 image at a known resolution (``downsample`` level-0
pixels per heatmap pixel, so ``mpp`` microns per pixel) with the tissue mask on
the same grid. Tiles overlap, so the stitcher keeps a running weighted sum and
the sum of weights per heatmap pixel and divides at the end: overlaps do not
double-count, and memory is two heatmap-sized arrays whatever the number of
tiles. Without a taper every weight is 1 (a count map, a plain average). With
a taper of ``t`` pixels a tile's weight ramps linearly from its edges over
``t`` pixels: a segmenter sees least context at a tile's border, so where
tiles overlap by ``t`` the neighbour that sees a pixel near its centre
decides, blending linearly instead of leaving a seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import KitError

if TYPE_CHECKING:
    from algorithm.tiling.grid import Tile
    from algorithm.tissue.mask import TissueMask


@dataclass
class Heatmap:
    """Tumour probabilities over the slide at one resolution, with the tissue mask on the same grid."""

    probability: NDArray[np.float32]  # (H, W); 0 where no tile was analysed
    tissue: NDArray[np.bool_]  # (H, W)
    downsample: float  # level-0 pixels per heatmap pixel
    mpp: float  # microns per heatmap pixel

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the heatmap (and of its tissue mask)."""
        return self.probability.shape


def heatmap_shape(dimensions: tuple[int, int], downsample: float) -> tuple[int, int]:
    """(rows, columns) of a heatmap covering a level-0 ``(width, height)`` at ``downsample``."""
    return max(1, math.ceil(dimensions[1] / downsample)), max(1, math.ceil(dimensions[0] / downsample))


def mask_on_grid(
    mask: NDArray[np.bool_], mask_downsample: tuple[float, float], shape: tuple[int, int], downsample: float
) -> NDArray[np.bool_]:
    """A low-resolution mask (``mask_downsample`` level-0 px per pixel, x and y) sampled at the
    centres of a heatmap grid's pixels (nearest neighbour)."""
    rows = ((np.arange(shape[0]) + 0.5) * downsample / mask_downsample[1]).astype(np.int64)
    cols = ((np.arange(shape[1]) + 0.5) * downsample / mask_downsample[0]).astype(np.int64)
    return mask[np.ix_(rows.clip(0, mask.shape[0] - 1), cols.clip(0, mask.shape[1] - 1))]


def tissue_on_grid(tissue: TissueMask, shape: tuple[int, int], downsample: float) -> NDArray[np.bool_]:
    """A slide's tissue mask sampled on a heatmap's grid (see :func:`mask_on_grid`)."""
    return mask_on_grid(tissue.mask, tissue.downsample, shape, downsample)


def taper_window(size: tuple[int, int], taper: int) -> NDArray[np.float32]:
    """(h, w) weights: 1 inside, falling linearly over ``taper`` pixels to 1/(2 taper) at the edges."""

    def ramp(n: int) -> NDArray[np.float32]:
        i = np.arange(n, dtype=np.float32) + 0.5
        return np.clip(np.minimum(i, n - i) / max(taper, 1), 0.0, 1.0)

    w, h = size
    return np.outer(ramp(h), ramp(w)) if taper > 0 else np.ones((h, w), np.float32)


class HeatmapStitcher:
    """Accumulates tile probabilities (already at heatmap resolution) and averages overlaps."""

    def __init__(self, dimensions: tuple[int, int], downsample: float, taper: int = 0) -> None:
        self.downsample = float(downsample)
        self.taper = int(taper)
        self.shape = heatmap_shape(dimensions, self.downsample)
        self._sum = np.zeros(self.shape, dtype=np.float32)
        self._weight = np.zeros(self.shape, dtype=np.float32)
        self._windows: dict[tuple[int, int], NDArray[np.float32]] = {}

    def tile_size(self, tile: Tile) -> tuple[int, int]:
        """The size, in heatmap pixels (w, h), that ``tile``'s probabilities must have when added."""
        return (max(1, round(tile.extent[0] / self.downsample)), max(1, round(tile.extent[1] / self.downsample)))

    def add(self, tile: Tile, probability: NDArray[np.float32]) -> None:
        """Add one tile's probabilities (``tile_size(tile)`` pixels, any overlap), weighted by the taper."""
        h, w = probability.shape
        if (w, h) != self.tile_size(tile):
            raise KitError(
                f"tile probabilities of {w}x{h} px, expected {self.tile_size(tile)} at this heatmap's resolution"
            )
        x0, y0 = round(tile.x / self.downsample), round(tile.y / self.downsample)
        x1, y1 = min(x0 + w, self.shape[1]), min(y0 + h, self.shape[0])  # edge tiles may pass the slide's edge
        if x1 <= x0 or y1 <= y0:
            return
        if (w, h) not in self._windows:
            self._windows[(w, h)] = taper_window((w, h), self.taper)
        weight = self._windows[(w, h)][: y1 - y0, : x1 - x0]
        self._sum[y0:y1, x0:x1] += probability[: y1 - y0, : x1 - x0] * weight
        self._weight[y0:y1, x0:x1] += weight

    def result(self, tissue: NDArray[np.bool_], mpp: float) -> Heatmap:
        """The weighted average of what was added (0 where no tile was), with ``tissue`` on the same grid."""
        probability = np.zeros(self.shape, dtype=np.float32)
        covered = self._weight > 0
        probability[covered] = np.clip(self._sum[covered] / self._weight[covered], 0.0, 1.0)
        return Heatmap(probability=probability, tissue=tissue, downsample=self.downsample, mpp=mpp)
